// The services' rich errors, decoded: field violations (google.rpc.BadRequest) go next to the
// fields they name, ErrorInfo reasons choose a message, RetryInfo says when to ask again, and
// transport failures are told apart from answers (a registration is retried only when no
// answer came).
//
// The details arrive as protobuf messages (`grpc-status-details-bin`); decoding them needs the
// generated descriptors, which this module does not import, so that a page can show its first
// screen before the protobuf code is loaded (the volunteer app loads it on first use,
// lib/lazy.ts). The clients of lib/clients.ts decode the details of every failed call and
// record them here (`recordDetails`); the functions below read the record.
import { Code, ConnectError } from "@connectrpc/connect";

/** Field path (as the server names it, e.g. `contact.email`) to its problems. */
export type FieldErrors = Record<string, string[]>;

/** What a failed call's rich error details said, decoded. */
export interface Details {
  violations: FieldErrors;
  /** The ErrorInfo reason, when the server sent one. */
  reason?: string;
  /** RetryInfo's delay in milliseconds, when the server sent one (RESOURCE_EXHAUSTED). */
  retryAfterMs?: number;
}

const decoded = new WeakMap<ConnectError, Details>();

/** Called by the clients' interceptor (lib/clients.ts) for every error a call ends with. */
export function recordDetails(error: ConnectError, details: Details): void {
  decoded.set(error, details);
}

export function fieldViolations(error: unknown): FieldErrors {
  if (!(error instanceof ConnectError)) return {};
  return decoded.get(error)?.violations ?? {};
}

/**
 * The machine-readable reason of a refusal (e.g. `OFFER_EXPIRED`): the ErrorInfo detail when
 * the server sent one, else the `REASON:` prefix the services put on FAILED_PRECONDITION
 * messages today.
 */
export function reason(error: unknown): string | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  return decoded.get(error)?.reason ?? /^([A-Z][A-Z_]+):/.exec(error.rawMessage)?.[1];
}

/** How long the server asked to wait before trying again (RetryInfo), in milliseconds. */
export function retryAfter(error: unknown): number | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  return decoded.get(error)?.retryAfterMs;
}

export function code(error: unknown): Code | undefined {
  return error instanceof ConnectError ? error.code : undefined;
}

/**
 * True when no answer came from the service (offline, connection dropped, gateway down):
 * the request may not have been processed and is safe to retry only if it is idempotent.
 */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof ConnectError)) return error instanceof TypeError;
  return (
    error.code === Code.Unavailable ||
    error.code === Code.DeadlineExceeded ||
    error.code === Code.Unknown ||
    error.code === Code.Internal && /fetch|network/i.test(error.rawMessage)
  );
}

/** The server's message without the code prefix Connect adds. */
export function message(error: unknown): string {
  if (error instanceof ConnectError) return error.rawMessage;
  return error instanceof Error ? error.message : String(error);
}

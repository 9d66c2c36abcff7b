// The services' rich errors, decoded: field violations (google.rpc.BadRequest) go next to the
// fields they name, ErrorInfo reasons choose a message, and transport failures are told apart
// from answers (a registration is retried only when no answer came).
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb";

/** Field path (as the server names it, e.g. `contact.email`) to its problems. */
export type FieldErrors = Record<string, string[]>;

export function fieldViolations(error: unknown): FieldErrors {
  const out: FieldErrors = {};
  if (!(error instanceof ConnectError)) return out;
  for (const detail of error.findDetails(BadRequestSchema)) {
    for (const violation of detail.fieldViolations) {
      (out[violation.field] ??= []).push(violation.description);
    }
  }
  return out;
}

/**
 * The machine-readable reason of a refusal (e.g. `OFFER_EXPIRED`): the ErrorInfo detail when
 * the server sent one, else the `REASON:` prefix the services put on FAILED_PRECONDITION
 * messages today.
 */
export function reason(error: unknown): string | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  return (
    error.findDetails(ErrorInfoSchema)[0]?.reason ?? /^([A-Z][A-Z_]+):/.exec(error.rawMessage)?.[1]
  );
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

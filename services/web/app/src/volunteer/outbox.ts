// The registration outbox: a registration is written to the device before it is sent, and
// sent again, with the same idempotency key, until an answer comes. Register is idempotent
// on that key, so however often a bad network makes us repeat it, one volunteer results.
//
// Storage: localStorage, not IndexedDB. The outbox holds one small record (well under 2 KB),
// and localStorage writes it synchronously: when `save` returns, the record is on the device,
// before the first byte goes out, with no transaction to await and no library to ship (`idb`
// would cost bytes on every phone). IndexedDB's advantage, access from the service worker for
// Background Sync, exists only in Chromium, and the page retries on its own (backoff, the
// `online` event, coming back to the app), so it is not needed. The record holds the
// volunteer's name and contact until the answer: it is deleted as soon as one comes, and
// never leaves the device except in the Register call.
import { Code } from "@connectrpc/connect";
import type { Client } from "@connectrpc/connect";
import type { RegistrationService, RegisterResponse } from "../gen/spontan/v1/registration_pb";
import { code, isTransient } from "../lib/errors";
import type { Draft, PlainRequest } from "./form";

const KEY = "spontan.outbox.register";

export interface Pending {
  /** Idempotency key (UUID from crypto.randomUUID), the same on every retry. */
  key: string;
  request: PlainRequest;
  /** The form as typed, to show it again if the server refuses a field. */
  draft: Draft;
  savedAt: number;
}

export function loadPending(): Pending | null {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? "null") as Pending | null;
    return value && typeof value.key === "string" && value.request ? value : null;
  } catch {
    return null;
  }
}

export function savePending(pending: Pending): void {
  localStorage.setItem(KEY, JSON.stringify(pending));
}

export function clearPending(): void {
  localStorage.removeItem(KEY);
}

/** Delay before retry number `attempt` (1, 2, …): 1 s doubling to 30 s, with jitter. */
export function backoff(attempt: number): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.min(attempt - 1, 5));
  return base / 2 + Math.random() * (base / 2);
}

/** Resolves after `ms`, or earlier when the network comes back, the app becomes visible, or `poke` is called. */
function wake(ms: number, signal: { poke?: () => void }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener("online", done);
      document.removeEventListener("visibilitychange", visible);
      signal.poke = undefined;
      resolve();
    };
    const visible = () => {
      if (document.visibilityState === "visible") done();
    };
    const timer = setTimeout(done, ms);
    window.addEventListener("online", done);
    document.addEventListener("visibilitychange", visible);
    signal.poke = done;
  });
}

export type Outcome = { ok: true; response: RegisterResponse } | { ok: false; error: unknown };

/** No answer within this time counts as no answer: the attempt is repeated. */
const ATTEMPT_TIMEOUT_MS = 15_000;

/**
 * Sends the pending registration until an answer comes. `onWaiting(attempt)` is called after
 * each attempt that got no answer. Only an answer ends it: success, or a refusal (field
 * violations and any other status the server chose to send). RESOURCE_EXHAUSTED (too many
 * registrations from this address) is an answer that says "later": it is retried too. The
 * outbox record is deleted when the answer arrives.
 */
export class Sender {
  private running: Promise<Outcome> | null = null;
  private readonly signal: { poke?: () => void } = {};

  constructor(private readonly client: Client<typeof RegistrationService>) {}

  /** Retries now instead of waiting for the backoff. */
  retryNow(): void {
    this.signal.poke?.();
  }

  send(pending: Pending, onWaiting: (attempt: number) => void): Promise<Outcome> {
    this.running ??= this.loop(pending, onWaiting).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async loop(pending: Pending, onWaiting: (attempt: number) => void): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        // Loaded with the first attempt (with the generated code); a first visit that went
        // offline before it arrived retries like any other attempt without an answer.
        const { registerRequest } = await import("./request");
        const request = registerRequest(pending.key, pending.request);
        const response = await this.client.register(request, { timeoutMs: ATTEMPT_TIMEOUT_MS });
        clearPending();
        return { ok: true, response };
      } catch (error) {
        if (!isTransient(error) && code(error) !== Code.ResourceExhausted) {
          clearPending();
          return { ok: false, error };
        }
        onWaiting(attempt);
        await wake(navigator.onLine ? backoff(attempt) : 60_000, this.signal);
      }
    }
  }
}

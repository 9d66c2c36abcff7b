// Idempotency keys: a random UUID v4. crypto.randomUUID exists only in secure contexts
// (HTTPS, localhost); a console opened over plain HTTP on a field network still needs keys,
// and getRandomValues works everywhere.
export function newUuid(): string {
  if (typeof crypto.randomUUID === "function" && globalThis.isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * One key per distinct request: retrying the same request (after no answer came) reuses the
 * key, so the server returns what it created the first time; a changed request gets a new key
 * instead of ALREADY_EXISTS.
 */
export class IdempotencyKeys {
  private key = newUuid();
  private fingerprint: string | null = null;

  /** The key for a request described by `fingerprint` (its fields without the key). */
  for(fingerprint: string): string {
    if (this.fingerprint !== null && this.fingerprint !== fingerprint) this.key = newUuid();
    this.fingerprint = fingerprint;
    return this.key;
  }

  /** After a success: the next request is a new creation. */
  reset(): void {
    this.key = newUuid();
    this.fingerprint = null;
  }
}

// The volunteer's session: the access token Register (or RenewMyToken) returned.
//
// Where it lives, and why localStorage: a web app has no secure enclave (no Keychain, no
// Android Keystore); IndexedDB or a cookie readable by script would be no safer against a
// script running in this origin, and an httpOnly cookie would need the three gRPC services to
// share one cookie origin with the app, which a deployment cannot always give. What keeps the
// risk small is the token itself: it is short-lived (the server's
// `auth.volunteer_token_ttl_hours`), renewed here while it is still valid (RenewMyToken when
// less than a third of its life is left), scoped to the volunteer's own data (read, change,
// export and erase it, answer their own offers; nothing else), and revoked everywhere by
// erasure. The CSP forbids inline and foreign scripts, which is what would read it. Whoever
// holds the phone unlocked holds the volunteer's account: the same as with a native app.
//
// The token is never logged and never sent anywhere but in the `authorization` header of
// calls to the registration and matching services.

const KEY = "spontan.session";

export interface Session {
  volunteerId: string;
  token: string;
  /** Epoch milliseconds. */
  issuedAt: number;
  expiresAt: number;
}

export function loadSession(): Session | null {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? "null") as Session | null;
    if (!value || typeof value.token !== "string" || typeof value.expiresAt !== "number") return null;
    return value;
  } catch {
    return null;
  }
}

export function saveSession(session: Session): void {
  localStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(): void {
  localStorage.removeItem(KEY);
}

export function expired(session: Session, now = Date.now()): boolean {
  return session.expiresAt <= now;
}

/** True when less than a third of the token's life is left (and it still works). */
export function needsRenewal(session: Session, now = Date.now()): boolean {
  const life = Math.max(session.expiresAt - session.issuedAt, 0);
  return !expired(session, now) && session.expiresAt - now < life / 3;
}

// The volunteer's session: the access token and refresh token Register (or RefreshSession)
// returned.
//
// Where it lives, and why localStorage: a web app has no secure enclave (no Keychain, no
// Android Keystore); IndexedDB or a cookie readable by script would be no safer against a
// script running in this origin, and an httpOnly cookie would need the three gRPC services to
// share one cookie origin with the app, which a deployment cannot always give. What keeps the
// risk small is the tokens themselves:
//
// - the access token lives minutes (`auth.volunteer_access_token_minutes`, 15) and is scoped
//   to the volunteer's own data (read, change, export and erase it, answer their own offers);
// - the refresh token works once: RefreshSession replaces it (before a third of the access
//   token's life is left, and whenever the app comes back after the access token ended), and
//   a copy presented after that ends the session on every device that holds it;
// - "sign out everywhere" in the profile ends every other session, and erasure all of them.
//
// Only one tab refreshes at a time (a Web Lock), and a tab that waited takes the tokens the
// other stored: two tabs presenting the same refresh token would look like a stolen copy.
// The CSP forbids inline and foreign scripts, which is what would read the tokens. Whoever
// holds the phone unlocked holds the volunteer's account: the same as with a native app.
//
// The tokens are never logged. The access token is sent only in the `authorization` header of
// calls to the registration and matching services, the refresh token only to RefreshSession.

const KEY = "spontan.session";

export interface Session {
  volunteerId: string;
  token: string;
  /** Epoch milliseconds. */
  issuedAt: number;
  expiresAt: number;
  /** Absent in sessions stored before refresh tokens (they renew with RenewMyToken). */
  refreshToken?: string;
  /** Epoch milliseconds: the session ends then unless refreshed. */
  refreshExpiresAt?: number;
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

/** True when the session can be refreshed: it has a refresh token that has not run out. */
export function refreshable(session: Session, now = Date.now()): boolean {
  return !!session.refreshToken && (session.refreshExpiresAt ?? Infinity) > now;
}

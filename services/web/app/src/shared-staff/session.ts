// The staff pages' session: a bearer token handed over in the URL fragment (`#token=…`, by
// the dev sign-in today and by the OIDC redirect later), kept in sessionStorage (one tab, gone
// when it closes) and removed from the address bar at once, so that it is neither bookmarked
// nor sent in a Referer. The payload is decoded, not verified: the services verify every
// call; the page only needs to show who is signed in and when that ends.

export type StaffRole = "coordinator" | "dashboard" | "admin" | "volunteer";

export interface Claims {
  sub: string;
  role: StaffRole;
  /** Organisation the token acts for; absent for admins. */
  org?: string;
  iss: string;
  iat: number;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export interface Session {
  token: string;
  claims: Claims;
}

export type SessionProblem = "expired" | "wrong-role" | "malformed";

export interface SessionState {
  session: Session | null;
  /** Why a token that was presented is not used. */
  problem?: SessionProblem;
  /** The role of a token refused as `wrong-role`. */
  problemRole?: string;
}

function decodeBase64Url(text: string): string {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  const binary = atob(base64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The token's claims, or null when it is not a JWT with the claims Spontan issues. */
export function decodeClaims(token: string): Claims | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(decodeBase64Url(parts[1])) as Partial<Claims>;
    if (typeof claims.role !== "string" || typeof claims.exp !== "number") return null;
    return { sub: "", iss: "", iat: 0, ...claims } as Claims;
  } catch {
    return null;
  }
}

/**
 * Reads the session of one page (`storageKey` differs between console and dashboard), taking
 * a fresh token from the fragment first. Only tokens of `roles` are accepted.
 */
export function loadSession(storageKey: string, roles: readonly StaffRole[]): SessionState {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const fresh = fragment.get("token");
  if (fresh !== null) {
    fragment.delete("token");
    const rest = fragment.toString();
    history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    sessionStorage.setItem(storageKey, fresh);
  }
  const token = sessionStorage.getItem(storageKey);
  if (!token) return { session: null };
  const claims = decodeClaims(token);
  let problem: SessionProblem | undefined;
  if (!claims) problem = "malformed";
  else if (!roles.includes(claims.role)) problem = "wrong-role";
  else if (claims.exp * 1000 <= Date.now()) problem = "expired";
  if (problem || !claims) {
    sessionStorage.removeItem(storageKey);
    return { session: null, problem, problemRole: claims?.role };
  }
  return { session: { token, claims } };
}

export function clearSession(storageKey: string): void {
  sessionStorage.removeItem(storageKey);
}

/** Milliseconds until the session ends (never negative). */
export function remainingMs(session: Session): number {
  return Math.max(0, session.claims.exp * 1000 - Date.now());
}

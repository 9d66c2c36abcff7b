// The staff pages' session, kept in sessionStorage (one tab, gone when it closes): either a
// development token handed over in the URL fragment (`#token=…` from /dev/sign-in, removed
// from the address bar at once, so that it is neither bookmarked nor sent in a Referer), or
// the tokens of an OpenID Connect sign-in (oidc.ts), stored with the claims read from the
// access token through the deployment's claim mapping. Payloads are decoded, not verified:
// the services verify every call; the page only needs to show who is signed in and when that
// ends.
import type { OidcConfig } from "../lib/config";
import type { OidcTokens } from "./oidc";

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
  /** From an OpenID Connect sign-in: renews the access token before it ends. */
  refreshToken?: string;
  /** From an OpenID Connect sign-in: names the session at the provider's sign-out. */
  idToken?: string;
}

export type SessionProblem = "expired" | "wrong-role" | "no-role" | "malformed" | "signin-refused" | "signin-failed";

export interface SessionState {
  session: Session | null;
  /** Why a token that was presented is not used. */
  problem?: SessionProblem;
  /** The role of a token refused as `wrong-role`. */
  problemRole?: string;
  /** The provider's or the library's own words about a failed sign-in. */
  detail?: string;
  /** An OpenID Connect sign-in is being completed. */
  signingIn?: boolean;
}

function decodeBase64Url(text: string): string {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  const binary = atob(base64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

function payload(token: string): Record<string, unknown> | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const value: unknown = JSON.parse(decodeBase64Url(parts[1]));
    return value && typeof value === "object" ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The token's claims, or null when it is not a JWT with the claims Spontan issues. */
export function decodeClaims(token: string): Claims | null {
  const claims = payload(token) as Partial<Claims> | null;
  if (!claims || typeof claims.role !== "string" || typeof claims.exp !== "number") return null;
  return { sub: "", iss: "", iat: 0, ...claims } as Claims;
}

const RANK: Record<string, number> = { dashboard: 1, coordinator: 2, admin: 3 };

/**
 * The claims of a provider's access token read through the deployment's mapping (the same
 * as the services' `auth.oidc` entry): the most privileged role found, the one organisation.
 */
export function providerClaims(token: string, oidc: OidcConfig): Claims | null {
  const raw = payload(token);
  if (!raw || typeof raw.exp !== "number") return null;
  const at = (path: string) =>
    path.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), raw);
  const strings = (v: unknown): string[] =>
    typeof v === "string" ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  const roles = strings(at(oidc.roleClaim))
    .filter((v) => v.startsWith(oidc.rolePrefix))
    .map((v) => v.slice(oidc.rolePrefix.length))
    .filter((r) => r in RANK)
    .sort((a, b) => RANK[b] - RANK[a]);
  if (roles.length === 0) return null;
  const organisations = strings(at(oidc.organisationClaim));
  const name = [raw.preferred_username, raw.email, raw.sub].find((v) => typeof v === "string" && v !== "");
  return {
    sub: (name as string | undefined) ?? "",
    role: roles[0] as StaffRole,
    org: organisations.length === 1 ? organisations[0] : undefined,
    iss: typeof raw.iss === "string" ? raw.iss : "",
    iat: typeof raw.iat === "number" ? raw.iat : 0,
    exp: raw.exp,
  };
}

/** Keeps the tokens of an OpenID Connect sign-in; false when the access token grants no role. */
export function storeProviderSession(storageKey: string, tokens: OidcTokens, oidc: OidcConfig): boolean {
  const claims = providerClaims(tokens.accessToken, oidc);
  if (!claims) return false;
  const session: Session = { token: tokens.accessToken, claims, refreshToken: tokens.refreshToken, idToken: tokens.idToken };
  sessionStorage.setItem(storageKey, JSON.stringify(session));
  return true;
}

/** What is stored under `storageKey`: a provider session (JSON) or a development token. */
function stored(storageKey: string): { token: string; claims: Claims | null; session?: Session } | null {
  const value = sessionStorage.getItem(storageKey);
  if (!value) return null;
  if (value.startsWith("{")) {
    try {
      const session = JSON.parse(value) as Session;
      return { token: session.token, claims: session.claims ?? null, session };
    } catch {
      return { token: value, claims: null };
    }
  }
  return { token: value, claims: decodeClaims(value) };
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
  const found = stored(storageKey);
  if (!found) return { session: null };
  const { token, claims } = found;
  let problem: SessionProblem | undefined;
  if (!claims) problem = "malformed";
  else if (!roles.includes(claims.role)) problem = "wrong-role";
  else if (claims.exp * 1000 <= Date.now()) problem = "expired";
  if (problem || !claims) {
    sessionStorage.removeItem(storageKey);
    return { session: null, problem, problemRole: claims?.role };
  }
  return { session: found.session ?? { token, claims } };
}

export function clearSession(storageKey: string): void {
  sessionStorage.removeItem(storageKey);
}

/** Milliseconds until the session ends (never negative). */
export function remainingMs(session: Session): number {
  return Math.max(0, session.claims.exp * 1000 - Date.now());
}

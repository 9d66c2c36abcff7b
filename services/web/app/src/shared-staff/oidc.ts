// Sign-in of the staff pages at the deployment's OpenID Connect provider (Keycloak, Entra ID,
// Authentik, …): the authorization code flow with PKCE (RFC 7636, S256), a public client
// without a secret, as a browser application must be (RFC 9700). The protocol work is done
// by oauth4webapi, a dependency-free, OpenID-certified client; it is loaded only when a
// provider is configured and a sign-in begins or completes, so pages without one never
// download it.
//
// The provider redirects back to the page that began the sign-in (`redirect_uri` is the
// page's own URL: /console/ or /dashboard/, both registered at the provider). Verifier,
// state and nonce wait in sessionStorage of this tab only; the code leaves the address bar at
// once. The services verify the access token on every call; the page reads its role and
// organisation only to show them (session.ts).
import type { OidcConfig } from "../lib/config";

export interface OidcTokens {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
}

/** Why a sign-in did not complete, in terms the page can explain. */
export class SignInError extends Error {
  constructor(
    readonly reason: "refused" | "stale" | "failed",
    detail?: string,
  ) {
    super(detail ?? reason);
  }
}

const PENDING = "spontan.oidc.pending";

interface Pending {
  issuer: string;
  verifier: string;
  state: string;
  nonce: string;
}

/** Plain HTTP only for a provider on this machine (development and tests). */
function loopbackHttp(issuer: URL): boolean {
  return issuer.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(issuer.hostname);
}

async function provider(config: OidcConfig) {
  const oauth = await import("oauth4webapi");
  const issuer = new URL(config.issuer);
  const options = { [oauth.allowInsecureRequests]: loopbackHttp(issuer) };
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, options));
  return { oauth, as, client: { client_id: config.clientId }, options };
}

/** This page, without query or fragment: where the provider sends the browser back. */
export function redirectUri(): string {
  return location.origin + location.pathname;
}

/** Leaves for the provider's sign-in page. */
export async function beginSignIn(config: OidcConfig): Promise<void> {
  const { oauth, as } = await provider(config);
  if (!as.authorization_endpoint) throw new SignInError("failed", "the provider names no authorization endpoint");
  const pending: Pending = {
    issuer: config.issuer,
    verifier: oauth.generateRandomCodeVerifier(),
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
  };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set("client_id", config.clientId);
  url.searchParams.set("redirect_uri", redirectUri());
  url.searchParams.set("response_type", "code");
  url.searchParams.set("scope", config.scope);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(pending.verifier));
  url.searchParams.set("code_challenge_method", "S256");
  url.searchParams.set("state", pending.state);
  url.searchParams.set("nonce", pending.nonce);
  location.assign(url.href);
}

/** True when the address carries the provider's answer to a sign-in. */
export function isCallback(): boolean {
  const params = new URLSearchParams(location.search);
  return params.has("state") && (params.has("code") || params.has("error"));
}

/** Exchanges the code in the address for tokens, checking state, nonce and the ID token. */
export async function completeSignIn(config: OidcConfig): Promise<OidcTokens> {
  const answer = new URL(location.href);
  // The code is single-use and must stay neither in the address bar nor in the history.
  history.replaceState(history.state, "", location.pathname + location.hash);
  const stored = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  const pending = stored ? (JSON.parse(stored) as Pending) : null;
  if (!pending || pending.issuer !== config.issuer) throw new SignInError("stale");
  const { oauth, as, client, options } = await provider(config);
  let parameters: URLSearchParams;
  try {
    parameters = oauth.validateAuthResponse(as, client, answer, pending.state);
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) {
      throw new SignInError("refused", error.error_description ?? error.error);
    }
    throw new SignInError("stale", String(error));
  }
  try {
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.None(),
      parameters,
      redirectUri(),
      pending.verifier,
      options,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: pending.nonce,
      requireIdToken: true,
    });
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token, idToken: tokens.id_token };
  } catch (error) {
    throw new SignInError("failed", error instanceof Error ? error.message : String(error));
  }
}

/** New tokens for a refresh token (the provider may rotate it: use the one returned). */
export async function refreshTokens(config: OidcConfig, refreshToken: string): Promise<OidcTokens> {
  const { oauth, as, client, options } = await provider(config);
  const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, options);
  const tokens = await oauth.processRefreshTokenResponse(as, client, response);
  return {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token ?? refreshToken,
    idToken: tokens.id_token,
  };
}

/** The provider's sign-out page (RP-initiated logout), when it has one. */
export async function endSessionUrl(config: OidcConfig, idToken?: string): Promise<string | null> {
  const { as } = await provider(config);
  if (!as.end_session_endpoint) return null;
  const url = new URL(as.end_session_endpoint);
  url.searchParams.set("client_id", config.clientId);
  url.searchParams.set("post_logout_redirect_uri", redirectUri());
  if (idToken) url.searchParams.set("id_token_hint", idToken);
  return url.href;
}

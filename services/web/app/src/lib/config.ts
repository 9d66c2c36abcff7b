// The deployment's settings, served by the web service as /config.json (services/web).
// Nothing about a deployment is compiled into the bundle, so one build serves every
// environment.

/** Where the map's tiles come from. */
export interface MapConfig {
  /** A MapLibre style URL; empty means the built-in style (background and our own layers only). */
  styleUrl: string;
  /** Attribution text the tile source requires, shown on the map. */
  attribution: string;
}

/** OpenID Connect settings of the coordinator console (authorization code with PKCE). */
export interface OidcConfig {
  issuer: string;
  clientId: string;
  scope: string;
  /** Where the access token names the role (dotted path), as the services read it. */
  roleClaim: string;
  /** Prefix of role values at the provider (`spontan-` for `spontan-coordinator`). */
  rolePrefix: string;
  /** Where the access token names the organisation (dotted path). */
  organisationClaim: string;
}

export interface AppConfig {
  /** Public base URLs of the three gRPC-Web services (same origin when behind one ingress). */
  registrationUrl: string;
  taskUrl: string;
  matchingUrl: string;
  /** The consent text version the registration service accepts now. */
  consentTextVersion: string;
  map: MapConfig;
  /** Null when no identity provider is configured. */
  oidc: OidcConfig | null;
  /** True only on a development stack: /dev/sign-in mints local tokens. */
  devSignIn: boolean;
  /** VAPID public key (base64url) for Web Push; empty when push is off. */
  vapidPublicKey: string;
}

let cached: Promise<AppConfig> | undefined;

/** Loads /config.json once per page. */
export function loadConfig(): Promise<AppConfig> {
  cached ??= fetch("/config.json", { cache: "no-cache" }).then(async (response) => {
    if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
    return (await response.json()) as AppConfig;
  });
  return cached;
}

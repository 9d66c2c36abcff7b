// A small OpenID Connect provider for the browser tests: the part of Keycloak (or Entra ID,
// Authentik) that the staff pages and the services talk to, which cannot run here. It serves
// discovery, a login page, the authorization code flow with PKCE (S256 only, verified), the
// refresh token grant with rotation, RP-initiated logout and the key set, and signs tokens
// with an Ed25519 key it generates at start. Access tokens carry Keycloak-shaped `roles` and
// `org` claims and name the three services as audience.
//
//   node tests/support/oidc-issuer.mjs <port> <allowed origin>
//
// deploy/local/browser-test.sh starts it beside the private suite and configures the
// services and the web service with it. `GET /_test/grants` lists the token requests it
// answered, for assertions.
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { createServer } from "node:http";

const port = Number(process.argv[2]);
const allowedOrigin = process.argv[3];
if (!port || !allowedOrigin) {
  console.error("usage: oidc-issuer.mjs <port> <allowed origin>");
  process.exit(2);
}
const base = `http://127.0.0.1:${port}`;
const issuer = `${base}/realms/spontan`;
const AUDIENCE = ["spontan-registration", "spontan-task", "spontan-matching"];

/** Test accounts: the login page offers them by name. */
const ACCOUNTS = {
  koordinatorin: { roles: ["coordinator"], ttl: 300 },
  leitstelle: { roles: ["dashboard"], ttl: 300 },
  // Short-lived: the page must renew it with the refresh token before it ends.
  kurzschicht: { roles: ["coordinator"], ttl: 75 },
  "ohne-rolle": { roles: ["offline_access"], ttl: 300 },
};

const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const kid = `test-${randomBytes(4).toString("hex")}`;
const jwk = { ...publicKey.export({ format: "jwk" }), kid, use: "sig", alg: "EdDSA" };

const codes = new Map();
const refreshTokens = new Map();
const grants = [];

const b64url = (data) => Buffer.from(data).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

function jwt(claims) {
  const head = b64url(JSON.stringify({ alg: "EdDSA", typ: "JWT", kid }));
  const body = b64url(JSON.stringify(claims));
  const signature = sign(null, Buffer.from(`${head}.${body}`), privateKey);
  return `${head}.${body}.${b64url(signature)}`;
}

function tokens(session) {
  const account = ACCOUNTS[session.username];
  const iat = now();
  const refresh = randomBytes(24).toString("base64url");
  refreshTokens.set(refresh, session);
  const common = { iss: issuer, sub: session.sub, iat, exp: iat + account.ttl, preferred_username: session.username };
  return {
    token_type: "Bearer",
    expires_in: account.ttl,
    access_token: jwt({ ...common, aud: AUDIENCE, azp: session.clientId, typ: "Bearer", roles: account.roles, org: session.organisation }),
    id_token: jwt({ ...common, aud: session.clientId, nonce: session.nonce }),
    refresh_token: refresh,
    scope: session.scope,
  };
}

function cors(request, response) {
  const origin = request.headers.origin;
  if (origin === allowedOrigin) {
    response.setHeader("access-control-allow-origin", origin);
    response.setHeader("vary", "origin");
  }
}

function json(response, status, body) {
  response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  response.end(JSON.stringify(body));
}

function redirect(response, url) {
  response.writeHead(302, { location: url });
  response.end();
}

async function form(request) {
  let body = "";
  for await (const chunk of request) body += chunk;
  return new URLSearchParams(body);
}

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(params) {
  const hidden = [...params].map(([k, v]) => `<input type="hidden" name="${escape(k)}" value="${escape(v)}">`).join("");
  const options = Object.keys(ACCOUNTS).map((name) => `<option>${escape(name)}</option>`).join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test identity provider</title></head>
<body><main><h1>Test identity provider</h1>
<form method="post" action="${issuer}/login">${hidden}
<p><label for="username">Username</label> <select id="username" name="username">${options}</select></p>
<p><label for="organisation">Organisation</label> <input id="organisation" name="organisation" value="thw-ov-ahrweiler"></p>
<p><button name="decision" value="allow">Sign in</button> <button name="decision" value="deny">Cancel</button></p>
</form></main></body></html>`;
}

const server = createServer(async (request, response) => {
  const url = new URL(request.url, base);
  cors(request, response);
  if (request.method === "OPTIONS") {
    response.setHeader("access-control-allow-methods", "GET, POST");
    response.setHeader("access-control-allow-headers", request.headers["access-control-request-headers"] ?? "");
    response.setHeader("access-control-max-age", "600");
    response.writeHead(204).end();
    return;
  }
  switch (`${request.method} ${url.pathname}`) {
    case "GET /realms/spontan/.well-known/openid-configuration":
      return json(response, 200, {
        issuer,
        authorization_endpoint: `${issuer}/protocol/openid-connect/auth`,
        token_endpoint: `${issuer}/protocol/openid-connect/token`,
        end_session_endpoint: `${issuer}/protocol/openid-connect/logout`,
        jwks_uri: `${issuer}/protocol/openid-connect/certs`,
        response_types_supported: ["code"],
        grant_types_supported: ["authorization_code", "refresh_token"],
        code_challenge_methods_supported: ["S256"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["EdDSA"],
        token_endpoint_auth_methods_supported: ["none"],
      });
    case "GET /realms/spontan/protocol/openid-connect/certs":
      return json(response, 200, { keys: [jwk] });
    case "GET /realms/spontan/protocol/openid-connect/auth": {
      const p = url.searchParams;
      const problem =
        p.get("response_type") !== "code"
          ? "unsupported_response_type"
          : p.get("code_challenge_method") !== "S256" || !p.get("code_challenge")
            ? "invalid_request"
            : !p.get("redirect_uri")?.startsWith(`${allowedOrigin}/`)
              ? "invalid_redirect_uri"
              : null;
      if (problem) return json(response, 400, { error: problem });
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      return response.end(loginPage(p));
    }
    case "POST /realms/spontan/login": {
      const p = await form(request);
      const back = new URL(p.get("redirect_uri"));
      back.searchParams.set("state", p.get("state") ?? "");
      back.searchParams.set("iss", issuer);
      if (p.get("decision") !== "allow" || !ACCOUNTS[p.get("username")]) {
        back.searchParams.set("error", "access_denied");
        back.searchParams.set("error_description", "The user cancelled the sign-in");
        return redirect(response, back.href);
      }
      const code = randomBytes(24).toString("base64url");
      codes.set(code, {
        username: p.get("username"),
        sub: `sub-${p.get("username")}`,
        organisation: p.get("organisation"),
        clientId: p.get("client_id"),
        redirectUri: p.get("redirect_uri"),
        challenge: p.get("code_challenge"),
        nonce: p.get("nonce"),
        scope: p.get("scope"),
      });
      back.searchParams.set("code", code);
      return redirect(response, back.href);
    }
    case "POST /realms/spontan/protocol/openid-connect/token": {
      const p = await form(request);
      const grant = p.get("grant_type");
      if (grant === "authorization_code") {
        const session = codes.get(p.get("code"));
        codes.delete(p.get("code"));
        const verifier = p.get("code_verifier") ?? "";
        const pkce = session && createHash("sha256").update(verifier).digest("base64url") === session.challenge;
        grants.push({ grant, pkce: Boolean(pkce), username: session?.username });
        if (!session || session.clientId !== p.get("client_id") || session.redirectUri !== p.get("redirect_uri")) {
          return json(response, 400, { error: "invalid_grant", error_description: "unknown code, client or redirect" });
        }
        if (!pkce) return json(response, 400, { error: "invalid_grant", error_description: "PKCE verification failed" });
        return json(response, 200, tokens(session));
      }
      if (grant === "refresh_token") {
        const session = refreshTokens.get(p.get("refresh_token"));
        refreshTokens.delete(p.get("refresh_token"));
        grants.push({ grant, username: session?.username });
        if (!session) return json(response, 400, { error: "invalid_grant", error_description: "refresh token unknown or used" });
        return json(response, 200, tokens(session));
      }
      return json(response, 400, { error: "unsupported_grant_type" });
    }
    case "GET /realms/spontan/protocol/openid-connect/logout": {
      const back = url.searchParams.get("post_logout_redirect_uri");
      grants.push({ grant: "logout", idTokenHint: url.searchParams.has("id_token_hint") });
      if (back?.startsWith(`${allowedOrigin}/`)) return redirect(response, back);
      response.writeHead(200, { "content-type": "text/plain" });
      return response.end("signed out");
    }
    case "GET /_test/grants":
      return json(response, 200, grants);
    default:
      response.writeHead(404).end();
  }
});

server.listen(port, "127.0.0.1", () => console.log(`test identity provider at ${issuer}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));

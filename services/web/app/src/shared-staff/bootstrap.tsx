// Start-up both staff pages share: load /config.json, read the session from the fragment or
// sessionStorage, or complete an OpenID Connect sign-in the provider has just answered;
// create the clients with the token; renew a provider's access token before it ends; sign
// out when the token ends or the services call it invalid.
import { Code } from "@connectrpc/connect";
import { useEffect, useMemo, useState } from "preact/hooks";
import { clients, type Clients } from "../lib/clients";
import { loadConfig, type AppConfig } from "../lib/config";
import { code } from "../lib/errors";
import { SignInError, completeSignIn, endSessionUrl, isCallback, refreshTokens } from "./oidc";
import {
  clearSession,
  loadSession,
  remainingMs,
  storeProviderSession,
  type SessionState,
  type StaffRole,
} from "./session";

export interface StaffContext {
  config: AppConfig | null;
  configError: string | null;
  state: SessionState;
  api: Clients | null;
  signOut: () => void;
  /** Call with any error: UNAUTHENTICATED ends the session. Returns true when it did. */
  handleAuthError: (error: unknown) => boolean;
}

/** A provider's access token is renewed this long before it ends. */
const RENEW_BEFORE_MS = 60_000;

export function useStaff(storageKey: string, roles: readonly StaffRole[]): StaffContext {
  const [config, setConfig] = useState<AppConfig | null>(null);
  const [configError, setConfigError] = useState<string | null>(null);
  const [state, setState] = useState<SessionState>(() =>
    isCallback() ? { session: null, signingIn: true } : loadSession(storageKey, roles),
  );

  useEffect(() => {
    loadConfig().then(
      (loaded) => {
        setConfig(loaded);
        if (isCallback()) void finishSignIn(loaded);
      },
      (e: unknown) => setConfigError(String(e)),
    );
    // A token handed over while the page is open (the same URL with a new fragment).
    const onHash = () => {
      if (/(^#|&)token=/.test(location.hash)) setState(loadSession(storageKey, roles));
    };
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  async function finishSignIn(loaded: AppConfig) {
    if (!loaded.oidc) {
      history.replaceState(history.state, "", location.pathname);
      setState({ session: null, problem: "malformed" });
      return;
    }
    try {
      const tokens = await completeSignIn(loaded.oidc);
      if (!storeProviderSession(storageKey, tokens, loaded.oidc)) {
        setState({ session: null, problem: "no-role" });
        return;
      }
      setState(loadSession(storageKey, roles));
    } catch (error) {
      const refused = error instanceof SignInError && error.reason === "refused";
      setState({
        session: null,
        problem: refused ? "signin-refused" : "signin-failed",
        detail: error instanceof Error ? error.message : String(error),
      });
    }
  }

  const session = state.session;
  useEffect(() => {
    if (!session) return;
    const oidc = config?.oidc;
    const left = remainingMs(session);
    if (session.refreshToken && oidc && left > 0) {
      const renew = setTimeout(() => {
        refreshTokens(oidc, session.refreshToken as string).then(
          (tokens) => {
            if (storeProviderSession(storageKey, tokens, oidc)) setState(loadSession(storageKey, roles));
          },
          // The provider said no (session ended there) or cannot be reached: the token runs out.
          () => undefined,
        );
      }, Math.max(0, left - RENEW_BEFORE_MS));
      const end = setTimeout(() => setState(loadSession(storageKey, roles)), left + 500);
      return () => {
        clearTimeout(renew);
        clearTimeout(end);
      };
    }
    // setTimeout's limit is 2^31-1 ms; longer sessions are checked again later.
    const timer = setTimeout(() => setState(loadSession(storageKey, roles)), Math.min(left + 500, 2 ** 31 - 1));
    return () => clearTimeout(timer);
  }, [session, config]);

  const api = useMemo(() => (config && session ? clients(config, () => session.token) : null), [config, session]);

  return {
    config,
    configError,
    state,
    api,
    signOut: () => {
      const idToken = session?.idToken;
      clearSession(storageKey);
      setState({ session: null });
      // Ends the session at the provider too, so that a shared control-room screen does not
      // sign the next person straight back in.
      if (idToken && config?.oidc) {
        endSessionUrl(config.oidc, idToken).then(
          (url) => url && location.assign(url),
          () => undefined,
        );
      }
    },
    handleAuthError: (error) => {
      if (code(error) !== Code.Unauthenticated) return false;
      clearSession(storageKey);
      setState({ session: null, problem: "expired" });
      return true;
    },
  };
}

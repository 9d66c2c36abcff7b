// Start-up both staff pages share: load /config.json, read the session from the fragment or
// sessionStorage, create the clients with the token, sign out when the token ends or the
// services call it invalid.
import { Code } from "@connectrpc/connect";
import { useEffect, useMemo, useState } from "preact/hooks";
import { clients, type Clients } from "../lib/clients";
import { loadConfig, type AppConfig } from "../lib/config";
import { code } from "../lib/errors";
import { clearSession, loadSession, remainingMs, type SessionState, type StaffRole } from "./session";

export interface StaffContext {
  config: AppConfig | null;
  configError: string | null;
  state: SessionState;
  api: Clients | null;
  signOut: () => void;
  /** Call with any error: UNAUTHENTICATED ends the session. Returns true when it did. */
  handleAuthError: (error: unknown) => boolean;
}

export function useStaff(storageKey: string, roles: readonly StaffRole[]): StaffContext {
  const [config, setConfig] = useState<AppConfig | null>(null);
  const [configError, setConfigError] = useState<string | null>(null);
  const [state, setState] = useState<SessionState>(() => loadSession(storageKey, roles));

  useEffect(() => {
    loadConfig().then(setConfig, (e: unknown) => setConfigError(String(e)));
    // A token handed over while the page is open (the same URL with a new fragment).
    const onHash = () => {
      if (/(^#|&)token=/.test(location.hash)) setState(loadSession(storageKey, roles));
    };
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  const session = state.session;
  useEffect(() => {
    if (!session) return;
    // setTimeout's limit is 2^31-1 ms; longer sessions are checked again later.
    const timer = setTimeout(() => setState(loadSession(storageKey, roles)), Math.min(remainingMs(session) + 500, 2 ** 31 - 1));
    return () => clearTimeout(timer);
  }, [session]);

  const api = useMemo(() => (config && session ? clients(config, () => session.token) : null), [config, session]);

  return {
    config,
    configError,
    state,
    api,
    signOut: () => {
      clearSession(storageKey);
      setState({ session: null });
    },
    handleAuthError: (error) => {
      if (code(error) !== Code.Unauthenticated) return false;
      clearSession(storageKey);
      setState({ session: null, problem: "expired" });
      return true;
    },
  };
}

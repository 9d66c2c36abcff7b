// What every screen of the volunteer app needs: the translator, the service clients, the
// session, navigation and the live region.
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Locale } from "../lib/i18n";
import type { VolunteerClients } from "../lib/clients";
import type { AppConfig } from "../lib/config";
import type { T } from "./messages";
import type { Session } from "./session";

/** One skill of the taxonomy, as kept on the device. */
export interface SkillEntry {
  id: string;
  labelDe: string;
  labelEn: string;
  category: string;
}

export type Screen = "about" | "skills" | "consent" | "privacy" | "offers" | "profile";

/** Shown once on the start screen after the app signed the volunteer out. */
export type Farewell = "erased" | "expired" | null;

export interface App {
  t: T;
  locale: Locale;
  config: AppConfig;
  api: VolunteerClients;
  session: Session | null;
  go(screen: Screen): void;
  /** Says `text` through the polite live region (screen readers), without moving focus. */
  announce(text: string): void;
  signIn(session: Session): void;
  signOut(why: Farewell): void;
  /** Takes new tokens of the signed-in session (renewed, or kept by "sign out elsewhere"). */
  adopt(session: Session): void;
  /**
   * Awaits a volunteer call; UNAUTHENTICATED (token expired, revoked, volunteer erased)
   * signs out to the start screen and rejects.
   */
  guard<R>(call: Promise<R>): Promise<R>;
  /** The skill taxonomy (ListSkills, kept on the device), or null while it loads. */
  skills: SkillEntry[] | null;
  skillsFailed: boolean;
  loadSkills(): void;
}

/** Set when the volunteer registers on this device: the offers screen asks once about alerts on this phone (push.tsx). */
export const PUSH_OFFER_KEY = "spontan.push.offer";
/** Set while this device receives the volunteer's alerts by Web Push: the endpoint it sent (push.tsx). */
export const PUSH_SENT_KEY = "spontan.push";

/**
 * What the next screen should move the focus to instead of its heading: the offers screen's
 * "Confirm now" sets `confirm`, and the profile screen, which reads it once as it opens,
 * focuses its confirmation card (confirm.tsx). A variable rather than a part of the address,
 * so that the phone's back button and a reload show the plain screen.
 */
export const focusNext: { target: "confirm" | null } = { target: null };

export const AppContext = createContext<App>(null as unknown as App);

export const useApp = () => useContext(AppContext);

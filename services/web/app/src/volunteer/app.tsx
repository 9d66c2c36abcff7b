// The volunteer app's frame: header (name, navigation, language), one screen in <main>, the
// live region, the session (token renewal, sign-out) and hash routing, so that the phone's
// back button moves between screens.
import { Code } from "@connectrpc/connect";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { lazyVolunteerClients } from "../lib/lazy";
import type { AppConfig } from "../lib/config";
import { code } from "../lib/errors";
import { applyLocale, detectLocale, translator, type Locale } from "../lib/i18n";
import { AppContext, useApp, PUSH_OFFER_KEY, PUSH_SENT_KEY, type App as AppValue, type Farewell, type Screen, type SkillEntry } from "./context";
import { messages } from "./messages";
import { AboutStep, ConsentStep, PrivacyScreen, SkillsStep, useRegistration } from "./register";
import { renewSession } from "./renew";
import { clearSession, expired, loadSession, needsRenewal, refreshable, saveSession, type Session } from "./session";
import { Notice, useLazy } from "./ui";

/**
 * The screens of a signed-in volunteer (offers, profile), loaded when first shown: the start
 * screen of a first visit, the registration, needs neither their code nor the generated
 * protobuf code they use (lib/lazy.ts).
 */
function SignedInScreen(props: { which: "offers" | "profile" }) {
  const { t } = useApp();
  const offers = useLazy(() => import("./offers"), props.which === "offers");
  const profile = useLazy(() => import("./profile"), props.which === "profile");
  const loaded = props.which === "offers" ? offers : profile;
  if (offers.module && props.which === "offers") return <offers.module.OffersScreen />;
  if (profile.module && props.which === "profile") return <profile.module.ProfileScreen />;
  return loaded.failed ? (
    <Notice kind="problem">
      {t("problem.offline")}{" "}
      <button type="button" class="secondary" onClick={loaded.retry}>
        {t("action.tryAgain")}
      </button>
    </Notice>
  ) : (
    <p aria-busy="true">{t("screen.loading")}</p>
  );
}

/**
 * `?dir=rtl` lays the app out right to left whatever the language, to check that a
 * right-to-left language will not break it (tests/volunteer-rtl.test.mjs). Not linked
 * anywhere; the words stay German or English.
 */
const FORCED_DIR = new URLSearchParams(location.search).get("dir") === "rtl" ? "rtl" : null;

const PUBLIC: readonly Screen[] = ["about", "skills", "consent", "privacy"];
const SIGNED_IN: readonly Screen[] = ["offers", "profile", "privacy"];
const SKILLS_KEY = "spontan.skills";

function screenOf(hash: string, signedIn: boolean): Screen {
  const name = hash.replace(/^#\/?/, "") as Screen;
  const allowed = signedIn ? SIGNED_IN : PUBLIC;
  return allowed.includes(name) ? name : signedIn ? "offers" : "about";
}

function cachedSkills(): SkillEntry[] | null {
  try {
    return JSON.parse(localStorage.getItem(SKILLS_KEY) ?? "null") as SkillEntry[] | null;
  } catch {
    return null;
  }
}

export function App(props: { config: AppConfig }) {
  const [locale, setLocale] = useState<Locale>(detectLocale);
  const t = useMemo(() => translator(messages, locale), [locale]);
  const [session, setSession] = useState<Session | null>(loadSession);
  const sessionRef = useRef(session);
  sessionRef.current = session;
  // Calls wait for a refresh when the access token has run out (the phone was put away) and
  // the session can still be refreshed; otherwise they go with the token held.
  const api = useMemo(() => {
    const clients = lazyVolunteerClients(props.config, async () => {
      const current = sessionRef.current;
      if (current && expired(current, Date.now() + 5_000) && refreshable(current)) {
        try {
          adopt(await renewSession(clients, current));
        } catch {
          // The call goes with the old token; its refusal ends the session (guard).
        }
      }
      return sessionRef.current?.token;
    });
    return clients;
  }, [props.config]);
  const [screen, setScreen] = useState<Screen>(() => screenOf(location.hash, !!session));
  const [announcement, setAnnouncement] = useState("");
  const [farewell, setFarewell] = useState<Farewell>(null);
  const [skills, setSkills] = useState<SkillEntry[] | null>(cachedSkills);
  const [skillsFailed, setSkillsFailed] = useState(false);
  const skillsLoading = useRef(false);

  useEffect(() => {
    applyLocale(locale);
    if (FORCED_DIR) document.documentElement.dir = FORCED_DIR;
    // The service worker shows push notifications in the app's language; it cannot read
    // localStorage, so the choice is left for it in a cache of its own (public/sw.js).
    if ("caches" in window) {
      caches
        .open("spontan-settings")
        .then((cache) => cache.put("/settings/locale", new Response(locale)))
        .catch(() => undefined);
    }
  }, [locale]);

  const go = (next: Screen) => {
    const target = screenOf(`#/${next}`, !!sessionRef.current);
    setScreen(target);
    if (location.hash !== `#/${target}`) location.hash = `#/${target}`;
  };

  useEffect(() => {
    const onHash = () => setScreen(screenOf(location.hash, !!sessionRef.current));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  const announce = (text: string) => {
    // Emptied first, so that the same words twice are read twice.
    setAnnouncement("");
    setTimeout(() => setAnnouncement(text), 50);
  };

  const signIn = (next: Session) => {
    // Just registered: the offers screen asks once whether offers should come as
    // notifications to this phone (push.tsx).
    if (props.config.vapidPublicKey) localStorage.setItem(PUSH_OFFER_KEY, "1");
    saveSession(next);
    sessionRef.current = next;
    setSession(next);
    setFarewell(null);
    go("offers");
  };

  /** Takes renewed tokens of the session that is still signed in. */
  const adopt = (next: Session) => {
    if (sessionRef.current?.volunteerId !== next.volunteerId) return;
    sessionRef.current = next;
    setSession(next);
  };

  const signOut = (why: Farewell) => {
    clearSession();
    if (why === "erased") {
      // Nothing of the volunteer stays on the device: session, outbox, cached lists, the push
      // subscription. The language choice is kept in memory only, so the next screen reads
      // the same.
      localStorage.clear();
      navigator.serviceWorker
        ?.getRegistration()
        .then((r) => r?.pushManager?.getSubscription())
        .then((s) => s?.unsubscribe())
        .catch(() => undefined);
    }
    sessionRef.current = null;
    setSession(null);
    setFarewell(why);
    registration.reset();
    if (why) announce(why === "erased" ? t("farewell.erased") : t("farewell.expired"));
    history.replaceState(null, "", "#/about");
    setScreen("about");
  };

  const loadSkills = () => {
    if (skillsLoading.current) return;
    skillsLoading.current = true;
    setSkillsFailed(false);
    api.registration
      .listSkills({})
      .then((r) => {
        const list = r.skills.map((s) => ({ id: s.id, labelDe: s.labelDe, labelEn: s.labelEn, category: s.category }));
        setSkills(list);
        localStorage.setItem(SKILLS_KEY, JSON.stringify(list));
      })
      .catch(() => setSkillsFailed(true))
      .finally(() => {
        skillsLoading.current = false;
      });
  };

  const value: AppValue = {
    t,
    locale,
    config: props.config,
    api,
    session,
    go,
    announce,
    signIn,
    signOut,
    adopt(next) {
      saveSession(next);
      adopt(next);
    },
    async guard(call) {
      try {
        return await call;
      } catch (error) {
        const current = sessionRef.current;
        if (code(error) === Code.Unauthenticated && current) {
          // A refused access token with a session that may still live: refresh first, and
          // sign out only when the session has ended too (erased, signed out everywhere).
          let ended = !refreshable(current);
          if (!ended) {
            await renewSession(api, current).then(adopt, (refused: unknown) => {
              ended = code(refused) === Code.Unauthenticated;
            });
          }
          if (ended) signOut("expired");
        }
        throw error;
      }
    },
    skills,
    skillsFailed,
    loadSkills,
  };
  const registration = useRegistration(value);
  const valueRef = useRef(value);
  valueRef.current = value;

  // A tapped notification asks the open app to show the offers (public/sw.js).
  useEffect(() => {
    const onMessage = (event: MessageEvent) => {
      const data = event.data as { type?: string; screen?: Screen } | null;
      if (data?.type === "spontan-open" && data.screen) valueRef.current.go(data.screen);
    };
    navigator.serviceWorker?.addEventListener("message", onMessage);
    return () => navigator.serviceWorker?.removeEventListener("message", onMessage);
  }, []);

  // This device receives alerts by Web Push: send a subscription the browser replaced.
  useEffect(() => {
    if (!session || !localStorage.getItem(PUSH_SENT_KEY)) return;
    import("./push").then((m) => m.syncSubscription(valueRef.current)).catch(() => undefined);
  }, [!!session]);

  // Renew the token while it works, when less than a third of its life is left, and at once
  // when it ran out while the app was away; checked every minute and whenever the app comes
  // to the front.
  useEffect(() => {
    if (!session) return;
    let renewing = false;
    const check = async () => {
      const current = sessionRef.current;
      if (!current || renewing) return;
      if (expired(current) && !refreshable(current)) {
        signOut("expired");
        return;
      }
      if (!expired(current) && !needsRenewal(current)) return;
      renewing = true;
      try {
        adopt(await renewSession(api, current));
      } catch (error) {
        if (code(error) === Code.Unauthenticated) signOut("expired");
      } finally {
        renewing = false;
      }
    };
    void check();
    const timer = setInterval(check, 60_000);
    const onShow = () => {
      if (document.visibilityState === "visible") void check();
    };
    document.addEventListener("visibilitychange", onShow);
    window.addEventListener("online", onShow);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onShow);
      window.removeEventListener("online", onShow);
    };
  }, [!!session]);

  const switchLocale = () => {
    const next: Locale = locale === "de" ? "en" : "de";
    applyLocale(next, true);
    setLocale(next);
  };

  const other: Locale = locale === "de" ? "en" : "de";
  return (
    <AppContext.Provider value={value}>
      <header class="bar">
        <span class="brand">Spontan</span>
        {session && (
          <nav aria-label={t("nav.label")}>
            <ul>
              {(["offers", "profile"] as const).map((s) => (
                <li key={s}>
                  <a href={`#/${s}`} aria-current={screen === s ? "page" : undefined}>
                    {t(`nav.${s}`)}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        <button type="button" class="lang" lang={other} onClick={switchLocale}>
          {other === "de" ? "Deutsch" : "English"}
        </button>
      </header>
      <main id="main">
        {screen === "about" && (
          <AboutStep
            key="about"
            reg={registration}
            farewell={farewell === "erased" ? t("farewell.erased") : farewell === "expired" ? t("farewell.expired") : null}
          />
        )}
        {screen === "skills" && <SkillsStep key="skills" reg={registration} />}
        {screen === "consent" && <ConsentStep key="consent" reg={registration} />}
        {screen === "privacy" && <PrivacyScreen key="privacy" />}
        {screen === "offers" && <SignedInScreen key="offers" which="offers" />}
        {screen === "profile" && <SignedInScreen key="profile" which="profile" />}
      </main>
      <div class="visually-hidden" role="status" aria-live="polite" aria-atomic="true">
        {announcement}
      </div>
    </AppContext.Provider>
  );
}

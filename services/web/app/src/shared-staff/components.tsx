// Pieces both staff pages show: the sign-in page, the top bar with who is signed in, the
// language switch, and the field error next to an input.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { LOCALES, type Locale } from "../lib/i18n";
import type { StaffContext } from "./bootstrap";
import type { SharedKey, Translate } from "./messages";
import { beginSignIn } from "./oidc";
import type { Session, SessionProblem } from "./session";
import { formatTime } from "./format";

type T = Translate<SharedKey>;

export function LanguageSwitch({ t, locale, onChange }: { t: T; locale: Locale; onChange: (l: Locale) => void }) {
  return (
    <div class="lang" role="group" aria-label={t("lang.switch")}>
      {LOCALES.map((l) => (
        <button
          type="button"
          key={l}
          lang={l}
          class="lang__option"
          aria-pressed={l === locale}
          onClick={() => onChange(l)}
        >
          {t(`lang.${l}`)}
        </button>
      ))}
    </div>
  );
}

/** The page to sign in on, under the page's name (`app.title`) with its own intro (`signin.intro`). */
export function SignIn(props: {
  t: Translate<SharedKey | "app.title" | "signin.intro">;
  /** The page's start-up: its settings, and why there is no session (or that one is being completed). */
  staff: StaffContext;
  role: "coordinator" | "dashboard";
  locale: Locale;
  onLocale: (l: Locale) => void;
}) {
  const { t } = props;
  const { config, state } = props.staff;
  const [leaving, setLeaving] = useState(false);
  const [unreachable, setUnreachable] = useState<string | null>(null);
  const [organisation, setOrganisation] = useState(localStorage.getItem("spontan.staff.organisation") ?? "");
  const devHref = `/dev/sign-in?role=${props.role}&organisation=${encodeURIComponent(organisation.trim())}`;
  return (
    <>
      <header class="topbar">
        <span class="topbar__brand">Spontan</span>
        <LanguageSwitch t={t} locale={props.locale} onChange={props.onLocale} />
      </header>
      <main id="main" class="signin">
        <h1>{t("app.title")}</h1>
        <p>{t("signin.intro")}</p>
        {state.signingIn && !state.problem && (
          <p class="notice" role="status" aria-busy="true">
            {t("signin.completing")}
          </p>
        )}
        {state.problem && (
          <p class="notice notice--warn" role="alert">
            {problemText(t, state.problem, state.problemRole, state.detail)}
          </p>
        )}
        {config?.oidc ? (
          <section class="card" aria-labelledby="oidc-heading">
            <h2 id="oidc-heading" class="visually-hidden">OpenID Connect</h2>
            <button
              type="button"
              class="button button--primary"
              disabled={leaving || state.signingIn}
              aria-describedby="oidc-note"
              onClick={() => {
                const oidc = config.oidc;
                if (!oidc) return;
                setLeaving(true);
                setUnreachable(null);
                beginSignIn(oidc).catch((error: unknown) => {
                  setLeaving(false);
                  setUnreachable(error instanceof Error ? error.message : String(error));
                });
              }}
            >
              {t("signin.oidcButton")}
            </button>
            <p id="oidc-note" class="hint">{t("signin.oidcNote", { issuer: new URL(config.oidc.issuer).host })}</p>
            {unreachable && (
              <p class="notice notice--warn" role="alert">
                {t("signin.oidcUnreachable", { issuer: config.oidc.issuer, detail: unreachable })}
              </p>
            )}
          </section>
        ) : (
          <p class="hint">{t("signin.oidcLater")}</p>
        )}
        {config?.devSignIn && (
          <section class="card" aria-labelledby="dev-heading">
            <h2 id="dev-heading">{t("signin.devHeading")}</h2>
            <p class="hint">{t("signin.devExplain")}</p>
            <div class="field">
              <label for="dev-organisation">{t("signin.devOrganisation")}</label>
              <input
                id="dev-organisation"
                name="organisation"
                autocomplete="organization"
                value={organisation}
                onInput={(e) => {
                  const value = (e.target as HTMLInputElement).value;
                  setOrganisation(value);
                  localStorage.setItem("spontan.staff.organisation", value);
                }}
              />
            </div>
            <a class="button button--primary" href={devHref}>
              {t("signin.devLink")}
            </a>
          </section>
        )}
      </main>
    </>
  );
}

function problemText(t: T, problem: SessionProblem, role?: string, detail?: string): string {
  switch (problem) {
    case "expired":
      return t("session.expired");
    case "wrong-role":
      return t("session.wrongRole", { role: role ?? "?" });
    case "no-role":
      return t("session.noRole");
    case "signin-refused":
      return t("session.signinRefused", { detail: detail ?? "" });
    case "signin-failed":
      return t("session.signinFailed", { detail: detail ?? "" });
    default:
      return t("session.malformed");
  }
}

/** The bar at the top of a signed-in page, after the link that skips past it to the content. */
export function TopBar(props: {
  t: T;
  title: string;
  session: Session;
  locale: Locale;
  onLocale: (l: Locale) => void;
  onSignOut: () => void;
  children?: ComponentChildren;
}) {
  const { t, session } = props;
  const claims = session.claims;
  return (
    <>
      <a class="skip-link" href="#main">
        {t("app.skip")}
      </a>
      <header class="topbar">
        <span class="topbar__brand">Spontan · {props.title}</span>
        {props.children}
        <div class="topbar__who">
          <span>{t("session.signedInAs", { sub: claims.sub || claims.role })}</span>
          {claims.org && <span> · {t("session.org", { org: claims.org })}</span>}
          <span class="topbar__until"> · {t("session.until", { time: formatTime(new Date(claims.exp * 1000), props.locale) })}</span>
        </div>
        <LanguageSwitch t={t} locale={props.locale} onChange={props.onLocale} />
        <button type="button" class="button button--quiet" onClick={props.onSignOut}>
          {t("session.signOut")}
        </button>
      </header>
    </>
  );
}

/** One problem with a field: in the page's words, with the server's own (English) text as detail. */
export interface Problem {
  text: string;
  detail?: string;
}

/**
 * The problems the server reported for one field; referenced by the input's
 * aria-describedby. `detailLabel` introduces the server's text ("Server:").
 */
export function FieldError({ id, errors, detailLabel }: { id: string; errors?: readonly (string | Problem)[]; detailLabel?: string }) {
  if (!errors || errors.length === 0) return null;
  return (
    <p id={id} class="field__error">
      {errors.map((error, i) => {
        const { text, detail } = typeof error === "string" ? { text: error, detail: undefined } : error;
        return (
          <span key={i}>
            {i > 0 && "; "}
            {text}
            {detail && (
              <span class="field__detail">
                {" "}
                ({detailLabel ? `${detailLabel} ` : ""}
                <span lang="en">{detail}</span>)
              </span>
            )}
          </span>
        );
      })}
    </p>
  );
}

// Pieces both staff pages show: the sign-in page, the top bar with who is signed in, the
// language switch, and the field error next to an input.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import type { AppConfig } from "../lib/config";
import { LOCALES, type Locale } from "../lib/i18n";
import type { SharedKey, Translate } from "./messages";
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

export function SignIn(props: {
  t: T;
  title: string;
  intro: string;
  config: AppConfig | null;
  role: "coordinator" | "dashboard";
  problem?: SessionProblem;
  problemRole?: string;
  locale: Locale;
  onLocale: (l: Locale) => void;
}) {
  const { t, config } = props;
  const [organisation, setOrganisation] = useState(localStorage.getItem("spontan.staff.organisation") ?? "");
  const devHref = `/dev/sign-in?role=${props.role}&organisation=${encodeURIComponent(organisation.trim())}`;
  return (
    <>
      <header class="topbar">
        <span class="topbar__brand">Spontan</span>
        <LanguageSwitch t={t} locale={props.locale} onChange={props.onLocale} />
      </header>
      <main id="main" class="signin">
        <h1>{props.title}</h1>
        <p>{props.intro}</p>
        {props.problem && (
          <p class="notice notice--warn" role="alert">
            {props.problem === "expired"
              ? t("session.expired")
              : props.problem === "wrong-role"
                ? t("session.wrongRole", { role: props.problemRole ?? "?" })
                : t("session.malformed")}
          </p>
        )}
        {config?.oidc ? (
          <section class="card" aria-labelledby="oidc-heading">
            <h2 id="oidc-heading" class="visually-hidden">OpenID Connect</h2>
            <button type="button" class="button button--primary" disabled aria-describedby="oidc-note">
              {t("signin.oidcButton", { issuer: config.oidc.issuer })}
            </button>
            <p id="oidc-note" class="hint">{t("signin.oidcNotYet", { issuer: config.oidc.issuer })}</p>
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

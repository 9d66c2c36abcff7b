// Registration in three screens: "About you" (name, phone or e-mail, birth year), "What you
// can do" (location, radius, skills, languages, availability; all but the location have
// defaults or are optional) and "Consent". The volunteer types or chooses at most five
// things: name, contact, birth year, skills, the consent box (the location comes from the
// device; typing it is the fallback).
import { Code } from "@connectrpc/connect";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { code, fieldViolations, message } from "../lib/errors";
import { useApp, type App, type Screen as ScreenName, type SkillEntry } from "./context";
import {
  STEP_OF,
  clientProblems,
  emptyDraft,
  errorId,
  fieldId,
  fieldOf,
  localInput,
  plainRequest,
  splitContact,
  type Draft,
  type FieldKey,
} from "./form";
import { Sender, clearPending, loadPending, savePending, type Pending } from "./outbox";
import type { Key } from "./messages";
import { FieldErrors, Hint, Notice, Screen, TextField, describedBy, type FieldBinding } from "./ui";
import { skillLabel } from "./format";
import { sessionOf } from "./renew";

export const STEPS: readonly ScreenName[] = ["about", "skills", "consent"];

export type Errors = Partial<Record<FieldKey, string[]>>;

export type Phase = "editing" | "sending" | "waiting";

/** The fields typed as text. */
type TextKey = Exclude<FieldKey, "skills" | "consent">;

export interface Registration {
  draft: Draft;
  errors: Errors;
  /** Problems no field shows (unknown paths, other refusals). */
  general: string[];
  phase: Phase;
  attempts: number;
  /** A field to focus once its step is on screen (from the error summary). */
  focus: FieldKey | null;
  update(patch: Partial<Draft>, field?: FieldKey): void;
  /** The text field `key` of the draft, its errors, and its changes going to `update`. */
  bind(key: TextKey): FieldBinding;
  next(from: 1 | 2): void;
  submit(): void;
  retryNow(): void;
  focusField(key: FieldKey): void;
  focused(): void;
  reset(): void;
}

const LABEL: Record<FieldKey, Key> = {
  name: "field.name",
  contact: "field.contact",
  birthYear: "field.birthYear",
  location: "field.location",
  radius: "field.radius",
  skills: "field.skills",
  languages: "field.languages",
  availableFrom: "field.availableFrom",
  availableUntil: "field.availableUntil",
  consent: "field.consentShort",
};

/** crypto.randomUUID needs a secure context; a LAN address over HTTP gets the fallback. */
function uuid(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The registration's state, kept by the app so it survives a visit to the privacy text. */
export function useRegistration(app: App): Registration {
  const [draft, setDraft] = useState<Draft>(() => loadPending()?.draft ?? emptyDraft());
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string[]>([]);
  const [phase, setPhase] = useState<Phase>("editing");
  const [attempts, setAttempts] = useState(0);
  const [focus, setFocus] = useState<FieldKey | null>(null);
  const sender = useMemo(() => new Sender(app.api.registration), [app.api]);
  const appRef = useRef(app);
  appRef.current = app;

  const clientErrors = (d: Draft, keys?: FieldKey[]): Errors => {
    const t = appRef.current.t;
    const out: Errors = {};
    for (const [key, problem] of Object.entries(clientProblems(d)) as [FieldKey, string][]) {
      if (!keys || keys.includes(key)) out[key] = [t(`problem.${problem}` as Key)];
    }
    return out;
  };

  const showErrors = (found: Errors, other: string[]) => {
    setErrors(found);
    setGeneral(other);
    const keys = Object.keys(found) as FieldKey[];
    const step = keys.length ? Math.min(...keys.map((k) => STEP_OF[k])) : 3;
    appRef.current.go(STEPS[step - 1]);
    const count = keys.reduce((n, k) => n + (found[k]?.length ?? 0), other.length);
    appRef.current.announce(appRef.current.t("summary.title", { count }));
  };

  const run = (pending: Pending) => {
    setPhase("sending");
    setErrors({});
    setGeneral([]);
    setAttempts(0);
    void sender
      .send(pending, (attempt) => {
        setAttempts(attempt);
        setPhase((was) => {
          if (was !== "waiting") appRef.current.announce(appRef.current.t("register.waiting"));
          return "waiting";
        });
      })
      .then((outcome) => {
        const a = appRef.current;
        setPhase("editing");
        if (outcome.ok) {
          const r = outcome.response;
          setDraft(emptyDraft());
          a.signIn(sessionOf(r.volunteerId, r));
          a.announce(a.t("register.done", { name: pending.request.name }));
          return;
        }
        const violations = fieldViolations(outcome.error);
        const found: Errors = {};
        const other: string[] = [];
        for (const [path, descriptions] of Object.entries(violations)) {
          const key = fieldOf(path);
          for (const d of descriptions) {
            if (key) (found[key] ??= []).push(d);
            else other.push(`${path}: ${d}`);
          }
        }
        if (!Object.keys(violations).length) {
          other.push(
            code(outcome.error) === Code.AlreadyExists ? a.t("register.conflict") : a.t("register.refused", { detail: message(outcome.error) }),
          );
        }
        // The window fields must be visible to carry their errors.
        if ((found.availableFrom || found.availableUntil) && !pending.draft.customWindow) {
          const [start, end] = pending.request.windows[0] ?? [Date.now(), Date.now()];
          setDraft({ ...pending.draft, customWindow: true, availableFrom: localInput(start), availableUntil: localInput(end) });
        }
        showErrors(found, other);
      });
  };

  const update = (patch: Partial<Draft>, field?: FieldKey) => {
    setDraft((d) => ({ ...d, ...patch }));
    if (field)
      setErrors((e) => {
        if (!e[field]) return e;
        const { [field]: _, ...rest } = e;
        return rest;
      });
  };

  // A registration saved before the app was closed (or reloaded) is sent again at start.
  useEffect(() => {
    const pending = loadPending();
    if (pending) {
      appRef.current.go("consent");
      run(pending);
    }
  }, []);

  return {
    draft,
    errors,
    general,
    phase,
    attempts,
    focus,
    update,
    bind(key) {
      return { value: draft[key], errors: errors[key], onInput: (value) => update({ [key]: value }, key) };
    },
    next(from) {
      const keys = (Object.keys(STEP_OF) as FieldKey[]).filter((k) => STEP_OF[k] === from);
      const found = clientErrors(draft, keys);
      if (Object.keys(found).length) {
        setErrors((e) => ({ ...e, ...found }));
        appRef.current.announce(appRef.current.t("summary.title", { count: Object.keys(found).length }));
        setFocus(keys.find((k) => found[k]) ?? null);
        return;
      }
      appRef.current.go(STEPS[from]);
    },
    submit() {
      if (phase !== "editing") return;
      const found = clientErrors(draft);
      if (Object.keys(found).length) {
        showErrors(found, []);
        return;
      }
      const pending: Pending = {
        key: uuid(),
        request: plainRequest(draft, appRef.current.config.consentTextVersion),
        draft,
        savedAt: Date.now(),
      };
      savePending(pending);
      run(pending);
    },
    retryNow() {
      sender.retryNow();
    },
    focusField(key) {
      const step = STEPS[STEP_OF[key] - 1];
      setFocus(key);
      appRef.current.go(step);
    },
    focused() {
      setFocus(null);
    },
    reset() {
      clearPending();
      setDraft(emptyDraft());
      setErrors({});
      setGeneral([]);
    },
  };
}

/** All problems, at the top of every step, each leading to its field. */
function Summary(props: { reg: Registration }) {
  const { t } = useApp();
  const { errors, general } = props.reg;
  const entries = (Object.keys(STEP_OF) as FieldKey[]).flatMap((k) => (errors[k] ?? []).map((text) => [k, text] as const));
  const count = entries.length + general.length;
  if (!count) return null;
  return (
    <div class="summary" role="alert" aria-labelledby="summary-title">
      <h2 id="summary-title">{t("summary.title", { count })}</h2>
      <ul>
        {entries.map(([k, text]) => (
          <li key={`${k}:${text}`}>
            <button type="button" class="link" onClick={() => props.reg.focusField(k)}>
              <strong>{t(LABEL[k])}</strong>: {text}
            </button>
          </li>
        ))}
        {general.map((text) => (
          <li key={text}>{text}</li>
        ))}
      </ul>
    </div>
  );
}

function useFocusRequested(reg: Registration) {
  useEffect(() => {
    if (reg.focus) {
      document.getElementById(fieldId(reg.focus))?.focus();
      reg.focused();
    }
  });
}

/** The step's buttons; the primary one submits the step's form (Enter works too). */
function Nav(props: { back?: ScreenName; nextLabel: string }) {
  const { t, go } = useApp();
  return (
    <div class="actions">
      <button type="submit" class="primary">
        {props.nextLabel}
      </button>
      {props.back && (
        <button type="button" class="secondary" onClick={() => go(props.back!)}>
          {t("action.back")}
        </button>
      )}
    </div>
  );
}

export function AboutStep(props: { reg: Registration; farewell: string | null }) {
  const { t } = useApp();
  const { reg } = props;
  useFocusRequested(reg);
  return (
    <Screen title={t("about.title")} kicker={t("step", { n: 1, of: 3 })}>
      {props.farewell && <Notice kind="success">{props.farewell}</Notice>}
      <p class="lead">{t("about.intro")}</p>
      <Summary reg={reg} />
      <form noValidate onSubmit={(e) => (e.preventDefault(), reg.next(1))}>
        <ProfileField k="name" {...reg.bind("name")} />
        <TextField k="contact" label={t("field.contact")} hint={t("hint.contact")} inputMode="email" {...reg.bind("contact")} />
        <ProfileField k="birthYear" {...reg.bind("birthYear")} />
        <Nav nextLabel={t("action.next")} />
      </form>
    </Screen>
  );
}

/** The text fields registration and the profile editor both ask for, as they ask for them. */
const PROFILE_FIELDS = {
  name: { label: "field.name", hint: "hint.name", autoComplete: "name", maxLength: 80 },
  birthYear: { label: "field.birthYear", hint: "hint.birthYear", inputMode: "numeric", autoComplete: "bday-year", maxLength: 4 },
  radius: { label: "field.radius", hint: "hint.radius", inputMode: "decimal" },
  languages: { label: "field.languages", hint: "hint.languages" },
} as const;

/** One of PROFILE_FIELDS. Used by registration and by the profile editor. */
export function ProfileField(props: FieldBinding & { k: keyof typeof PROFILE_FIELDS }) {
  const { t } = useApp();
  const { label, hint, ...input } = PROFILE_FIELDS[props.k];
  return <TextField {...input} {...props} label={t(label)} hint={t(hint)} />;
}

/**
 * "Where you start from": latitude and longitude, typed or from the device ("Use my
 * location"). Used by registration and by the profile editor.
 */
export function LocationField(props: FieldBinding) {
  const { t, announce } = useApp();
  const [locating, setLocating] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const locate = () => {
    if (!("geolocation" in navigator)) {
      setProblem(t("location.unavailable"));
      return;
    }
    setLocating(true);
    setProblem(null);
    announce(t("location.finding"));
    navigator.geolocation.getCurrentPosition(
      (position) => {
        setLocating(false);
        const value = `${position.coords.latitude.toFixed(5)}, ${position.coords.longitude.toFixed(5)}`;
        props.onInput(value);
        announce(t("location.found", { value }));
      },
      () => {
        setLocating(false);
        setProblem(t("location.unavailable"));
        announce(t("location.unavailable"));
      },
      { enableHighAccuracy: false, timeout: 20_000, maximumAge: 600_000 },
    );
  };
  return (
    <TextField
      k="location"
      label={t("field.location")}
      hint={t("hint.location")}
      inputMode="decimal"
      value={props.value}
      errors={props.errors}
      onInput={props.onInput}
    >
      <button type="button" class="secondary locate" onClick={locate} disabled={locating}>
        {locating ? t("location.finding") : t("action.useLocation")}
      </button>
      {problem && <p class="hint">{problem}</p>}
    </TextField>
  );
}

/** Categories in the order a flood needs them; others follow in the server's order. */
const CATEGORY_ORDER = ["physical", "health", "care", "supply", "vehicles", "equipment", "trades", "coordination", "language"];
/** Open at first: the skills most tasks ask for. The others open with a tap, or show in search. */
const OPEN_CATEGORY = "physical";

/**
 * Skills grouped by category (one collapsible group each, so that 50 checkboxes do not make
 * a phone's page endless), with a search box that lists the matching skills of every group.
 */
export function SkillPicker(props: { chosen: string[]; errors?: readonly string[]; onChange: (ids: string[]) => void }) {
  const { t, locale, skills, skillsFailed, loadSkills } = useApp();
  const [query, setQuery] = useState("");
  useEffect(() => {
    if (!skills) loadSkills();
  }, []);
  const errors = props.errors;
  const needle = query.trim().toLowerCase();
  const groups = useMemo(() => {
    const out = new Map<string, NonNullable<typeof skills>>();
    for (const s of skills ?? []) {
      const list = out.get(s.category) ?? [];
      list.push(s);
      out.set(s.category, list);
    }
    const rank = (c: string) => (CATEGORY_ORDER.includes(c) ? CATEGORY_ORDER.indexOf(c) : CATEGORY_ORDER.length);
    return [...out.entries()].sort(([a], [b]) => rank(a) - rank(b));
  }, [skills]);
  const chosen = props.chosen;
  // Which groups start open is decided once: a group must not fold away under the finger
  // when its last skill is unticked.
  const chosenAtStart = useMemo(() => chosen, []);
  const toggle = (id: string, on: boolean) => props.onChange(on ? [...chosen, id] : chosen.filter((s) => s !== id));
  const matches = (s: SkillEntry) =>
    s.labelDe.toLowerCase().includes(needle) || s.labelEn.toLowerCase().includes(needle) || s.id.includes(needle);
  const categoryName = (c: string) => {
    const key = `category.${c}` as Key;
    const text = t(key);
    return text === key ? c : text;
  };
  const box = (s: SkillEntry) => (
    <label key={s.id} class="check">
      <input
        type="checkbox"
        name="skill"
        value={s.id}
        checked={chosen.includes(s.id)}
        onChange={(e) => toggle(s.id, (e.currentTarget as HTMLInputElement).checked)}
      />
      <span>{skillLabel(s, locale)}</span>
    </label>
  );
  const found = needle ? (skills ?? []).filter(matches) : [];
  return (
    <fieldset id={fieldId("skills")} class="group" aria-describedby={describedBy("skills", true, errors)}>
      <legend>{t("field.skills")}</legend>
      <Hint k="skills" text={t("hint.skills", { count: chosen.length })} />
      <FieldErrors k="skills" errors={errors} />
      {!skills && !skillsFailed && <p>{t("skills.loading")}</p>}
      {!skills && skillsFailed && (
        <p>
          {t("skills.failed")}{" "}
          <button type="button" class="secondary" onClick={loadSkills}>
            {t("action.tryAgain")}
          </button>
        </p>
      )}
      {skills && (
        <>
          <div class="field">
            <label for="skill-search">{t("skills.search")}</label>
            <input id="skill-search" type="search" value={query} onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)} />
          </div>
          {needle ? (
            found.length ? (
              <div class="found">{found.map(box)}</div>
            ) : (
              <p>{t("skills.none")}</p>
            )
          ) : (
            groups.map(([category, list]) => {
              const count = list.filter((s) => chosen.includes(s.id)).length;
              const open = category === OPEN_CATEGORY || list.some((s) => chosenAtStart.includes(s.id));
              return (
                <details key={category} class="category" open={open || undefined}>
                  <summary>
                    {categoryName(category)}
                    {count > 0 && <span class="count"> ({t("skills.chosen", { count })})</span>}
                  </summary>
                  {list.map(box)}
                </details>
              );
            })
          )}
        </>
      )}
    </fieldset>
  );
}

function Availability(props: { reg: Registration }) {
  const { t } = useApp();
  const { reg } = props;
  const { draft } = reg;
  return (
    <fieldset class="group">
      <legend>{t("field.availability")}</legend>
      {!draft.customWindow ? (
        <>
          <p>{t("availability.default")}</p>
          <button type="button" class="secondary" onClick={() => reg.update({ customWindow: true, ...windowNow() })}>
            {t("action.changeTimes")}
          </button>
        </>
      ) : (
        <>
          <TextField k="availableFrom" type="datetime-local" label={t("field.availableFrom")} {...reg.bind("availableFrom")} />
          <TextField
            k="availableUntil"
            type="datetime-local"
            label={t("field.availableUntil")}
            hint={t("hint.availableUntil")}
            {...reg.bind("availableUntil")}
          />
          <button type="button" class="secondary" onClick={() => reg.update({ customWindow: false }, "availableFrom")}>
            {t("action.defaultTimes")}
          </button>
        </>
      )}
    </fieldset>
  );
}

function windowNow() {
  const d = emptyDraft();
  return { availableFrom: d.availableFrom, availableUntil: d.availableUntil };
}

export function SkillsStep(props: { reg: Registration }) {
  const { t } = useApp();
  const { reg } = props;
  useFocusRequested(reg);
  return (
    <Screen title={t("skills.title")} kicker={t("step", { n: 2, of: 3 })}>
      <Summary reg={reg} />
      <form noValidate onSubmit={(e) => (e.preventDefault(), reg.next(2))}>
        <LocationField {...reg.bind("location")} />
        <ProfileField k="radius" {...reg.bind("radius")} />
        <SkillPicker chosen={reg.draft.skills} errors={reg.errors.skills} onChange={(skills) => reg.update({ skills }, "skills")} />
        <ProfileField k="languages" {...reg.bind("languages")} />
        <Availability reg={reg} />
        <Nav back="about" nextLabel={t("action.next")} />
      </form>
    </Screen>
  );
}

export function ConsentStep(props: { reg: Registration }) {
  const { t, config, go } = useApp();
  const { reg } = props;
  const { draft, errors, phase } = reg;
  useFocusRequested(reg);
  const contact = splitContact(draft.contact);
  const invalid = !!errors.consent?.length;
  return (
    <Screen title={t("consent.title")} kicker={t("step", { n: 3, of: 3 })}>
      <Summary reg={reg} />
      {phase === "editing" && draft.name.trim() && (
        <p>
          {contact.email
            ? t("consent.recapEmail", { name: draft.name.trim(), address: contact.email })
            : t("consent.recapSms", { name: draft.name.trim(), address: contact.phone })}
        </p>
      )}
      <form noValidate onSubmit={(e) => (e.preventDefault(), reg.submit())}>
        <div class={invalid ? "field invalid" : "field"}>
          <FieldErrors k="consent" errors={errors.consent} />
          <label class="check consent">
            <input
              id={fieldId("consent")}
              type="checkbox"
              checked={draft.consent}
              disabled={phase !== "editing"}
              onChange={(e) => reg.update({ consent: (e.currentTarget as HTMLInputElement).checked }, "consent")}
              aria-invalid={invalid ? "true" : undefined}
              aria-describedby={[invalid ? errorId("consent") : "", "consent-version"].filter(Boolean).join(" ")}
            />
            <span>{t("field.consent")}</span>
          </label>
          <p id="consent-version" class="hint">
            {t("consent.version", { version: config.consentTextVersion })}{" "}
            <a href="#/privacy" onClick={(e) => (e.preventDefault(), go("privacy"))}>
              {t("consent.privacyLink")}
            </a>
          </p>
        </div>
        {phase === "sending" && <Notice kind="info">{t("register.sending")}</Notice>}
        {phase === "waiting" && (
          <div class="notice waiting">
            <p>
              <strong>{t("register.waiting")}</strong>
            </p>
            <p>{t("register.waitingDetail", { attempts: reg.attempts })}</p>
            <button type="button" class="secondary" onClick={reg.retryNow}>
              {t("action.tryNow")}
            </button>
          </div>
        )}
        {phase === "editing" ? (
          <Nav back="skills" nextLabel={t("action.register")} />
        ) : (
          <div class="actions">
            <button type="submit" class="primary" disabled>
              {t("action.register")}
            </button>
          </div>
        )}
      </form>
    </Screen>
  );
}

/** The short privacy text the consent box links to. */
export function PrivacyScreen() {
  const { t, session, go } = useApp();
  return (
    <Screen title={t("privacy.title")}>
      {(["privacy.what", "privacy.who", "privacy.protect", "privacy.rights", "privacy.retention"] as const).map((k) => (
        <p key={k}>{t(k)}</p>
      ))}
      <div class="actions">
        <button type="button" class="secondary" onClick={() => go(session ? "profile" : "consent")}>
          {t("action.back")}
        </button>
      </div>
    </Screen>
  );
}

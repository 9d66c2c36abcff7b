// Changing the profile after registering, loaded with import() when the profile screen
// opens (the first screen does not pay for it):
//   - "Change my details": name, mobile number, e-mail, how offers come (SMS or e-mail), year
//     of birth, starting point, travel radius, skills, languages, through UpdateMyProfile
//     with a field mask of exactly what changed and the profile's `version`. When the
//     profile changed elsewhere meanwhile (ABORTED), it is read again: if none of the fields
//     the volunteer changed were changed there, the change is sent again on the new version;
//     else the form shows the new values around the volunteer's own and asks to check them.
//   - "Change my times": the availability windows, replaced as a whole by SetAvailability.
// The server's field violations (`profile.travel_radius_km`, `availability[1].end_time`, …)
// are shown at their fields, all at once, as in registration.
import { Code } from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { AlertChannel } from "../gen/spontan/v1/common_pb";
import type { VolunteerProfile } from "../gen/spontan/v1/registration_pb";
import { code, fieldViolations } from "../lib/errors";
import { wordsOf } from "../lib/i18n";
import { useApp } from "./context";
import { fieldOf, fieldId, localInput, parseLocation, parseNumber } from "./form";
import { ms, trouble } from "./format";
import type { Key } from "./messages";
import { LocationField, ProfileField, SkillPicker } from "./register";
import { FieldErrors, TextField, describedBy, type FieldBinding } from "./ui";

const en = {
  detailsTitle: "Change your details",
  timesTitle: "Change your times",
  save: "Save changes",
  saving: "Saving…",
  saved: "Your changes are saved.",
  timesSaved: "Your times are saved.",
  nothing: "Nothing was changed.",
  phoneHint: "With country code, e.g. +49 151 12345678. A number without one is taken as German (+49).",
  emailHint: "Leave empty if offers should not come by e-mail.",
  channel: "Offers come by",
  channelPush: "Offers come as notifications on this phone: change that under “Alerts on this phone”.",
  check: "Please check these entries ({count})",
  elsewhere:
    "Your profile was changed on another device while you were editing. The fields you did not change show the new values; please check yours and save again.",
  retried: "Your profile had changed meanwhile; your changes were added to the latest version.",
  window: "Time {n}",
  remove: "Remove time {n}",
  add: "Add a time",
  noTimes: "No times: you receive no offers until you add one.",
  timesHint: "Each time lasts at most 31 days and ends within a year.",
};

const de: Record<keyof typeof en, string> = {
  detailsTitle: "Ihre Angaben ändern",
  timesTitle: "Ihre Zeiten ändern",
  save: "Änderungen speichern",
  saving: "Wird gespeichert…",
  saved: "Ihre Änderungen sind gespeichert.",
  timesSaved: "Ihre Zeiten sind gespeichert.",
  nothing: "Es wurde nichts geändert.",
  phoneHint: "Mit Ländervorwahl, z. B. +49 151 12345678. Eine Nummer ohne gilt als deutsch (+49).",
  emailHint: "Leer lassen, wenn Angebote nicht per E-Mail kommen sollen.",
  channel: "Angebote kommen per",
  channelPush:
    "Angebote kommen als Benachrichtigung auf dieses Telefon: das ändern Sie unter „Benachrichtigungen auf diesem Telefon“.",
  check: "Bitte prüfen Sie diese Angaben ({count})",
  elsewhere:
    "Ihr Profil wurde während der Bearbeitung auf einem anderen Gerät geändert. Die Felder, die Sie nicht geändert haben, zeigen die neuen Werte; bitte prüfen Sie Ihre und speichern Sie noch einmal.",
  retried: "Ihr Profil war inzwischen geändert worden; Ihre Änderungen wurden in die neueste Fassung übernommen.",
  window: "Zeitraum {n}",
  remove: "Zeitraum {n} entfernen",
  add: "Zeitraum hinzufügen",
  noTimes: "Keine Zeiten: Sie erhalten keine Angebote, bis Sie eine hinzufügen.",
  timesHint: "Jeder Zeitraum dauert höchstens 31 Tage und endet innerhalb eines Jahres.",
};

const words = wordsOf({ en, de });

type Errors = Record<string, string[]>;

export interface EditorProps {
  profile: VolunteerProfile;
  /** Saved (or nothing to save): the profile now, and what to tell the volunteer. */
  onDone: (profile: VolunteerProfile, text: string) => void;
  onCancel: () => void;
}

/** A mobile number as typed to E.164 as registration reads it (no country code: German). */
function phoneE164(text: string): string {
  let phone = text.trim().replace(/[\s\-/().]/g, "");
  if (phone.startsWith("00")) phone = `+${phone.slice(2)}`;
  else if (phone.startsWith("0")) phone = `+49${phone.slice(1)}`;
  return phone;
}

interface Details {
  name: string;
  phone: string;
  email: string;
  /** "sms" or "email" when offers come by one of those (the form can switch), else "other". */
  channel: "sms" | "email" | "other";
  birthYear: string;
  location: string;
  radius: string;
  skills: string[];
  languages: string;
}

function detailsOf(p: VolunteerProfile): Details {
  const home = p.homeLocation;
  return {
    name: p.contact?.displayName ?? "",
    phone: p.contact?.phoneE164 ?? "",
    email: p.contact?.email ?? "",
    channel:
      p.preferredAlertChannel === AlertChannel.SMS ? "sms" : p.preferredAlertChannel === AlertChannel.EMAIL ? "email" : "other",
    birthYear: p.birthYear ? String(p.birthYear) : "",
    location: home ? `${home.latitude.toFixed(5)}, ${home.longitude.toFixed(5)}` : "",
    radius: String(p.travelRadiusKm),
    skills: [...p.skillIds],
    languages: p.languages.join(", "),
  };
}

const languageList = (text: string) => text.split(/[\s,;]+/).filter(Boolean);

/**
 * Each updatable field: its mask path, the form's key, and its value in comparable form
 * (what was there, what the form says), so that only changed fields are sent.
 */
const FIELDS: { path: string; key: keyof Details; of: (d: Details) => string }[] = [
  { path: "contact.display_name", key: "name", of: (d) => d.name.trim() },
  { path: "contact.phone_e164", key: "phone", of: (d) => phoneE164(d.phone) },
  { path: "contact.email", key: "email", of: (d) => d.email.trim() },
  { path: "preferred_alert_channel", key: "channel", of: (d) => d.channel },
  { path: "birth_year", key: "birthYear", of: (d) => d.birthYear.trim() },
  {
    path: "home_location",
    key: "location",
    of: (d) => {
      const p = parseLocation(d.location);
      return p ? `${p.latitude.toFixed(5)},${p.longitude.toFixed(5)}` : d.location.trim();
    },
  },
  { path: "travel_radius_km", key: "radius", of: (d) => String(parseNumber(d.radius)) },
  { path: "skill_ids", key: "skills", of: (d) => [...d.skills].sort().join(",") },
  { path: "languages", key: "languages", of: (d) => languageList(d.languages).map((l) => l.toLowerCase()).join(",") },
];

function changedPaths(base: Details, draft: Details): string[] {
  return FIELDS.filter((f) => f.key !== "channel" || draft.channel !== "other")
    .filter((f) => f.of(base) !== f.of(draft))
    .map((f) => f.path);
}

/** The form field a server path of UpdateMyProfile names (`profile.` first), if any. */
function detailsFieldOf(path: string): string | undefined {
  const p = path.replace(/^profile\./, "");
  if (p === "contact.phone_e164" || p === "contact") return "phone";
  if (p === "contact.email") return "email";
  if (p === "preferred_alert_channel" || p.startsWith("channel_addresses")) return "channel";
  const key = fieldOf(p);
  return key === "contact" ? "phone" : key;
}

/** The checks needed to build a request at all; every rule is the server's. */
function clientProblems(d: Details): Partial<Record<keyof Details, Key>> {
  const out: Partial<Record<keyof Details, Key>> = {};
  if (!/^\d{4}$/.test(d.birthYear.trim())) out.birthYear = "problem.yearFormat";
  if (!parseLocation(d.location)) out.location = "problem.locationFormat";
  if (!Number.isFinite(parseNumber(d.radius))) out.radius = "problem.numberFormat";
  return out;
}

/** Focuses the first field with an error once the errors are on screen. */
function useFocusFirst(errors: Errors, order: string[]) {
  const [pending, setPending] = useState(false);
  useEffect(() => {
    if (!pending) return;
    setPending(false);
    const first = order.find((k) => errors[k]?.length);
    if (first) document.getElementById(fieldId(first))?.focus();
  });
  return () => setPending(true);
}

/** All problems at the top of the form, each leading to its field (as in registration). */
function Problems(props: { title: string; errors: Errors; labels: Record<string, string>; general: string[] }) {
  const entries = Object.entries(props.errors).flatMap(([key, texts]) => texts.map((text) => [key, text] as const));
  const count = entries.length + props.general.length;
  if (!count) return null;
  return (
    <div class="summary" role="alert">
      <h3>{props.title.replace("{count}", String(count))}</h3>
      <ul>
        {entries.map(([key, text]) => (
          <li key={`${key}:${text}`}>
            <button type="button" class="link" onClick={() => document.getElementById(fieldId(key))?.focus()}>
              <strong>{props.labels[key] ?? key}</strong>: {text}
            </button>
          </li>
        ))}
        {props.general.map((text) => (
          <li key={text}>{text}</li>
        ))}
      </ul>
    </div>
  );
}

/**
 * What both editors keep: the problems at their fields and above the form, whether they are
 * being saved, and the focus: on the heading when the editor opens, on the first field with a
 * problem (of `order`, from the top) when problems are shown.
 */
function useEditor(order: string[]) {
  const { t } = useApp();
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const focusFirst = useFocusFirst(errors, order);
  useEffect(() => heading.current?.focus(), []);

  const show = (found: Errors, other: string[]) => {
    setErrors(found);
    setGeneral(other);
    focusFirst();
  };

  return {
    errors,
    general,
    busy,
    heading,
    setErrors,
    setGeneral,
    /** Shows problems at their fields and above the form, and focuses the first field with one. */
    show,
    /** The field `key` changed: its problems no longer apply. */
    clear(key: string) {
      setErrors((e) => {
        if (!e[key]) return e;
        const { [key]: _, ...rest } = e;
        return rest;
      });
    },
    /**
     * Saves with `send`. The field violations of a refusal are shown where `place` puts them:
     * at the field `key`, or above the form without one; without any, why it did not work.
     */
    async save(send: () => Promise<void>, place: (path: string, texts: string[]) => { key?: string; texts: string[] }) {
      setBusy(true);
      setErrors({});
      setGeneral([]);
      try {
        await send();
      } catch (error) {
        if (code(error) === Code.Unauthenticated) return;
        const found: Errors = {};
        const other: string[] = [];
        for (const [path, texts] of Object.entries(fieldViolations(error))) {
          const placed = place(path, texts);
          if (placed.key) (found[placed.key] ??= []).push(...placed.texts);
          else other.push(...placed.texts);
        }
        if (!Object.keys(found).length && !other.length) other.push(trouble(t, error));
        show(found, other);
      } finally {
        setBusy(false);
      }
    },
  };
}

/** An editor's form: its heading, all problems, the fields (children), Save and Cancel. */
function EditorForm(props: {
  editor: ReturnType<typeof useEditor>;
  /** The form's id: its heading is `<id>-title`. */
  id: string;
  heading: "h2" | "h3";
  title: string;
  /** The fields' names in the list of problems. */
  labels: Record<string, string>;
  onSubmit: (e: Event) => void;
  onCancel: () => void;
  children: ComponentChildren;
}) {
  const { t, locale } = useApp();
  const w = words(locale);
  const { editor } = props;
  const Heading = props.heading;
  return (
    <form class="editor" noValidate onSubmit={props.onSubmit} aria-labelledby={`${props.id}-title`}>
      <Heading id={`${props.id}-title`} ref={editor.heading} tabIndex={-1}>
        {props.title}
      </Heading>
      <Problems title={w("check")} errors={editor.errors} general={editor.general} labels={props.labels} />
      {props.children}
      <div class="actions">
        <button type="submit" class="primary" disabled={editor.busy}>
          {editor.busy ? w("saving") : w("save")}
        </button>
        <button type="button" class="secondary" disabled={editor.busy} onClick={props.onCancel}>
          {t("action.cancel")}
        </button>
      </div>
    </form>
  );
}

/** "Change my details": the profile's updatable fields. */
export function DetailsEditor(props: EditorProps) {
  const { t, locale, api, guard } = useApp();
  const w = words(locale);
  const [base, setBase] = useState(props.profile);
  const [draft, setDraft] = useState(() => detailsOf(props.profile));
  const editor = useEditor(FIELDS.map((f) => f.key as string));
  const { errors } = editor;

  const set = (patch: Partial<Details>, key: keyof Details) => {
    setDraft((d) => ({ ...d, ...patch }));
    editor.clear(key);
  };
  const bind = (key: Exclude<keyof Details, "channel" | "skills">): FieldBinding => ({
    value: draft[key],
    errors: errors[key],
    onInput: (value) => set({ [key]: value }, key),
  });

  const request = (from: VolunteerProfile, d: Details, paths: string[]) => {
    const home = parseLocation(d.location);
    return {
      profile: {
        version: from.version,
        contact: { displayName: d.name.trim(), phoneE164: phoneE164(d.phone), email: d.email.trim() },
        preferredAlertChannel: d.channel === "sms" ? AlertChannel.SMS : d.channel === "email" ? AlertChannel.EMAIL : undefined,
        birthYear: Number(d.birthYear.trim()),
        homeLocation: home,
        travelRadiusKm: parseNumber(d.radius),
        skillIds: d.skills,
        languages: languageList(d.languages),
      },
      updateMask: { paths },
    };
  };

  const save = (e: Event) => {
    e.preventDefault();
    const local = clientProblems(draft);
    if (Object.keys(local).length) {
      editor.show(Object.fromEntries(Object.entries(local).map(([k, key]) => [k, [t(key as Key)]])), []);
      return;
    }
    const mine = detailsOf(base);
    const paths = changedPaths(mine, draft);
    if (!paths.length) {
      props.onDone(base, w("nothing"));
      return;
    }
    const send = async () => {
      let from = base;
      for (let attempt = 1; ; attempt++) {
        try {
          const r = await guard(api.registration.updateMyProfile(request(from, draft, paths)));
          props.onDone(r.profile ?? from, attempt > 1 ? w("retried") : w("saved"));
          return;
        } catch (error) {
          if (code(error) !== Code.Aborted || attempt >= 3) throw error;
          // Changed elsewhere meanwhile: read it again.
          const fresh = (await guard(api.registration.getMyProfile({}))).profile!;
          const theirs = detailsOf(fresh);
          const clash = FIELDS.filter((f) => paths.includes(f.path) && f.of(theirs) !== f.of(mine));
          if (clash.length) {
            // Both changed the same field: the volunteer decides, seeing the new values.
            const next = { ...theirs };
            for (const f of FIELDS) if (paths.includes(f.path)) (next as Record<string, unknown>)[f.key] = draft[f.key];
            setBase(fresh);
            setDraft(next);
            editor.setGeneral([w("elsewhere")]);
            return;
          }
          from = fresh;
          setBase(fresh);
        }
      }
    };
    void editor.save(send, (path, texts) => {
      const key = detailsFieldOf(path);
      return key && (key !== "channel" || draft.channel !== "other")
        ? { key, texts }
        : { texts: texts.map((text) => `${path.replace(/^profile\./, "")}: ${text}`) };
    });
  };

  const channelErrors = errors.channel;
  return (
    <EditorForm
      editor={editor}
      id="details-edit"
      heading="h2"
      title={w("detailsTitle")}
      labels={{
        name: t("field.name"),
        phone: t("profile.phone"),
        email: t("profile.email"),
        channel: w("channel"),
        birthYear: t("field.birthYear"),
        location: t("field.location"),
        radius: t("field.radius"),
        skills: t("field.skills"),
        languages: t("field.languages"),
      }}
      onSubmit={save}
      onCancel={props.onCancel}
    >
      <ProfileField k="name" {...bind("name")} />
      <TextField k="phone" type="tel" label={t("profile.phone")} hint={w("phoneHint")} inputMode="tel" autoComplete="tel" {...bind("phone")} />
      <TextField k="email" type="email" label={t("profile.email")} hint={w("emailHint")} inputMode="email" autoComplete="email" {...bind("email")} />
      {draft.channel === "other" ? (
        <p>{w("channelPush")}</p>
      ) : (
        <fieldset id={fieldId("channel")} class="group" aria-describedby={describedBy("channel", false, channelErrors)}>
          <legend>{w("channel")}</legend>
          <FieldErrors k="channel" errors={channelErrors} />
          {(["sms", "email"] as const).map((c) => (
            <label key={c} class="check">
              <input
                type="radio"
                name="channel"
                value={c}
                checked={draft.channel === c}
                onChange={() => set({ channel: c }, "channel")}
              />
              <span>{c === "sms" ? t("channel.1") : t("channel.2")}</span>
            </label>
          ))}
        </fieldset>
      )}
      <ProfileField k="birthYear" {...bind("birthYear")} />
      <LocationField {...bind("location")} />
      <ProfileField k="radius" {...bind("radius")} />
      <SkillPicker chosen={draft.skills} errors={errors.skills} onChange={(skills) => set({ skills }, "skills")} />
      <ProfileField k="languages" {...bind("languages")} />
    </EditorForm>
  );
}

interface Row {
  /** Stable across removals, for Preact's keys. */
  id: number;
  start: string;
  end: string;
}

let rowSerial = 0;

/** A new time: tomorrow from 9 to 17, as a likely day of help. */
function newRow(): Row {
  const day = new Date();
  day.setDate(day.getDate() + 1);
  day.setHours(9, 0, 0, 0);
  return { id: ++rowSerial, start: localInput(day.getTime()), end: localInput(day.getTime() + 8 * 3_600_000) };
}

const startKey = (i: number) => `window-${i}-start`;
const endKey = (i: number) => `window-${i}-end`;

/** The form field an `availability[i]…` path names. */
function windowFieldOf(path: string): string | undefined {
  const match = /^availability\[(\d+)\](?:\.(start_time|end_time))?$/.exec(path);
  if (!match) return undefined;
  return match[2] === "end_time" ? endKey(Number(match[1])) : startKey(Number(match[1]));
}

/** "Change my times": every availability window, replaced as a whole (SetAvailability). */
export function AvailabilityEditor(props: EditorProps) {
  const { t, locale, api, guard } = useApp();
  const w = words(locale);
  const now = Date.now();
  // Windows that have ended are not offered for editing (the server refuses them).
  const [rows, setRows] = useState<Row[]>(() =>
    props.profile.availability
      .filter((x) => (ms(x.endTime) ?? 0) > now)
      .map((x) => ({ id: ++rowSerial, start: localInput(ms(x.startTime)!), end: localInput(ms(x.endTime)!) })),
  );
  const editor = useEditor(rows.flatMap((_, i) => [startKey(i), endKey(i)]));
  const { errors } = editor;

  const change = (i: number, patch: Partial<Row>, key: string) => {
    setRows((list) => list.map((r, j) => (j === i ? { ...r, ...patch } : r)));
    editor.clear(key);
  };
  /** The start or the end of the time `i` as a text field. */
  const bind = (i: number, which: "start" | "end") => {
    const key = which === "start" ? startKey(i) : endKey(i);
    return { k: key, value: rows[i][which], errors: errors[key], onInput: (value: string) => change(i, { [which]: value }, key) };
  };
  const remove = (i: number) => {
    setRows((list) => list.filter((_, j) => j !== i));
    // Errors belong to positions: they no longer fit.
    editor.setErrors({});
  };

  const save = (e: Event) => {
    e.preventDefault();
    const local: Errors = {};
    rows.forEach((r, i) => {
      if (Number.isNaN(Date.parse(r.start))) local[startKey(i)] = [t("problem.dateFormat")];
      if (Number.isNaN(Date.parse(r.end))) local[endKey(i)] = [t("problem.dateFormat")];
    });
    if (Object.keys(local).length) {
      editor.show(local, []);
      return;
    }
    const send = async () => {
      const r = await guard(
        api.registration.setAvailability({
          availability: rows.map((row) => ({
            startTime: timestampFromMs(Date.parse(row.start)),
            endTime: timestampFromMs(Date.parse(row.end)),
          })),
        }),
      );
      props.onDone(r.profile ?? props.profile, w("timesSaved"));
    };
    void editor.save(send, (path, texts) => {
      const key = windowFieldOf(path);
      // "overlaps availability[0]": the time as the form names it.
      return key
        ? { key, texts: texts.map((text) => text.replace(/availability\[(\d+)\]/g, (_, i) => w("window", { n: Number(i) + 1 }))) }
        : { texts: texts.map((text) => `${path}: ${text}`) };
    });
  };

  return (
    <EditorForm
      editor={editor}
      id="times-edit"
      heading="h3"
      title={w("timesTitle")}
      labels={Object.fromEntries(
        rows.flatMap((_, i) => [
          [startKey(i), `${w("window", { n: i + 1 })}, ${t("field.availableFrom")}`],
          [endKey(i), `${w("window", { n: i + 1 })}, ${t("field.availableUntil")}`],
        ]),
      )}
      onSubmit={save}
      onCancel={props.onCancel}
    >
      <p class="hint">{w("timesHint")}</p>
      {!rows.length && <p>{w("noTimes")}</p>}
      {rows.map((row, i) => (
        <fieldset key={row.id} class="group">
          <legend id={`window-${row.id}`}>{w("window", { n: i + 1 })}</legend>
          <TextField type="datetime-local" label={t("field.availableFrom")} {...bind(i, "start")} />
          <TextField type="datetime-local" label={t("field.availableUntil")} {...bind(i, "end")} />
          <button type="button" class="secondary" onClick={() => remove(i)}>
            {w("remove", { n: i + 1 })}
          </button>
        </fieldset>
      ))}
      <div class="actions">
        <button type="button" class="secondary" onClick={() => setRows((list) => [...list, newRow()])}>
          {w("add")}
        </button>
      </div>
    </EditorForm>
  );
}

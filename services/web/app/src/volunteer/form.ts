// The registration form: what the volunteer types (a Draft), how it becomes a
// RegisterRequest, and which visible field each of the server's field-violation paths
// belongs to.
//
// Nothing here loads the generated protobuf code: the registration screens are the first a
// volunteer sees and show before it is loaded (lib/lazy.ts). request.ts turns the plain
// request into the protobuf one when it is sent.

/** Everything the volunteer types or chooses, as typed (strings), plus defaults. */
export interface Draft {
  name: string;
  /** A mobile number or an e-mail address: the channel follows from which it is. */
  contact: string;
  birthYear: string;
  /** "lat, lon", typed or filled in by "Use my location". */
  location: string;
  radius: string;
  skills: string[];
  /** BCP 47 tags separated by commas or spaces. */
  languages: string;
  /** False: available from the moment of sending for 7 days. */
  customWindow: boolean;
  /** `datetime-local` values, used when customWindow. */
  availableFrom: string;
  availableUntil: string;
  consent: boolean;
}

export const DEFAULT_RADIUS_KM = 15;
export const DEFAULT_WINDOW_DAYS = 7;

export function browserLanguages(): string {
  const tags: string[] = [];
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = tag.toLowerCase().split("-")[0];
    if (/^[a-z]{2,3}$/.test(base) && !tags.includes(base)) tags.push(base);
  }
  return (tags.length ? tags.slice(0, 3) : ["de"]).join(", ");
}

/** `datetime-local` value of an instant, in the device's time zone. */
export function localInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function emptyDraft(now = Date.now()): Draft {
  return {
    name: "",
    contact: "",
    birthYear: "",
    location: "",
    radius: String(DEFAULT_RADIUS_KM),
    skills: [],
    languages: browserLanguages(),
    customWindow: false,
    availableFrom: localInput(now),
    availableUntil: localInput(now + DEFAULT_WINDOW_DAYS * 86_400_000),
    consent: false,
  };
}

/** The visible fields that server paths map to. */
export type FieldKey =
  | "name"
  | "contact"
  | "birthYear"
  | "location"
  | "radius"
  | "skills"
  | "languages"
  | "availableFrom"
  | "availableUntil"
  | "consent";

/** Which registration step shows each field. */
export const STEP_OF: Record<FieldKey, 1 | 2 | 3> = {
  name: 1,
  contact: 1,
  birthYear: 1,
  location: 2,
  radius: 2,
  skills: 2,
  languages: 2,
  availableFrom: 2,
  availableUntil: 2,
  consent: 3,
};

/** The element id of a field's input (or group) and of its error text. */
export const fieldId = (key: string) => `field-${key}`;
export const errorId = (key: string) => `field-${key}-error`;

/**
 * The field a server path belongs to (`contact.email` → contact, `skill_ids[3]` → skills,
 * `availability[0].end_time` → availableUntil), or undefined for a path no field shows
 * (those go to the summary at the top).
 */
export function fieldOf(path: string): FieldKey | undefined {
  const p = path.replace(/\[\d+\]/g, "[]");
  if (p === "contact.display_name") return "name";
  if (
    p === "contact" ||
    p === "contact.phone_e164" ||
    p === "contact.email" ||
    p === "preferred_alert_channel" ||
    p.startsWith("channel_addresses")
  )
    return "contact";
  if (p === "birth_year") return "birthYear";
  if (p === "home_location" || p.startsWith("home_location.")) return "location";
  if (p === "travel_radius_km") return "radius";
  if (p === "skill_ids" || p === "skill_ids[]") return "skills";
  if (p === "languages" || p === "languages[]") return "languages";
  if (p === "availability[].end_time") return "availableUntil";
  if (p === "availability" || p.startsWith("availability[]")) return "availableFrom";
  if (p === "consent" || p.startsWith("consent.")) return "consent";
  return undefined;
}

/** How offers reach the volunteer: by SMS to the phone or by e-mail (AlertChannel in request.ts). */
export type Channel = "sms" | "email";

/** Contact text to phone or e-mail and the matching alert channel. */
export function splitContact(text: string): { phone: string; email: string; channel: Channel } {
  const value = text.trim();
  if (value.includes("@")) return { phone: "", email: value, channel: "email" };
  let phone = value.replace(/[\s\-/().]/g, "");
  // Spontan is run by German emergency services: a number without a country code is German.
  if (phone.startsWith("00")) phone = `+${phone.slice(2)}`;
  else if (phone.startsWith("0")) phone = `+49${phone.slice(1)}`;
  return { phone, email: "", channel: "sms" };
}

/** "50.7374, 7.0982" (or "50,7374; 7,0982") to degrees; undefined when it is not two numbers. */
export function parseLocation(text: string): { latitude: number; longitude: number } | undefined {
  const value = text.trim();
  const match =
    /^(-?\d+(?:\.\d+)?)\s*[,;\s]\s*(-?\d+(?:\.\d+)?)$/.exec(value) ??
    /^(-?\d+(?:,\d+)?)\s*[;\s]\s*(-?\d+(?:,\d+)?)$/.exec(value);
  if (!match) return undefined;
  const latitude = Number(match[1].replace(",", "."));
  const longitude = Number(match[2].replace(",", "."));
  return Number.isFinite(latitude) && Number.isFinite(longitude) ? { latitude, longitude } : undefined;
}

export function parseNumber(text: string): number {
  const value = text.trim().replace(",", ".");
  return value === "" ? Number.NaN : Number(value);
}

export type ClientProblem =
  | "required"
  | "contactFormat"
  | "yearFormat"
  | "locationFormat"
  | "numberFormat"
  | "dateFormat"
  | "consentRequired";

/**
 * The checks the app makes before sending: only what it needs to build a request at all
 * (something typed, numbers that are numbers). Ranges and rules (age, radius, E.164, consent
 * version, known skills…) are the server's, so what the server refuses always reaches the
 * volunteer from the server, at its field.
 */
export function clientProblems(draft: Draft): Partial<Record<FieldKey, ClientProblem>> {
  const out: Partial<Record<FieldKey, ClientProblem>> = {};
  if (!draft.name.trim()) out.name = "required";
  const contact = draft.contact.trim();
  if (!contact) out.contact = "required";
  else if (!contact.includes("@") && !/^\+?\d+$/.test(splitContact(contact).phone)) out.contact = "contactFormat";
  if (!draft.birthYear.trim()) out.birthYear = "required";
  else if (!/^\d{4}$/.test(draft.birthYear.trim())) out.birthYear = "yearFormat";
  if (!draft.location.trim()) out.location = "required";
  else if (!parseLocation(draft.location)) out.location = "locationFormat";
  if (!Number.isFinite(parseNumber(draft.radius))) out.radius = "numberFormat";
  if (draft.customWindow) {
    if (Number.isNaN(Date.parse(draft.availableFrom))) out.availableFrom = "dateFormat";
    if (Number.isNaN(Date.parse(draft.availableUntil))) out.availableUntil = "dateFormat";
  }
  if (!draft.consent) out.consent = "consentRequired";
  return out;
}

/**
 * What is sent, in plain JSON-able form. Built once when the volunteer presses Register and
 * kept in the outbox, so every retry sends exactly the same request (the server refuses a
 * reused idempotency key with a different request): the default window's "now" is fixed here.
 */
export interface PlainRequest {
  consentVersion: string;
  consent: boolean;
  name: string;
  phone: string;
  email: string;
  /** A number (the AlertChannel value) in records an earlier version of the app kept. */
  channel: Channel | number;
  skills: string[];
  languages: string[];
  birthYear: number;
  location?: { latitude: number; longitude: number };
  radius: number;
  /** [start, end] in epoch milliseconds, whole seconds. */
  windows: [number, number][];
}

export function plainRequest(draft: Draft, consentVersion: string, now = Date.now()): PlainRequest {
  const { phone, email, channel } = splitContact(draft.contact);
  const start = draft.customWindow ? Date.parse(draft.availableFrom) : Math.floor(now / 1000) * 1000;
  const end = draft.customWindow ? Date.parse(draft.availableUntil) : start + DEFAULT_WINDOW_DAYS * 86_400_000;
  return {
    consentVersion,
    consent: draft.consent,
    name: draft.name.trim(),
    phone,
    email,
    channel,
    skills: [...draft.skills],
    languages: draft.languages.split(/[\s,;]+/).filter(Boolean),
    birthYear: Number(draft.birthYear.trim()),
    location: parseLocation(draft.location),
    radius: parseNumber(draft.radius),
    windows: [[start, end]],
  };
}

// Dates, distances and labels in the volunteer's language (Intl, no library).
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { Locale } from "../lib/i18n";
import type { TimeWindow } from "../gen/spontan/v1/common_pb";
import { isTransient, message } from "../lib/errors";
import type { SkillEntry } from "./context";
import type { T } from "./messages";

export function ms(ts: Timestamp | undefined): number | undefined {
  return ts ? Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6) : undefined;
}

const tag = (locale: Locale) => (locale === "de" ? "de-DE" : "en-GB");

export function dateTime(locale: Locale, at: number): string {
  return new Intl.DateTimeFormat(tag(locale), {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  }).format(at);
}

export function time(locale: Locale, at: number): string {
  return new Intl.DateTimeFormat(tag(locale), { hour: "2-digit", minute: "2-digit" }).format(at);
}

export function date(locale: Locale, at: number): string {
  return new Intl.DateTimeFormat(tag(locale), { day: "numeric", month: "long", year: "numeric" }).format(at);
}

/** "Mon 7 Dec, 14:00 – 18:00", or both dates when the window spans days. */
export function timeWindow(locale: Locale, w: TimeWindow | undefined): string {
  const start = ms(w?.startTime);
  const end = ms(w?.endTime);
  if (start === undefined || end === undefined) return "–";
  const sameDay = new Date(start).toDateString() === new Date(end).toDateString();
  return `${dateTime(locale, start)} – ${sameDay ? time(locale, end) : dateTime(locale, end)}`;
}

export function km(locale: Locale, value: number): string {
  return `${new Intl.NumberFormat(tag(locale), { maximumFractionDigits: value < 10 ? 1 : 0 }).format(value)} km`;
}

export function skillLabel(skill: SkillEntry, locale: Locale): string {
  return locale === "de" ? skill.labelDe : skill.labelEn;
}

/**
 * Which of a volunteer's contacts the words name ("mobile number", "e-mail address", or
 * either): the way a code went when known, else the one the profile has (both: either).
 */
export function contactOf(contact: { phoneE164: string; email: string } | undefined, via?: "phone" | "email"): "phone" | "email" | "either" {
  if (via) return via;
  if (contact?.phoneE164 && contact.email) return "either";
  return contact?.email ? "email" : "phone";
}

/** Why a call did not work, for the volunteer: no connection, or the service's own words. */
export function trouble(t: T, error: unknown): string {
  return isTransient(error) ? t("problem.offline") : t("problem.other", { detail: message(error) });
}

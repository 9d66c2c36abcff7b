// Formatting and small conversions shared by the console and the dashboard.
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { MatchState, Priority, TaskStatus } from "../gen/spontan/v1/common_pb";
import type { Locale } from "../lib/i18n";

/** A stable text for comparing requests (bigint-safe JSON). */
export function fingerprint(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v));
}

export function toDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

export function toTimestamp(date: Date): Timestamp {
  return timestampFromDate(date);
}

/** "14:05" today, "Tue 14:05" within a week, else a short date and time. */
export function formatTime(date: Date | undefined, locale: Locale): string {
  if (!date) return "–";
  const now = new Date();
  const sameDay = date.toDateString() === now.toDateString();
  const withinWeek = Math.abs(date.getTime() - now.getTime()) < 6 * 24 * 3600 * 1000;
  const options: Intl.DateTimeFormatOptions = sameDay
    ? { hour: "2-digit", minute: "2-digit" }
    : withinWeek
      ? { weekday: "short", hour: "2-digit", minute: "2-digit" }
      : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(locale === "de" ? "de-DE" : "en-GB", options).format(date);
}

export function formatWindow(start: Date | undefined, end: Date | undefined, locale: Locale): string {
  return `${formatTime(start, locale)} – ${formatTime(end, locale)}`;
}

export function formatNumber(value: number, locale: Locale, fractionDigits = 0): string {
  return new Intl.NumberFormat(locale === "de" ? "de-DE" : "en-GB", {
    maximumFractionDigits: fractionDigits,
    minimumFractionDigits: fractionDigits,
  }).format(value);
}

export function formatPercent(value: number, locale: Locale): string {
  return new Intl.NumberFormat(locale === "de" ? "de-DE" : "en-GB", { style: "percent", maximumFractionDigits: 0 }).format(value);
}

/** The value of a `datetime-local` input for a date, in the browser's time zone. */
export function toLocalInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A `datetime-local` value as a date in the browser's time zone; undefined when empty. */
export function fromLocalInput(value: string): Date | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Lower-case CSS-friendly names, used for classes and colours. */
export const PRIORITY_NAME: Record<Priority, string> = {
  [Priority.UNSPECIFIED]: "unspecified",
  [Priority.CRITICAL]: "critical",
  [Priority.HIGH]: "high",
  [Priority.MEDIUM]: "medium",
  [Priority.LOW]: "low",
};

/** Priority colours of the map, the legend and the task list (WCAG contrast against white text). */
export const PRIORITY_COLOUR: Record<Priority, string> = {
  [Priority.UNSPECIFIED]: "#5f6b76",
  [Priority.CRITICAL]: "#b3261e",
  [Priority.HIGH]: "#b45309",
  [Priority.MEDIUM]: "#1d5fa8",
  [Priority.LOW]: "#4b6b3a",
};

export const PRIORITIES: readonly Priority[] = [Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW];

export const ACTIVE_TASK_STATUSES: readonly TaskStatus[] = [TaskStatus.OPEN, TaskStatus.STAFFED, TaskStatus.IN_PROGRESS];

export function isTaskFinished(status: TaskStatus): boolean {
  return status === TaskStatus.COMPLETED || status === TaskStatus.CANCELLED;
}

/** Match states counted like the task's staffing fields. */
export function countsAsOffered(state: MatchState): boolean {
  return state === MatchState.OFFERED;
}
export function countsAsAccepted(state: MatchState): boolean {
  return state === MatchState.ACCEPTED || state === MatchState.CHECKED_IN || state === MatchState.COMPLETED;
}
export function countsAsCheckedIn(state: MatchState): boolean {
  return state === MatchState.CHECKED_IN || state === MatchState.COMPLETED;
}

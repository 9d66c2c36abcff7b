// The services describe field violations in English ("must be at most 120 characters"). Where
// the console knows the rule behind a description it says it in its own words, in the
// coordinator's language, and keeps the server's text as the detail; an unknown description
// is shown as the server wrote it, so no refusal is ever lost in translation. The rules are
// those of services/task/src/validation.rs.
import type { Locale } from "../lib/i18n";
import type { Problem } from "../shared-staff/components";
import type { Key, T } from "./ui";

type Rule = [pattern: RegExp, key: Key, names?: string[]];

const RULES: Rule[] = [
  [/^is required$/, "violation.required"],
  [/^must be at most (\d+) characters$/, "violation.maxChars", ["max"]],
  [/^must not contain control characters$/, "violation.controlChars"],
  [/^must be between (-?[\d.]+) and (-?[\d.]+) degrees$/, "violation.degrees", ["min", "max"]],
  [/^must be after start_time$/, "violation.endAfterStart"],
  [/^must not be in the past$/, "violation.past"],
  [/^must last at most (\d+) days$/, "violation.maxDays", ["days"]],
  [/^must be within a year from now$/, "violation.withinYear"],
  [/^must list at most (\d+) skills$/, "violation.maxSkills", ["max"]],
  [/^is not a known skill id/, "violation.unknownSkill"],
  [/^is listed twice$/, "violation.twice"],
  [/^is already required; a skill is either required or preferred$/, "violation.requiredAndPreferred"],
  [/^must list at most (\d+) languages$/, "violation.maxLanguages", ["max"]],
  [/^must be a BCP 47 language tag/, "violation.languageTag"],
  [/^is already required; a language is either required or preferred$/, "violation.languageRequiredAndPreferred"],
  [/^must be 0 \(no requirement\) or between (\d+) and (\d+)$/, "violation.minAge", ["min", "max"]],
  [/^must be 0 \(no task limit\) or between ([\d.]+) and ([\d.]+) km$/, "violation.maxDistance", ["min", "max"]],
  [/^must be between ([\d.]+) and ([\d.]+) km$/, "violation.km", ["min", "max"]],
  [/^must be between (\d+) and (\d+)$/, "violation.between", ["min", "max"]],
  [/^is not a known priority$/, "violation.priority"],
  [/^must be at most (\d+) letters, digits/, "violation.organisation", ["max"]],
];

function localNumber(text: string, locale: Locale): string {
  const n = Number(text);
  return Number.isFinite(n) ? n.toLocaleString(locale === "de" ? "de-DE" : "en-GB", { maximumFractionDigits: 6 }) : text;
}

/** A server's field violation in the console's words, with the server's text as detail. */
export function explainViolation(t: T, locale: Locale, description: string): Problem {
  for (const [pattern, key, names] of RULES) {
    const m = pattern.exec(description);
    if (!m) continue;
    const params: Record<string, string> = {};
    names?.forEach((name, i) => {
      params[name] = localNumber(m[i + 1], locale);
    });
    return { text: t(key, params), detail: description };
  }
  return { text: description };
}

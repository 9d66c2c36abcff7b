// Languages a task requires or prefers: BCP 47 tags, named in the console's language by the
// browser (Intl.DisplayNames), so the list needs no dictionary of its own. The server checks
// the tags and stores them in canonical case ("uk", "pt-BR"); matching compares only the
// primary subtag (a task requiring "uk" is met by a volunteer who gave "uk-UA").
import type { Locale } from "../lib/i18n";

/**
 * Languages common among people affected by a disaster in Germany and among those helping:
 * German and English, the languages of the larger groups who came to Germany (Ukrainian,
 * Russian, Arabic, Turkish, Polish, Romanian, Persian, Pashto, Kurdish, Tigrinya, Somali,
 * the languages of the former Yugoslavia, Albanian, Vietnamese …) and the European languages
 * many volunteers speak. Any other tag can be added in the form.
 */
export const COMMON_LANGUAGES: readonly string[] = [
  "de",
  "en",
  "uk",
  "ru",
  "ar",
  "tr",
  "pl",
  "ro",
  "fa",
  "ps",
  "ku",
  "ti",
  "so",
  "fr",
  "es",
  "it",
  "bg",
  "hr",
  "bs",
  "sr",
  "sq",
  "vi",
];

/**
 * A tag in the case the server stores it (language lower, script title, region upper, the
 * rest lower; `_` becomes `-`), without judging it: "PT_br" → "pt-BR", "klingonisch" stays.
 * Whether it is a tag at all is for the server to say, at the field.
 */
export function canonicalCase(tag: string): string {
  const parts = tag.trim().split(/[-_]/);
  return parts
    .map((part, i) => {
      if (i === 0) return part.toLowerCase();
      if (/^[A-Za-z]{4}$/.test(part)) return part[0].toUpperCase() + part.slice(1).toLowerCase();
      if (/^[A-Za-z]{2}$/.test(part)) return part.toUpperCase();
      return part.toLowerCase();
    })
    .join("-");
}

const namers = new Map<Locale, Intl.DisplayNames | null>();

function namer(locale: Locale): Intl.DisplayNames | null {
  if (!namers.has(locale)) {
    let names: Intl.DisplayNames | null = null;
    try {
      names = new Intl.DisplayNames([locale === "de" ? "de-DE" : "en-GB"], { type: "language", fallback: "none" });
    } catch {
      // A browser without Intl.DisplayNames: the tags are shown as they are.
    }
    namers.set(locale, names);
  }
  return namers.get(locale) ?? null;
}

/** The language's name in the console's language ("Ukrainisch"), or undefined when the browser knows none. */
export function knownName(tag: string, locale: Locale): string | undefined {
  try {
    return namer(locale)?.of(tag) ?? undefined;
  } catch {
    // Not a well-formed tag (RangeError): no name.
    return undefined;
  }
}

/** "Ukrainisch", "Portugiesisch (Brasilien)" for pt-BR; the tag itself when the browser knows no name. */
export function languageName(tag: string, locale: Locale): string {
  return knownName(tag, locale) ?? tag;
}

/** Tags sorted by their names in the console's language. */
export function byName(tags: readonly string[], locale: Locale): string[] {
  const collator = new Intl.Collator(locale);
  return [...tags].sort((a, b) => collator.compare(languageName(a, locale), languageName(b, locale)));
}

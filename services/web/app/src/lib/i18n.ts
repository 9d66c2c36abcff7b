// A compiled-in dictionary per page instead of an i18n runtime: a few hundred bytes, and a
// missing key is a type error. The language comes from the browser (German or English), can
// be switched, and is remembered; `dir` follows it so that a right-to-left language
// (Arabic is the likely third) lays out mirrored with the logical CSS properties we use.

export type Locale = "de" | "en";
export const LOCALES: readonly Locale[] = ["de", "en"];
const RTL = new Set(["ar", "fa", "he", "ur"]);
const STORAGE_KEY = "spontan.locale";

export function detectLocale(): Locale {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored === "de" || stored === "en") return stored;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = tag.toLowerCase().split("-")[0];
    if (base === "de" || base === "en") return base;
  }
  return "en";
}

/** Sets `lang` and `dir` on the document and remembers the choice. */
export function applyLocale(locale: string, remember = false): void {
  document.documentElement.lang = locale;
  document.documentElement.dir = RTL.has(locale.split("-")[0]) ? "rtl" : "ltr";
  if (remember) localStorage.setItem(STORAGE_KEY, locale);
}

/**
 * Builds a translator from dictionaries whose keys are checked against each other at
 * compile time: `const t = translator({ en, de }, locale)`.
 */
export function translator<K extends string>(
  dictionaries: Record<Locale, Record<K, string>>,
  locale: Locale,
): (key: K, params?: Record<string, string | number>) => string {
  const dictionary = dictionaries[locale];
  return (key, params) => {
    let text = dictionary[key] ?? dictionaries.en[key] ?? key;
    if (params) for (const [name, value] of Object.entries(params)) text = text.replaceAll(`{${name}}`, String(value));
    return text;
  };
}

/**
 * The translator of a module's own words, for the language in use: `const words =
 * wordsOf({ en, de })`, then `const w = words(locale)`. A module loaded with import() brings
 * its words along, and the first screen does not load them.
 */
export function wordsOf<K extends string>(dictionaries: Record<Locale, Record<K, string>>) {
  return (locale: Locale) => translator(dictionaries, locale);
}

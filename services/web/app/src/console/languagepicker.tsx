// The task form's "Required languages" and "Preferred languages": a checkbox for each of the
// common languages (named in the console's language, sorted by name) and the languages the
// task already names, plus a field for any other BCP 47 tag. One language is either required
// or preferred: ticking it in one list takes it out of the other (the form keeps one choice
// per tag, as for skills). The server judges the tags; a refused one is marked at its box.
import type { Locale } from "../lib/i18n";
import { FieldError } from "../shared-staff/components";
import { byName, canonicalCase, COMMON_LANGUAGES, languageName } from "./languages";
import type { T } from "./ui";
import type { Placed } from "./violations";

export type LanguageChoice = "required" | "preferred";

/** The tags offered in both lists: the common ones by name, then the others in the order they came. */
export function languageOptions(locale: Locale, extras: readonly string[], chosen: Record<string, LanguageChoice>): string[] {
  const others: string[] = [];
  for (const tag of [...extras, ...Object.keys(chosen)]) {
    if (!COMMON_LANGUAGES.includes(tag) && !others.includes(tag)) others.push(tag);
  }
  return [...byName(COMMON_LANGUAGES, locale), ...others];
}

/**
 * `chosen` with the typed tag added as `kind` (the tag in canonical case; an existing tag of
 * another case is reused), and the tag itself; unchanged and undefined when nothing was typed.
 */
export function addTyped(
  chosen: Record<string, LanguageChoice>,
  known: readonly string[],
  kind: LanguageChoice,
  typed: string,
): { chosen: Record<string, LanguageChoice>; tag?: string } {
  const written = canonicalCase(typed);
  if (!written) return { chosen };
  const tag = known.find((k) => k.toLowerCase() === written.toLowerCase()) ?? written;
  return { chosen: { ...chosen, [tag]: kind }, tag };
}

/** An id-safe form of a tag (a tag typed by hand may hold anything). */
const idPart = (tag: string) => tag.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`);

export function LanguagePicker(props: {
  t: T;
  locale: Locale;
  /** The fieldset's id; the server's violations of this list are placed under it. */
  id: string;
  kind: LanguageChoice;
  legend: string;
  hint: string;
  options: readonly string[];
  chosen: Record<string, LanguageChoice>;
  /** Tags of this list the server refused. */
  invalid: ReadonlySet<string>;
  placed: Placed | null;
  other: string;
  onOther: (text: string) => void;
  onToggle: (tag: string, on: boolean) => void;
  onAdd: () => void;
}) {
  const { t, id } = props;
  const errors = props.placed?.byInput[id];
  return (
    <fieldset id={id} class="languages" tabIndex={-1} aria-describedby={`${id}-hint${errors?.length ? ` ${id}-error` : ""}`}>
      <legend>{props.legend}</legend>
      <p id={`${id}-hint`} class="hint">
        {props.hint}
      </p>
      <FieldError id={`${id}-error`} errors={errors} detailLabel={t("common.serverSaid")} />
      <ul class="languages__list">
        {props.options.map((tag) => {
          const inputId = `${id}-${idPart(tag)}`;
          const invalid = props.invalid.has(tag);
          return (
            <li key={tag}>
              <label class={`language${invalid ? " language--invalid" : ""}`} for={inputId}>
                <input
                  type="checkbox"
                  id={inputId}
                  value={tag}
                  data-language={tag}
                  checked={props.chosen[tag] === props.kind}
                  aria-invalid={invalid ? "true" : undefined}
                  onChange={(e) => props.onToggle(tag, (e.target as HTMLInputElement).checked)}
                />
                <span>{languageName(tag, props.locale)}</span>
              </label>
            </li>
          );
        })}
      </ul>
      <div class="languages__other">
        <label for={`${id}-other`}>{t("taskForm.otherLanguage")}</label>
        <div class="row">
          <input
            id={`${id}-other`}
            value={props.other}
            maxLength={35}
            autoComplete="off"
            autoCapitalize="none"
            spellcheck={false}
            onInput={(e) => props.onOther((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              // Enter adds the tag here instead of submitting the whole form.
              if (e.key === "Enter") {
                e.preventDefault();
                props.onAdd();
              }
            }}
          />
          <button type="button" class="button button--small" onClick={props.onAdd}>
            {t("taskForm.addLanguage")}
          </button>
        </div>
      </div>
    </fieldset>
  );
}

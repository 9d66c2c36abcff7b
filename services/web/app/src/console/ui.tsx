// Small building blocks of the console's forms and notices.
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { describeError, explainError } from "../shared-staff/errors";
import { FieldError } from "../shared-staff/components";
import type { KeyOf, Translate } from "../shared-staff/messages";
export { describeError };
import type { dictionaries } from "./messages";
import type { Placed } from "./violations";

export type Key = KeyOf<typeof dictionaries>;
export type T = Translate<Key>;

/** A refusal or failure: in the console's words where it knows the reason, with the server's message as detail. */
export function ErrorNotice({ t, error }: { t: T; error: unknown }) {
  if (!error) return null;
  const { text, detail } = explainError(t, error);
  return (
    <p class="notice notice--error" role="alert">
      {text}
      {detail && (
        <span class="notice__detail">
          {" "}
          ({t("common.serverSaid")} <span lang="en">{detail}</span>)
        </span>
      )}
    </p>
  );
}

/** What was just done, said politely (a status, not an alert). */
export function OkNotice({ text }: { text: string | null }) {
  if (!text) return null;
  return (
    <p class="notice notice--ok" role="status">
      {text}
    </p>
  );
}

/** The list of everything the server refused, first in the form; focused when it appears. */
export function ErrorSummary({ t, placed }: { t: T; placed: Placed | null }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (placed?.summary.length) ref.current?.focus();
  }, [placed]);
  if (!placed?.summary.length) return null;
  return (
    <div class="notice notice--error" role="alert" tabIndex={-1} ref={ref} data-testid="violations">
      <p>{t("form.invalid", { count: placed.summary.length })}</p>
      <ul>
        {placed.summary.map((item, i) => (
          <li key={i}>
            {item.inputId ? <a href={`#${item.inputId}`}>{item.label}</a> : <span>{item.label}</span>}: {item.problem.text}
            {/* Not placed at a field: the server's text only here. */}
            {!item.inputId && item.problem.detail && (
              <span class="notice__detail">
                {" "}
                ({t("common.serverSaid")} <span lang="en">{item.problem.detail}</span>)
              </span>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function Field(props: {
  t: T;
  id: string;
  label: string;
  hint?: string;
  placed: Placed | null;
  children: ComponentChildren;
}) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && (
        <span id={`${props.id}-hint`} class="hint">
          {props.hint}
        </span>
      )}
      <FieldError id={`${props.id}-error`} errors={props.placed?.byInput[props.id]} detailLabel={props.t("common.serverSaid")} />
    </div>
  );
}

/** A form's buttons: submit (`label`, "Saving…" while `busy`) and Cancel. */
export function FormActions(props: { t: T; label: string; busy: boolean; onCancel: () => void }) {
  return (
    <div class="row">
      <button type="submit" class="button button--primary" disabled={props.busy}>
        {props.busy ? props.t("form.saving") : props.label}
      </button>
      <button type="button" class="button button--quiet" onClick={props.onCancel}>
        {props.t("common.cancel")}
      </button>
    </div>
  );
}

/** A number input's value: NaN when empty or not a number (the server says what is wrong). */
export function numberValue(value: string): number {
  return value.trim() === "" ? Number.NaN : Number(value.replace(",", "."));
}

/** An unsigned 32-bit integer for the wire: empty, negative or invalid become 0 (refused by the server where 0 is not allowed). */
export function uint32(value: string): number {
  const n = Math.trunc(numberValue(value));
  return Number.isFinite(n) && n > 0 ? Math.min(n, 0xffffffff) : 0;
}

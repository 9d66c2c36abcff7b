// Small building blocks shared by the volunteer screens.
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { errorId, fieldId, type FieldKey } from "./form";

/**
 * One screen: its single h1, which takes the focus when the screen appears, so that a screen
 * reader starts reading there and a keyboard user continues from the top.
 */
export function Screen(props: { title: string; kicker?: string; children: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
  }, []);
  useEffect(() => {
    document.title = `${props.title} – Spontan`;
  }, [props.title]);
  return (
    <>
      {props.kicker && <p class="kicker">{props.kicker}</p>}
      <h1 ref={heading} tabIndex={-1}>
        {props.title}
      </h1>
      {props.children}
    </>
  );
}

/** The ids an input is described by: its hint and, when there are any, its errors. */
export function describedBy(key: FieldKey, hint: boolean, errors: readonly string[] | undefined) {
  const ids = [hint ? `${fieldId(key)}-hint` : "", errors?.length ? errorId(key) : ""].filter(Boolean);
  return ids.length ? ids.join(" ") : undefined;
}

export function FieldErrors(props: { k: FieldKey; errors: readonly string[] | undefined }) {
  if (!props.errors?.length) return null;
  return (
    <div id={errorId(props.k)} class="field-error">
      {props.errors.map((e) => (
        <p key={e}>{e}</p>
      ))}
    </div>
  );
}

export function Hint(props: { k: FieldKey; text?: string }) {
  return props.text ? (
    <p id={`${fieldId(props.k)}-hint`} class="hint">
      {props.text}
    </p>
  ) : null;
}

export interface TextFieldProps {
  k: FieldKey;
  label: string;
  hint?: string;
  errors?: readonly string[];
  value: string;
  onInput: (value: string) => void;
  type?: string;
  inputMode?: "text" | "numeric" | "decimal" | "email" | "tel" | "search";
  autoComplete?: string;
  maxLength?: number;
  children?: ComponentChildren;
}

export function TextField(p: TextFieldProps) {
  const invalid = !!p.errors?.length;
  return (
    <div class={invalid ? "field invalid" : "field"}>
      <label for={fieldId(p.k)}>{p.label}</label>
      <Hint k={p.k} text={p.hint} />
      <FieldErrors k={p.k} errors={p.errors} />
      <input
        id={fieldId(p.k)}
        name={p.k}
        type={p.type ?? "text"}
        inputMode={p.inputMode}
        autoComplete={p.autoComplete ?? "off"}
        maxLength={p.maxLength}
        value={p.value}
        onInput={(e) => p.onInput((e.currentTarget as HTMLInputElement).value)}
        aria-invalid={invalid ? "true" : undefined}
        aria-describedby={describedBy(p.k, !!p.hint, p.errors)}
      />
      {p.children}
    </div>
  );
}

/** A message box; `alert` for problems (announced at once), else a polite status. */
export function Notice(props: { kind: "info" | "success" | "problem"; children: ComponentChildren }) {
  return (
    <div class={`notice ${props.kind}`} role={props.kind === "problem" ? "alert" : "status"}>
      {props.children}
    </div>
  );
}

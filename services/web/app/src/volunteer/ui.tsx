// Small building blocks shared by the volunteer screens.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { errorId, fieldId } from "./form";

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
export function describedBy(key: string, hint: boolean, errors: readonly string[] | undefined) {
  const ids = [hint ? `${fieldId(key)}-hint` : "", errors?.length ? errorId(key) : ""].filter(Boolean);
  return ids.length ? ids.join(" ") : undefined;
}

export function FieldErrors(props: { k: string; errors: readonly string[] | undefined }) {
  if (!props.errors?.length) return null;
  return (
    <div id={errorId(props.k)} class="field-error">
      {props.errors.map((e) => (
        <p key={e}>{e}</p>
      ))}
    </div>
  );
}

export function Hint(props: { k: string; text?: string }) {
  return props.text ? (
    <p id={`${fieldId(props.k)}-hint`} class="hint">
      {props.text}
    </p>
  ) : null;
}

/** A text field's part of its form: the value, its errors, and what typing in it changes. */
export interface FieldBinding {
  value: string;
  errors?: readonly string[];
  onInput: (value: string) => void;
}

export interface TextFieldProps extends FieldBinding {
  /** The field's key: its input's id is `field-<k>` (form.ts, fieldId). */
  k: string;
  label: string;
  hint?: string;
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

/**
 * A module loaded with import() once `when` is true (code the first screen does not need:
 * the profile editor, alerts on this phone, the QR decoder). Returns the module once it is
 * there, and whether loading failed (offline before it was ever loaded); `retry` tries again.
 */
export function useLazy<M>(load: () => Promise<M>, when = true): { module: M | null; failed: boolean; retry: () => void } {
  const [module, setModule] = useState<M | null>(null);
  const [failed, setFailed] = useState(false);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (!when || module) return;
    let live = true;
    load().then(
      (m) => live && (setModule(() => m), setFailed(false)),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [when, attempt]);
  return { module, failed, retry: () => setAttempt((n) => n + 1) };
}

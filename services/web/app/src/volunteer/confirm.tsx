// "Confirm your mobile number / e-mail": the profile's card while the contact is not
// confirmed, loaded with import() when the profile screen shows an unconfirmed profile (a
// confirmed volunteer never loads it).
//
// SendContactCode sends a 6-digit code by SMS or e-mail (a choice only when the profile has
// both); the answer's address, mostly hidden, is said ("We sent a code to +49 ••• 7766") and
// the focus moves to the code field. ConfirmContact takes the code; its answer, the profile
// with `contact_confirmed_at`, goes back to the profile screen, which shows a small
// "confirmed" line instead of this card. "Send a new code" waits for `resend_after`, with a
// countdown beside it.
//
// Refusals, in the app's words where the volunteer can act on them:
//   - `code` (INVALID_ARGUMENT): at the field. The words follow what was typed (nothing, not
//     six digits, or six wrong ones); the number of tries left is read from the violation's
//     description ("…; 3 tries left", ConfirmContact's contract), whose English is not shown.
//   - CODE_EXPIRED: at the field, "ask for a new one".
//   - RESOURCE_EXHAUSTED: when a new code can be asked for (RetryInfo), above the buttons; a
//     code sent a moment ago may still be on its way, so the field is shown too.
//   - `channel` (INVALID_ARGUMENT: the address is no longer in the profile): the profile is
//     read again.
//   - CONTACT_ALREADY_CONFIRMED (confirmed on another device): the profile is read again.
//   - no connection, UNAVAILABLE (the text could not be handed over): trouble(), and the other
//     way when there is one.
import { Code } from "@connectrpc/connect";
import { useEffect, useRef, useState } from "preact/hooks";
import { AlertChannel } from "../gen/spontan/v1/common_pb";
import type { SendContactCodeResponse, VolunteerProfile } from "../gen/spontan/v1/registration_pb";
import { code, fieldViolations, reason, retryAfter } from "../lib/errors";
import { wordsOf } from "../lib/i18n";
import { useApp } from "./context";
import { fieldId } from "./form";
import { contactOf, dateTime, ms, time, trouble } from "./format";
import { Notice, TextField } from "./ui";

const en = {
  titlePhone: "Confirm your mobile number",
  titleEmail: "Confirm your e-mail address",
  titleEither: "Confirm your mobile number or e-mail address",
  intro: "We send a 6-digit code to your {contact}. Type it in here to show that it is yours.",
  required: "You receive offers only once it is confirmed.",
  by: "Send the code by",
  bySms: "Text message to {address}",
  byEmail: "E-mail to {address}",
  send: "Send code",
  sending: "Sending…",
  sent: "We sent a code to {address}.",
  sentUntil: "It works until {time}.",
  label: "Confirmation code",
  hintSms: "The 6 digits from the text message.",
  hintEmail: "The 6 digits from the e-mail.",
  confirm: "Confirm",
  checking: "Checking…",
  resend: "Send a new code",
  wait: "You can ask for a new code in {time}.",
  empty: "Enter the 6-digit code we sent.",
  format: "The code has 6 digits.",
  wrong: "That is not the code we sent.",
  wrongOne: "That is not the code we sent. 1 try left.",
  wrongMany: "That is not the code we sent. {n} tries left.",
  expired: "This code no longer works: ask for a new one.",
  soon: "A code was sent a moment ago. Enter it below, or ask for a new one in {time}.",
  later: "You have asked for too many codes. You can ask for a new one at {time}.",
  limit: "You have asked for too many codes. Please try again later.",
  gone: "Your profile has changed: please check the address and send the code again.",
  already: "Your contact is already confirmed.",
  orEmail: "You can also have it sent by e-mail.",
  orSms: "You can also have it sent by text message.",
};

const de: Record<keyof typeof en, string> = {
  titlePhone: "Bestätigen Sie Ihre Handynummer",
  titleEmail: "Bestätigen Sie Ihre E-Mail-Adresse",
  titleEither: "Bestätigen Sie Ihre Handynummer oder E-Mail-Adresse",
  intro: "Wir schicken einen 6-stelligen Code an Ihre {contact}. Geben Sie ihn hier ein, um zu zeigen, dass sie Ihnen gehört.",
  required: "Angebote erhalten Sie erst, wenn sie bestätigt ist.",
  by: "Den Code schicken per",
  bySms: "SMS an {address}",
  byEmail: "E-Mail an {address}",
  send: "Code schicken",
  sending: "Wird geschickt…",
  sent: "Wir haben einen Code an {address} geschickt.",
  sentUntil: "Er gilt bis {time}.",
  label: "Bestätigungscode",
  hintSms: "Die 6 Ziffern aus der SMS.",
  hintEmail: "Die 6 Ziffern aus der E-Mail.",
  confirm: "Bestätigen",
  checking: "Wird geprüft…",
  resend: "Neuen Code schicken",
  wait: "Einen neuen Code können Sie in {time} anfordern.",
  empty: "Geben Sie den 6-stelligen Code ein, den wir geschickt haben.",
  format: "Der Code hat 6 Ziffern.",
  wrong: "Das ist nicht der Code, den wir geschickt haben.",
  wrongOne: "Das ist nicht der Code, den wir geschickt haben. Noch 1 Versuch.",
  wrongMany: "Das ist nicht der Code, den wir geschickt haben. Noch {n} Versuche.",
  expired: "Dieser Code gilt nicht mehr: fordern Sie einen neuen an.",
  soon: "Eben wurde ein Code geschickt. Geben Sie ihn unten ein, oder fordern Sie in {time} einen neuen an.",
  later: "Sie haben zu viele Codes angefordert. Einen neuen können Sie um {time} anfordern.",
  limit: "Sie haben zu viele Codes angefordert. Bitte versuchen Sie es später noch einmal.",
  gone: "Ihr Profil hat sich geändert: bitte prüfen Sie die Adresse und schicken Sie den Code noch einmal.",
  already: "Ihr Kontakt ist schon bestätigt.",
  orEmail: "Sie können ihn sich auch per E-Mail schicken lassen.",
  orSms: "Sie können ihn sich auch per SMS schicken lassen.",
};

const words = wordsOf({ en, de });

type Way = AlertChannel.SMS | AlertChannel.EMAIL;

/** The ways a code can go to this profile: SMS with a mobile number, e-mail with an address. */
function waysOf(profile: VolunteerProfile): Way[] {
  const ways: Way[] = [];
  if (profile.contact?.phoneE164) ways.push(AlertChannel.SMS);
  if (profile.contact?.email) ways.push(AlertChannel.EMAIL);
  return ways;
}

/** "0:45": minutes and seconds left. */
function countdown(msLeft: number): string {
  const s = Math.max(0, Math.ceil(msLeft / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The clock, ticking every second while `active`. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

/** The tries left that a wrong code's description names ("…; 3 tries left"), if it does. */
function triesLeft(descriptions: readonly string[]): number | undefined {
  for (const text of descriptions) {
    if (/used up|new one/i.test(text)) return 0;
    const found = /(\d+)\s+tr(?:y|ies)\s+left/i.exec(text);
    if (found) return Number(found[1]);
  }
  return undefined;
}

interface Sent {
  channel: AlertChannel;
  sentTo: string;
  expiresAt?: number;
}

export interface ConfirmCardProps {
  profile: VolunteerProfile;
  /** Confirmed: the profile now, and the contact the code went to. */
  onConfirmed: (profile: VolunteerProfile, via: "phone" | "email") => void;
  /** Read the profile again (it changed elsewhere, or was confirmed there). */
  onStale: () => void;
  /** Take the focus when shown (the offers screen's "Confirm now" led here). */
  focus?: boolean;
}

export function ConfirmCard(props: ConfirmCardProps) {
  const { t, locale, api, guard, announce } = useApp();
  const w = words(locale);
  const p = props.profile;
  const ways = waysOf(p);
  const [way, setWay] = useState<Way>(() =>
    p.preferredAlertChannel === AlertChannel.EMAIL && ways.includes(AlertChannel.EMAIL) ? AlertChannel.EMAIL : ways[0] ?? AlertChannel.SMS,
  );
  const [sent, setSent] = useState<Sent | null>(null);
  const [showField, setShowField] = useState(false);
  const [resendAt, setResendAt] = useState(0);
  const [value, setValue] = useState("");
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState<null | "send" | "confirm">(null);
  const [focusField, setFocusField] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  // The clock ticks only while a countdown shows; in between it may be stale.
  const now = Math.max(useNow(showField && resendAt > Date.now()), Date.now());
  const waiting = resendAt > now;
  const chosen = ways.includes(way) ? way : ways[0];

  useEffect(() => {
    if (!props.focus) return;
    heading.current?.focus();
    heading.current?.scrollIntoView({ block: "start" });
  }, []);
  // Once the field is on screen (after sending, or after a refusal at it).
  useEffect(() => {
    if (!focusField) return;
    setFocusField(false);
    document.getElementById(fieldId("confirm-code"))?.focus();
  }, [focusField]);

  const title = w(ways.length === 2 ? "titleEither" : chosen === AlertChannel.EMAIL ? "titleEmail" : "titlePhone");
  const other = ways.length === 2 ? (chosen === AlertChannel.SMS ? w("orEmail") : w("orSms")) : "";

  const send = async () => {
    setBusy("send");
    setProblem(null);
    setFieldError(null);
    try {
      const r: SendContactCodeResponse = await guard(api.registration.sendContactCode({ channel: chosen }));
      setSent({ channel: r.channel, sentTo: r.sentTo, expiresAt: ms(r.expiresAt) });
      // The server's clock; a phone whose clock is off learns the real wait from a refusal
      // (RetryInfo is relative), below.
      setResendAt(ms(r.resendAfter) ?? Date.now() + 60_000);
      setValue("");
      setShowField(true);
      setFocusField(true);
      announce(w("sent", { address: r.sentTo }));
    } catch (error) {
      if (code(error) === Code.Unauthenticated) return;
      const why = reason(error);
      if (code(error) === Code.ResourceExhausted) {
        const delay = retryAfter(error);
        let text = w("limit");
        if (delay !== undefined) {
          const at = Date.now() + delay;
          setResendAt(at);
          const sameDay = new Date(at).toDateString() === new Date().toDateString();
          text =
            delay <= 120_000
              ? w("soon", { time: countdown(delay) })
              : w("later", { time: sameDay ? time(locale, at) : dateTime(locale, at) });
        }
        // A code asked for a moment ago (before a reload, on another device) still works.
        setShowField(true);
        setProblem(text);
      } else if (why === "CONTACT_ALREADY_CONFIRMED") {
        setProblem(w("already"));
        props.onStale();
      } else if (fieldViolations(error)["channel"]) {
        setProblem(w("gone"));
        props.onStale();
      } else {
        setProblem(other ? `${trouble(t, error)} ${other}` : trouble(t, error));
      }
    } finally {
      setBusy(null);
    }
  };

  const confirm = async (e: Event) => {
    e.preventDefault();
    setBusy("confirm");
    setProblem(null);
    setFieldError(null);
    const typed = value.replace(/\s+/g, "");
    try {
      const r = await guard(api.registration.confirmContact({ code: value }));
      props.onConfirmed(r.profile ?? p, (sent?.channel ?? chosen) === AlertChannel.EMAIL ? "email" : "phone");
    } catch (error) {
      if (code(error) === Code.Unauthenticated) return;
      const violations = fieldViolations(error)["code"];
      let text: string | null = null;
      if (reason(error) === "CODE_EXPIRED") text = w("expired");
      else if (violations) {
        const left = triesLeft(violations);
        text = !typed
          ? w("empty")
          : !/^\d{6}$/.test(typed)
            ? w("format")
            : left === 0
              ? w("expired")
              : left === 1
                ? w("wrongOne")
                : left !== undefined
                  ? w("wrongMany", { n: left })
                  : w("wrong");
      }
      if (text) {
        setFieldError(text);
        announce(text);
        setFocusField(true);
      } else {
        setProblem(trouble(t, error));
      }
    } finally {
      setBusy(null);
    }
  };

  const hint = (sent?.channel ?? chosen) === AlertChannel.EMAIL ? w("hintEmail") : w("hintSms");
  return (
    <section class="confirm" aria-labelledby="confirm-title">
      <h2 id="confirm-title" ref={heading} tabIndex={-1}>
        {title}
      </h2>
      <p>
        {w("intro", { contact: t(`contact.${contactOf(p.contact)}`) })}
        {p.contactConfirmationRequired && (
          <>
            {" "}
            <strong>{w("required")}</strong>
          </>
        )}
      </p>
      {ways.length === 2 && (
        <fieldset class="group">
          <legend>{w("by")}</legend>
          {ways.map((x) => (
            <label key={x} class="check">
              <input
                type="radio"
                name="confirm-way"
                checked={chosen === x}
                disabled={busy !== null}
                onChange={() => setWay(x)}
              />
              <span>
                {x === AlertChannel.SMS
                  ? w("bySms", { address: p.contact?.phoneE164 ?? "" })
                  : w("byEmail", { address: p.contact?.email ?? "" })}
              </span>
            </label>
          ))}
        </fieldset>
      )}
      {sent && (
        <p class="sent">
          {w("sent", { address: sent.sentTo })}{" "}
          {sent.expiresAt !== undefined && w("sentUntil", { time: time(locale, sent.expiresAt) })}
        </p>
      )}
      {problem && <Notice kind="problem">{problem}</Notice>}
      {!showField && (
        <div class="actions">
          <button type="button" class="primary" disabled={busy !== null} onClick={send}>
            {busy === "send" ? w("sending") : w("send")}
          </button>
        </div>
      )}
      {showField && (
        <form noValidate onSubmit={confirm}>
          <TextField
            k="confirm-code"
            label={w("label")}
            hint={hint}
            inputMode="numeric"
            autoComplete="one-time-code"
            value={value}
            errors={fieldError ? [fieldError] : undefined}
            onInput={(text) => {
              setValue(text);
              setFieldError(null);
            }}
          />
          <div class="actions">
            <button type="submit" class="primary" disabled={busy !== null}>
              {busy === "confirm" ? w("checking") : w("confirm")}
            </button>
            <button
              type="button"
              class="secondary"
              disabled={busy !== null || waiting}
              aria-describedby={waiting ? "confirm-wait" : undefined}
              onClick={send}
            >
              {busy === "send" ? w("sending") : w("resend")}
            </button>
          </div>
          {waiting && (
            <p id="confirm-wait" class="hint">
              {w("wait", { time: countdown(resendAt - now) })}
            </p>
          )}
        </form>
      )}
    </section>
  );
}

// Messages to an incident's volunteers (RegistrationService.SendVolunteerMessage and
// ListVolunteerMessages): a short text to the volunteers of one task, or of every task of the
// incident, whose matches are accepted or on site; "essential" also reaches those who opted
// out of messages. Below the form, the messages sent, newest first, with their delivery,
// refreshed while any delivery is pending.
//
// The message id is the idempotency key: the same text to the same volunteers keeps its id
// until it went out (IdempotencyKeys), so sending again after no answer came never delivers
// it twice; a changed message, or the next one after a success, gets a new id.
import { Code } from "@connectrpc/connect";
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import type { VolunteerMessage } from "../gen/spontan/v1/registration_pb";
import type { Task } from "../gen/spontan/v1/task_pb";
import { code, fieldViolations, isTransient, retryAfter } from "../lib/errors";
import { fingerprint, formatTime, isTaskFinished, toDate } from "../shared-staff/format";
import { usePolling } from "../shared-staff/hooks";
import { IdempotencyKeys } from "../shared-staff/ids";
import type { ConsoleProps } from "./incidents";
import { explainViolation } from "./servertext";
import { ErrorNotice, Field, OkNotice, type T } from "./ui";
import { describe, placeViolations, type Placed } from "./violations";

/** The longest message, in characters (services/registration/src/messages.rs). */
const MAX_CHARS = 500;
const TEXT_ID = "message-text";
const TO_ID = "message-to";
const REFRESH_MS = 5000;

/** Characters as the service counts them: trimmed, composed, by code point. */
const length = (text: string) => [...text.trim().normalize("NFC")].length;

export function VolunteerMessages(props: ConsoleProps & { incidentId: string; tasks: Task[] | null; open: boolean }) {
  const { t, api, incidentId } = props;
  const [text, setText] = useState("");
  const [to, setTo] = useState("");
  const [essential, setEssential] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [placed, setPlaced] = useState<Placed | null>(null);
  /** A refusal the console words itself (rate limit, no answer). */
  const [problem, setProblem] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [messages, setMessages] = useState<VolunteerMessage[] | null>(null);
  const [listError, setListError] = useState<unknown>(null);
  const [keys] = useState(() => new IdempotencyKeys());
  const textInput = useRef<HTMLTextAreaElement>(null);
  const sendButton = useRef<HTMLButtonElement>(null);
  const confirmButton = useRef<HTMLButtonElement>(null);
  /** Set when the confirmation is dismissed: the keyboard goes back to Send once it is shown again. */
  const backToSend = useRef(false);

  const load = async () => {
    try {
      const response = await api.registration.listVolunteerMessages({ incidentId });
      setMessages(response.messages);
      setListError(null);
    } catch (e) {
      if (!props.onAuthError(e)) setListError(e);
    }
  };
  // Loaded once, then again every few seconds only while some delivery is pending.
  const pending = messages?.some((m) => (m.delivery?.pending ?? 0) > 0) ?? false;
  usePolling(
    async () => {
      if (messages === null || pending) await load();
    },
    REFRESH_MS,
    [api, incidentId, pending],
  );

  // Right after the DOM changes (not after paint): the keyboard never lands on the page.
  useLayoutEffect(() => {
    if (confirming) confirmButton.current?.focus();
    else if (backToSend.current) sendButton.current?.focus();
    backToSend.current = false;
  }, [confirming]);

  const taskTitle = (taskId: string) => props.tasks?.find((x) => x.taskId === taskId)?.title;
  // Tasks still running, and the chosen one even when it has just finished (never switched to
  // the whole incident behind the coordinator's back).
  const choosable = props.tasks?.filter((x) => !isTaskFinished(x.status) || x.taskId === to) ?? [];
  const label = t("messaging.text");
  const count = length(text);

  const fieldProblem = (problemText: string): Placed => ({
    byInput: { [TEXT_ID]: [{ text: problemText }] },
    summary: [{ inputId: TEXT_ID, label, problem: { text: problemText } }],
  });

  /** A changed message: asked anew, and the refusals of the last one no longer stand at its fields. */
  const edited = () => {
    setConfirming(false);
    setNotice(null);
    setPlaced(null);
  };

  const clear = () => {
    setPlaced(null);
    setProblem(null);
    setError(null);
    setNotice(null);
  };

  const submit = () => {
    clear();
    const n = length(text);
    if (n === 0 || n > MAX_CHARS) {
      setPlaced(fieldProblem(n === 0 ? t("violation.required") : t("violation.maxChars", { max: MAX_CHARS })));
      textInput.current?.focus();
      return;
    }
    if (to === "" || essential) setConfirming(true);
    else void send();
  };

  const send = async () => {
    setConfirming(false);
    clear();
    setBusy(true);
    const request = { incidentId, taskId: to, text, essential };
    try {
      // The service trims the text: a space more or less is the same message, with the same id.
      const messageId = keys.for(fingerprint({ ...request, text: text.trim().normalize("NFC") }));
      const response = await api.registration.sendVolunteerMessage({ ...request, messageId });
      keys.reset();
      setText("");
      setEssential(false);
      const sent = response.message;
      const recipients = sent?.delivery?.recipients ?? 0;
      setNotice(recipients > 0 ? t("messaging.sent", { count: recipients }) : t("messaging.sentNobody"));
      if (sent) setMessages((list) => [sent, ...(list ?? []).filter((m) => m.messageId !== sent.messageId)]);
      void load();
    } catch (e) {
      if (props.onAuthError(e)) return;
      const where = placeViolations(fieldViolations(e), { [TEXT_ID]: [label, ["text"]], [TO_ID]: [t("messaging.to"), ["task_id"]] }, "", (_path, d) =>
        explainViolation(t, props.locale, d),
      );
      if (code(e) === Code.InvalidArgument && where.summary.length > 0 && where.summary.every((x) => x.inputId)) {
        setPlaced(where);
        (where.byInput[TEXT_ID] ? textInput.current : document.getElementById(TO_ID))?.focus();
      } else if (code(e) === Code.ResourceExhausted) {
        const minutes = Math.max(1, Math.ceil((retryAfter(e) ?? 60_000) / 60_000));
        setProblem(t("messaging.rateLimited", { minutes }));
      } else if (isTransient(e)) {
        setProblem(t("messaging.noAnswer"));
      } else setError(e);
    } finally {
      setBusy(false);
    }
  };

  const cancelConfirm = () => {
    backToSend.current = true;
    setConfirming(false);
  };

  const confirmText =
    to === ""
      ? t(essential ? "messaging.confirmIncidentEssential" : "messaging.confirmIncident")
      : t("messaging.confirmEssential", { title: taskTitle(to) ?? to });

  return (
    <section class="card messaging" aria-labelledby="messaging-heading">
      <h2 id="messaging-heading">{t("messaging.title")}</h2>
      {props.open && (
        <form
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            if (!busy && !confirming) submit();
          }}
        >
          <p class="hint">{t("messaging.explain")}</p>
          <Field t={t} id={TEXT_ID} label={label} hint={t("messaging.counter", { count, max: MAX_CHARS })} placed={placed}>
            <textarea
              id={TEXT_ID}
              ref={textInput}
              rows={4}
              value={text}
              class={count > MAX_CHARS ? "messaging__over" : undefined}
              onInput={(e) => {
                setText((e.target as HTMLTextAreaElement).value);
                edited();
              }}
              {...describe(placed, TEXT_ID, true)}
            />
          </Field>
          <Field t={t} id={TO_ID} label={t("messaging.to")} placed={placed}>
            <select
              id={TO_ID}
              value={to}
              onChange={(e) => {
                setTo((e.target as HTMLSelectElement).value);
                edited();
              }}
              {...describe(placed, TO_ID)}
            >
              <option value="">{t("messaging.toIncident")}</option>
              {choosable.map((task) => (
                <option key={task.taskId} value={task.taskId}>
                  {task.title}
                </option>
              ))}
            </select>
          </Field>
          <label class="check messaging__essential">
            <input
              type="checkbox"
              checked={essential}
              onChange={(e) => {
                setEssential((e.target as HTMLInputElement).checked);
                edited();
              }}
            />{" "}
            {t("messaging.essential")}
          </label>
          {confirming ? (
            <div
              class="notice notice--warn"
              role="alertdialog"
              aria-labelledby="messaging-confirm-text"
              onKeyDown={(e) => {
                if (e.key === "Escape") cancelConfirm();
              }}
            >
              <p id="messaging-confirm-text">{confirmText}</p>
              <div class="row">
                <button type="button" class={`button button--primary${essential ? " button--danger" : ""}`} ref={confirmButton} onClick={() => void send()}>
                  {t("messaging.confirmYes")}
                </button>
                <button type="button" class="button button--quiet" onClick={cancelConfirm}>
                  {t("messaging.confirmNo")}
                </button>
              </div>
            </div>
          ) : (
            <div class="row">
              <button type="submit" class="button button--primary" ref={sendButton} disabled={busy}>
                {busy ? t("messaging.sending") : t("messaging.send")}
              </button>
            </div>
          )}
        </form>
      )}
      <OkNotice text={notice} />
      {problem && (
        <p class="notice notice--error" role="alert">
          {problem}
        </p>
      )}
      <ErrorNotice t={t} error={error} />
      <SentMessages t={t} locale={props.locale} messages={messages} error={listError} taskTitle={taskTitle} />
    </section>
  );
}

function SentMessages(props: {
  t: T;
  locale: ConsoleProps["locale"];
  messages: VolunteerMessage[] | null;
  error: unknown;
  taskTitle: (taskId: string) => string | undefined;
}) {
  const { t, messages } = props;
  return (
    <>
      <h3 id="messaging-sent-heading" class="messaging__heading">
        {t("messaging.list")}
      </h3>
      <p class="hint">{t("messaging.listHint")}</p>
      <ErrorNotice t={t} error={props.error} />
      {messages === null && !props.error && <p>{t("common.loading")}</p>}
      {messages?.length === 0 && <p>{t("messaging.empty")}</p>}
      {!!messages?.length && (
        <ol class="messaging__list" aria-labelledby="messaging-sent-heading">
          {messages.map((m) => {
            const sentAt = toDate(m.sentAt);
            const target = m.taskId ? (props.taskTitle(m.taskId) ?? t("messaging.unknownTask", { id: m.taskId.slice(0, 8) })) : t("messaging.wholeIncident");
            const d = m.delivery;
            const parts = d
              ? [t("messaging.delivery", { sent: d.sent, recipients: d.recipients, pending: d.pending, failed: d.failed, optedOut: d.optedOut })]
              : [];
            if (d && d.skipped > 0) parts.push(t("messaging.skipped", { skipped: d.skipped }));
            return (
              <li key={m.messageId} class="messaging__item" data-message-id={m.messageId} data-task-id={m.taskId}>
                <div class="row">
                  <time dateTime={sentAt?.toISOString()} title={sentAt?.toLocaleString(props.locale === "de" ? "de-DE" : "en-GB")}>
                    {formatTime(sentAt, props.locale)}
                  </time>
                  <span class="messaging__to">{t("messaging.toLabel", { target })}</span>
                  {m.essential && <span class="status messaging__badge">{t("messaging.essentialBadge")}</span>}
                </div>
                <p class="pre messaging__text">{m.text}</p>
                <p
                  class="hint messaging__delivery"
                  data-recipients={d?.recipients ?? 0}
                  data-pending={d?.pending ?? 0}
                  data-sent={d?.sent ?? 0}
                  data-failed={d?.failed ?? 0}
                  data-opted-out={d?.optedOut ?? 0}
                  data-skipped={d?.skipped ?? 0}
                >
                  {d && d.recipients === 0 ? t("messaging.nobody") : parts.join(" · ")}
                </p>
              </li>
            );
          })}
        </ol>
      )}
    </>
  );
}

// Who is coming to one task, and who was there: the matches from
// MatchingService.GetTaskStaffing (with the finished ones, refreshed while shown). On site the
// coordinator confirms arrivals in person (CheckIn without a code), checks volunteers out
// (CheckOut) and marks those who never came (CompleteMatch NO_SHOW, after a confirmation);
// hours on site are shown per match and summed for the task. For accepted or checked-in
// matches the volunteer's contact is shown on request: every lookup is written to the audit
// trail by the registration service, and the console says so next to the data.
import { useEffect, useRef, useState } from "preact/hooks";
import { MatchState } from "../gen/spontan/v1/common_pb";
import type { Contact } from "../gen/spontan/v1/registration_pb";
import { MatchOutcome, type GetTaskStaffingResponse, type Match } from "../gen/spontan/v1/matching_pb";
import type { Locale } from "../lib/i18n";
import { formatNumber, formatTime, toDate } from "../shared-staff/format";
import type { ConsoleProps } from "./incidents";
import { languageName } from "./languages";
import { ErrorNotice, type T } from "./ui";

/** Matches worth a row: open, on-site work and its outcome. */
const SHOWN = new Set([
  MatchState.PROPOSED,
  MatchState.OFFERED,
  MatchState.ACCEPTED,
  MatchState.CHECKED_IN,
  MatchState.COMPLETED,
  MatchState.NO_SHOW,
]);

/** "2 h 05 min", "12 min", "under 1 min". */
export function formatDuration(t: T, hours: number, locale: Locale): string {
  const minutes = Math.floor(hours * 60 + 1e-9);
  if (minutes < 1) return t("onsite.underMinute");
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h === 0) return t("onsite.minutes", { m });
  return t("onsite.hoursMinutes", { h: formatNumber(h, locale), m: String(m).padStart(2, "0") });
}

/** Hours on site so far: recorded at check-out, else running since check-in. */
function hoursOf(match: Match, now: number): number {
  if (match.hoursOnSite > 0 || match.checkedOutAt) return match.hoursOnSite;
  const since = toDate(match.checkedInAt);
  return since && match.state === MatchState.CHECKED_IN ? Math.max(0, (now - since.getTime()) / 3_600_000) : 0;
}

/** Ticks every 30 s while someone is on site, so running times move. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function Matches(props: ConsoleProps & { staffing: GetTaskStaffingResponse | null; onChanged: () => void }) {
  const { t, staffing, locale } = props;
  const [showEarlier, setShowEarlier] = useState(false);
  const onSite = staffing?.matches.filter((m) => m.state === MatchState.CHECKED_IN) ?? [];
  const now = useNow(onSite.length > 0);
  if (!staffing) return <p>{t("common.loading")}</p>;
  const shown = staffing.matches.filter((m) => SHOWN.has(m.state));
  const earlier = staffing.matches.filter((m) => !SHOWN.has(m.state));
  const finished = staffing.matches.filter((m) => m.state === MatchState.COMPLETED);
  const recorded = finished.reduce((sum, m) => sum + m.hoursOnSite, 0);
  const running = onSite.reduce((sum, m) => sum + hoursOf(m, now), 0);
  return (
    <>
      {finished.length + onSite.length > 0 && (
        <p class="onsite-total" data-testid="hours-total" data-hours={recorded}>
          <strong>{t("onsite.total")}</strong> {formatDuration(t, recorded, locale)}{" "}
          <span class="hint">
            {t("onsite.totalDetail", { out: finished.length, on: onSite.length })}
            {onSite.length > 0 && ` ${t("onsite.running", { time: formatDuration(t, running, locale) })}`}
          </span>
        </p>
      )}
      {shown.length === 0 && <p class="hint">{t("staffing.noMatches")}</p>}
      <ul class="matches">
        {(showEarlier ? [...shown, ...earlier] : shown).map((match) => (
          <MatchRow key={match.matchId} {...props} match={match} now={now} />
        ))}
      </ul>
      {earlier.length > 0 && (
        <button type="button" class="button button--small button--quiet" aria-expanded={showEarlier} onClick={() => setShowEarlier(!showEarlier)}>
          {showEarlier ? t("staffing.hideEarlier") : t("staffing.showEarlier", { count: earlier.length })}
        </button>
      )}
    </>
  );
}

/** The task's languages the volunteer speaks, from the match's explanation: required ones first. */
function MatchedLanguages(props: { t: T; locale: Locale; requiredLanguagesMatched: string[]; preferredLanguagesMatched: string[] }) {
  const { t, locale } = props;
  const names = [
    ...props.requiredLanguagesMatched.map((tag) => t("staffing.languageRequired", { name: languageName(tag, locale) })),
    ...props.preferredLanguagesMatched.map((tag) => t("staffing.languagePreferred", { name: languageName(tag, locale) })),
  ];
  if (names.length === 0) return null;
  return (
    <p class="hint" data-testid="languages-matched">
      {t("staffing.languages", { languages: names.join(", ") })}
    </p>
  );
}

type Action = "check-in" | "check-out" | "no-show" | "contact";

function MatchRow(props: ConsoleProps & { match: Match; now: number; onChanged: () => void }) {
  const { t, api, match, locale } = props;
  const [contact, setContact] = useState<Contact | null>(null);
  const [busy, setBusy] = useState<Action | null>(null);
  const [confirmNoShow, setConfirmNoShow] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const contactAllowed = match.state === MatchState.ACCEPTED || match.state === MatchState.CHECKED_IN;
  const rowId = `match-${match.matchId}`;
  const keepButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (confirmNoShow) keepButton.current?.focus();
  }, [confirmNoShow]);

  const run = async (action: Action, call: () => Promise<unknown>) => {
    setBusy(action);
    setError(null);
    try {
      await call();
      if (action !== "contact") props.onChanged();
    } catch (e) {
      if (!props.onAuthError(e)) setError(e);
    } finally {
      setBusy(null);
    }
  };

  const checkedIn = toDate(match.checkedInAt);
  const checkedOut = toDate(match.checkedOutAt);
  const hours = hoursOf(match, props.now);

  return (
    <li id={rowId} class={`match match--${MatchState[match.state].toLowerCase().replace("_", "-")}`} data-match-id={match.matchId} data-state={MatchState[match.state].toLowerCase()}>
      <div class="row">
        <span class="match__ref">{match.volunteerRef}</span>
        <span class="status">{t(`matchState.${match.state}` as "matchState.1")}</span>
        {match.state === MatchState.OFFERED && match.expiresAt && (
          <span class="hint">{t("staffing.expires", { time: formatTime(toDate(match.expiresAt), locale) })}</span>
        )}
        <span class="spacer" />
        {match.state === MatchState.ACCEPTED && !confirmNoShow && (
          <>
            <button
              type="button"
              class="button button--small"
              disabled={!!busy}
              onClick={() => void run("check-in", () => api.matching.checkIn({ matchId: match.matchId }))}
            >
              {t("staffing.checkIn")}
            </button>
            <button type="button" class="button button--small button--quiet" disabled={!!busy} onClick={() => setConfirmNoShow(true)}>
              {t("onsite.noShow")}
            </button>
          </>
        )}
        {match.state === MatchState.CHECKED_IN && (
          <button
            type="button"
            class="button button--small"
            disabled={!!busy}
            onClick={() => void run("check-out", () => api.matching.checkOut({ matchId: match.matchId }))}
          >
            {t("onsite.checkOut")}
          </button>
        )}
        {contactAllowed && !contact && (
          <button
            type="button"
            class="button button--small"
            disabled={!!busy}
            aria-describedby={`audit-${match.matchId}`}
            onClick={() =>
              void run("contact", async () => {
                // The grant is matching's word that the match is accepted: registration answers with
                // it even before the acceptance event has reached it (docs/api.md).
                const response = await api.registration.getVolunteerContact({
                  matchId: match.matchId,
                  contactGrant: match.contactGrant,
                });
                setContact(response.contact ?? null);
              })
            }
          >
            {t("staffing.showContact")}
          </button>
        )}
      </div>
      {checkedIn && (
        <p class="hint match__hours" data-hours={hours}>
          {checkedOut
            ? t("onsite.was", { from: formatTime(checkedIn, locale), to: formatTime(checkedOut, locale), duration: formatDuration(t, hours, locale) })
            : t("onsite.since", { from: formatTime(checkedIn, locale), duration: formatDuration(t, hours, locale) })}
        </p>
      )}
      {confirmNoShow && match.state === MatchState.ACCEPTED && (
        <div class="notice notice--warn" role="alertdialog" aria-labelledby={`${rowId}-no-show`}>
          <p id={`${rowId}-no-show`}>{t("onsite.noShowConfirm", { ref: match.volunteerRef })}</p>
          <div class="row">
            <button
              type="button"
              class="button button--small button--danger button--primary"
              disabled={!!busy}
              onClick={() =>
                void run("no-show", async () => {
                  await api.matching.completeMatch({ matchId: match.matchId, outcome: MatchOutcome.NO_SHOW });
                  setConfirmNoShow(false);
                })
              }
            >
              {t("onsite.noShowYes")}
            </button>
            <button type="button" class="button button--small button--quiet" ref={keepButton} onClick={() => setConfirmNoShow(false)}>
              {t("onsite.noShowNo")}
            </button>
          </div>
        </div>
      )}
      {match.explanation?.summary && <p class="hint">{t("staffing.explanation", { summary: match.explanation.summary })}</p>}
      {match.explanation && <MatchedLanguages t={t} locale={locale} {...match.explanation} />}
      {contactAllowed && !contact && (
        <p id={`audit-${match.matchId}`} class="visually-hidden">
          {t("staffing.contactAudited")}
        </p>
      )}
      {contact && (
        <div class="contact" role="region" aria-label={t("staffing.contactFor", { ref: match.volunteerRef })}>
          <p class="contact__audit">{t("staffing.contactAudited")}</p>
          <p class="contact__name">{contact.displayName}</p>
          {contact.phoneE164 && (
            <p>
              {t("staffing.phone")}: <a href={`tel:${contact.phoneE164}`}>{contact.phoneE164}</a>
            </p>
          )}
          {contact.email && (
            <p>
              {t("staffing.email")}: <a href={`mailto:${contact.email}`}>{contact.email}</a>
            </p>
          )}
        </div>
      )}
      <ErrorNotice t={t} error={error} />
    </li>
  );
}

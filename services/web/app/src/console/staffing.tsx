// Who is coming to one task: the matches from MatchingService.GetTaskStaffing (refreshed while
// shown), and for accepted or checked-in ones the volunteer's contact on request. Every
// contact lookup is written to the audit trail by the registration service; the console says
// so next to the data.
import { useState } from "preact/hooks";
import { MatchState } from "../gen/spontan/v1/common_pb";
import type { Contact } from "../gen/spontan/v1/registration_pb";
import type { GetTaskStaffingResponse, Match } from "../gen/spontan/v1/matching_pb";
import { formatTime, toDate } from "../shared-staff/format";
import type { ConsoleProps } from "./incidents";
import { ErrorNotice } from "./ui";

export function Matches(props: ConsoleProps & { staffing: GetTaskStaffingResponse | null; onChanged: () => void }) {
  const { t, staffing } = props;
  if (!staffing) return <p>{t("common.loading")}</p>;
  if (staffing.matches.length === 0) return <p class="hint">{t("staffing.noMatches")}</p>;
  return (
    <ul class="matches">
      {staffing.matches.map((match) => (
        <MatchRow key={match.matchId} {...props} match={match} />
      ))}
    </ul>
  );
}

function MatchRow(props: ConsoleProps & { match: Match; onChanged: () => void }) {
  const { t, api, match, locale } = props;
  const [contact, setContact] = useState<Contact | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const contactAllowed = match.state === MatchState.ACCEPTED || match.state === MatchState.CHECKED_IN;

  const showContact = async () => {
    setBusy(true);
    setError(null);
    try {
      const response = await api.registration.getVolunteerContact({ matchId: match.matchId });
      setContact(response.contact ?? null);
    } catch (e) {
      if (!props.onAuthError(e)) setError(e);
    } finally {
      setBusy(false);
    }
  };

  const checkIn = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.matching.checkIn({ matchId: match.matchId });
      props.onChanged();
    } catch (e) {
      if (!props.onAuthError(e)) setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <li class={`match match--${MatchState[match.state].toLowerCase()}`}>
      <div class="row">
        <span class="match__ref">{match.volunteerRef}</span>
        <span class="status">{t(`matchState.${match.state}` as "matchState.1")}</span>
        {match.state === MatchState.OFFERED && match.expiresAt && (
          <span class="hint">{t("staffing.expires", { time: formatTime(toDate(match.expiresAt), locale) })}</span>
        )}
        <span class="spacer" />
        {match.state === MatchState.ACCEPTED && (
          <button type="button" class="button button--small" disabled={busy} onClick={() => void checkIn()}>
            {t("staffing.checkIn")}
          </button>
        )}
        {contactAllowed && !contact && (
          <button
            type="button"
            class="button button--small"
            disabled={busy}
            aria-describedby={`audit-${match.matchId}`}
            onClick={() => void showContact()}
          >
            {t("staffing.showContact")}
          </button>
        )}
      </div>
      {match.explanation?.summary && <p class="hint">{t("staffing.explanation", { summary: match.explanation.summary })}</p>}
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

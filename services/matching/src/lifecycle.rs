//! The volunteer's and coordinator's side of the lifecycle: answering offers, checking in,
//! closing matches. Each runs in one transaction that locks the task first, then the match
//! (the order every writer uses), so "the first `headcount` acceptances staff the task" holds
//! across replicas.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use spontan_platform::ApiError;
use spontan_platform::auth::grant::ContactGrant;
use spontan_platform::auth::{Principal, Role};
use spontan_platform::ids::{MatchId, TaskId, VolunteerId};
use spontan_proto::v1::{self as pb, MatchCancelReason, MatchOutcome, OfferDecision};
use uuid::Uuid;

use crate::check_in;
use crate::domain::{MatchState, Task};
use crate::events;
use crate::matcher::Matcher;
use crate::reasons;
use crate::store::{self, MatchOwner, MatchRow};

/// Database errors as the caller sees them; a deadlock or serialisation failure with a
/// concurrent writer (a consumer cancelling the same matches) is ABORTED: retry.
pub fn db(error: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(e) = &error
        && matches!(e.code().as_deref(), Some("40P01" | "40001"))
    {
        return ApiError::Aborted("a concurrent change of the match, retry".into());
    }
    ApiError::from(error)
}

/// What the caller sees after an answer.
pub struct Answered {
    pub row: MatchRow,
    pub task: Task,
}

/// RespondToOffer.
pub async fn respond(
    matcher: &Matcher,
    volunteer_id: VolunteerId,
    match_id: MatchId,
    decision: OfferDecision,
    decline_reason: i32,
) -> Result<Answered, ApiError> {
    let mut tx = matcher.pool.begin().await.map_err(db)?;
    let pre = store::match_by_id(&mut tx, match_id.uuid())
        .await
        .map_err(db)?;
    let Some(pre) = pre.filter(|m| m.volunteer_id == volunteer_id.uuid()) else {
        return Err(ApiError::NotFound("match"));
    };
    let task = store::lock_task(&mut tx, pre.task_id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound("task"))?;
    let m = store::lock_match(&mut tx, match_id.uuid())
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound("match"))?;
    let state = m.state;
    let overdue = state == MatchState::Offered && m.expires_at.is_some_and(|e| e <= Utc::now());
    // An answer in time to an open offer, for the answer-time histogram once committed.
    let answered = match (state, decision) {
        (MatchState::Offered, OfferDecision::Accept) if !overdue => Some("accepted"),
        (MatchState::Offered, OfferDecision::Decline) if !overdue => Some("declined"),
        _ => None,
    }
    .zip(m.offered_at);
    let mut rematch = false;
    let result = match (decision, state) {
        (OfferDecision::Accept, MatchState::Accepted)
        | (OfferDecision::Decline, MatchState::Declined) => Ok(m),
        (_, MatchState::Expired) => Err(ApiError::precondition(
            reasons::OFFER_EXPIRED,
            "the offer expired",
        )),
        (_, MatchState::Cancelled) => Err(ApiError::precondition(
            reasons::OFFER_WITHDRAWN,
            "the offer was withdrawn",
        )),
        (_, MatchState::Offered) if overdue => {
            events::transition(&mut tx, &matcher.topic, &m, MatchState::Expired, 0, 0)
                .await
                .map_err(db)?;
            rematch = true;
            Err(ApiError::precondition(
                reasons::OFFER_EXPIRED,
                "the offer expired",
            ))
        }
        (OfferDecision::Accept, MatchState::Offered) => {
            let counts = store::task_counts(&mut tx, task.id).await.map_err(db)?;
            if counts.accepted >= i64::from(task.headcount) {
                let staffed = MatchCancelReason::TaskStaffed as i32;
                events::transition(
                    &mut tx,
                    &matcher.topic,
                    &m,
                    MatchState::Cancelled,
                    0,
                    staffed,
                )
                .await
                .map_err(db)?;
                Err(ApiError::precondition(
                    reasons::TASK_STAFFED,
                    "the task is fully staffed",
                ))
            } else {
                let accepted =
                    events::transition(&mut tx, &matcher.topic, &m, MatchState::Accepted, 0, 0)
                        .await
                        .map_err(db)?;
                if counts.accepted + 1 >= i64::from(task.headcount) {
                    matcher
                        .cancel_matches(
                            &mut tx,
                            MatchOwner::Task,
                            task.id,
                            &[MatchState::Proposed, MatchState::Offered],
                            MatchCancelReason::TaskStaffed,
                            |_| false,
                        )
                        .await
                        .map_err(db)?;
                }
                Ok(accepted)
            }
        }
        (OfferDecision::Decline, MatchState::Offered | MatchState::Accepted) => {
            let declined = events::transition(
                &mut tx,
                &matcher.topic,
                &m,
                MatchState::Declined,
                decline_reason,
                0,
            )
            .await
            .map_err(db)?;
            rematch = true;
            Ok(declined)
        }
        _ => Err(ApiError::precondition(
            reasons::MATCH_FINISHED,
            "the match can no longer be answered",
        )),
    };
    tx.commit().await.map_err(db)?;
    if let Some((answer, offered_at)) = answered {
        crate::metrics::offer_answered(offered_at, answer);
    }
    if rematch {
        matcher.rematch_later(vec![task.id]);
    }
    result.map(|row| Answered { row, task })
}

/// CheckIn: the match's volunteer with the task's current check-in code, a coordinator of
/// the task's organisation, or an admin (who confirm in person and need no code).
pub async fn check_in(
    matcher: &Matcher,
    caller: &Principal,
    match_id: MatchId,
    code: &str,
) -> Result<MatchRow, ApiError> {
    let (mut tx, pre, by_volunteer) =
        open(matcher, caller, match_id, Callers::VolunteerOrStaff).await?;
    if by_volunteer && pre.state == MatchState::Accepted {
        verify_code(matcher, &mut tx, &pre, code).await?;
    }
    let m = lock(&mut tx, &pre).await?;
    let row = match m.state {
        MatchState::CheckedIn => m,
        MatchState::Accepted => {
            let row = events::transition(&mut tx, &matcher.topic, &m, MatchState::CheckedIn, 0, 0)
                .await
                .map_err(db)?;
            if !by_volunteer {
                audit_match(&mut tx, caller, &row, "match.checked_in").await?;
            }
            row
        }
        _ => {
            return Err(ApiError::precondition(
                reasons::MATCH_NOT_ACCEPTED,
                "only an accepted match can be checked in",
            ));
        }
    };
    tx.commit().await.map_err(db)?;
    Ok(row)
}

/// Audits a staff member's change of one match, in its transaction.
async fn audit_match(
    tx: &mut sqlx::PgConnection,
    caller: &Principal,
    row: &MatchRow,
    action: &'static str,
) -> Result<(), ApiError> {
    store::audit(
        tx,
        caller,
        store::Audited {
            organisation_id: &row.organisation_id,
            incident_id: row.incident_id,
            action,
            match_id: Some(row.id),
            details: serde_json::json!({ "task_id": row.task_id, "state": row.state.as_str() }),
        },
    )
    .await
    .map_err(db)
}

/// Who may act on a match.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Callers {
    /// Its volunteer, a coordinator of the task's organisation, or an admin.
    VolunteerOrStaff,
    /// A coordinator of the task's organisation, or an admin.
    Staff,
}

/// Begins the transaction of an action on one match and checks the caller. Another
/// volunteer's match is NOT_FOUND to a volunteer: they never learn whether it exists. Returns
/// whether the caller is the match's own volunteer. Nothing is locked yet (see [`lock`]).
async fn open(
    matcher: &Matcher,
    caller: &Principal,
    match_id: MatchId,
    callers: Callers,
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, MatchRow, bool), ApiError> {
    let mut tx = matcher.pool.begin().await.map_err(db)?;
    let pre = store::match_by_id(&mut tx, match_id.uuid())
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound("match"))?;
    let by_volunteer = match caller.role {
        Role::Volunteer
            if callers == Callers::VolunteerOrStaff
                && caller.subject == pre.volunteer_id.to_string() =>
        {
            true
        }
        Role::Volunteer if callers == Callers::VolunteerOrStaff => {
            return Err(ApiError::NotFound("match"));
        }
        _ => {
            caller.require_coordinator_of(&pre.organisation_id)?;
            false
        }
    };
    Ok((tx, pre, by_volunteer))
}

/// Locks the match's task, then the match: the order every writer uses.
async fn lock(tx: &mut sqlx::PgConnection, pre: &MatchRow) -> Result<MatchRow, ApiError> {
    store::lock_task(&mut *tx, pre.task_id).await.map_err(db)?;
    store::lock_match(tx, pre.id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound("match"))
}

/// Checks a volunteer's check-in code against the task's; a wrong one is counted (outside
/// the request's transaction, so it stays counted) and, past the limit, locks self check-in.
async fn verify_code(
    matcher: &Matcher,
    tx: &mut sqlx::PgConnection,
    m: &MatchRow,
    code: &str,
) -> Result<(), ApiError> {
    if m.check_in_failures >= check_in::MAX_FAILURES {
        return Err(ApiError::precondition(
            reasons::CHECK_IN_LOCKED,
            "too many wrong codes for this match: ask the coordinator on site to check you in",
        ));
    }
    if code.trim().is_empty() {
        return Err(ApiError::invalid(
            "check_in_code",
            "enter the code shown at the meeting point",
        ));
    }
    let (_, secret) = store::check_in_secret(tx, m.task_id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound("task"))?;
    if check_in::verify(&secret, m.task_id, code, Utc::now()) {
        return Ok(());
    }
    store::count_check_in_failure(&matcher.pool, m.id)
        .await
        .map_err(db)?;
    Err(ApiError::invalid(
        "check_in_code",
        "this is not the current code of this task: check the code at the meeting point",
    ))
}

/// GetCheckInCode: a coordinator of the task's organisation, or an admin.
pub async fn check_in_code(
    matcher: &Matcher,
    caller: &Principal,
    task_id: TaskId,
) -> Result<pb::GetCheckInCodeResponse, ApiError> {
    let task_id = task_id.uuid();
    let mut conn = matcher.pool.acquire().await.map_err(db)?;
    let (organisation, secret) = store::check_in_secret(&mut conn, task_id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound("task"))?;
    caller.require_coordinator_of(&organisation)?;
    let period = check_in::period(Utc::now());
    let code = check_in::code(&secret, task_id, period);
    Ok(pb::GetCheckInCodeResponse {
        task_id: task_id.to_string(),
        qr_text: check_in::qr_text(task_id, &code),
        code,
        rotates_at: Some(crate::convert::ts(check_in::period_start(period + 1))),
        valid_until: Some(crate::convert::ts(check_in::period_start(period + 2))),
        rotation_seconds: check_in::ROTATION_SECONDS as u32,
    })
}

/// CheckOut: the match's volunteer, a coordinator of the task's organisation, or an admin.
pub async fn check_out(
    matcher: &Matcher,
    caller: &Principal,
    match_id: MatchId,
) -> Result<MatchRow, ApiError> {
    let (mut tx, pre, by_volunteer) =
        open(matcher, caller, match_id, Callers::VolunteerOrStaff).await?;
    let m = lock(&mut tx, &pre).await?;
    let row = match m.state {
        MatchState::Completed => m,
        MatchState::CheckedIn => {
            let row = events::transition(&mut tx, &matcher.topic, &m, MatchState::Completed, 0, 0)
                .await
                .map_err(db)?;
            if !by_volunteer {
                audit_match(&mut tx, caller, &row, "match.checked_out").await?;
            }
            row
        }
        _ => {
            return Err(ApiError::precondition(
                reasons::MATCH_NOT_CHECKED_IN,
                "only a checked-in match can be checked out",
            ));
        }
    };
    tx.commit().await.map_err(db)?;
    Ok(row)
}

/// CompleteMatch: a coordinator of the task's organisation, or an admin.
pub async fn complete(
    matcher: &Matcher,
    caller: &Principal,
    match_id: MatchId,
    outcome: MatchOutcome,
) -> Result<MatchRow, ApiError> {
    let (mut tx, pre, _) = open(matcher, caller, match_id, Callers::Staff).await?;
    let m = lock(&mut tx, &pre).await?;
    let row = match (outcome, m.state) {
        (MatchOutcome::Completed, MatchState::Completed)
        | (MatchOutcome::NoShow, MatchState::NoShow) => m,
        (MatchOutcome::Completed, MatchState::CheckedIn) => {
            let row = events::transition(&mut tx, &matcher.topic, &m, MatchState::Completed, 0, 0)
                .await
                .map_err(db)?;
            audit_match(&mut tx, caller, &row, "match.completed").await?;
            row
        }
        (MatchOutcome::NoShow, MatchState::Accepted) => {
            let row = events::transition(&mut tx, &matcher.topic, &m, MatchState::NoShow, 0, 0)
                .await
                .map_err(db)?;
            audit_match(&mut tx, caller, &row, "match.no_show").await?;
            row
        }
        _ => {
            return Err(ApiError::precondition(
                reasons::INVALID_TRANSITION,
                "COMPLETED needs a checked-in match, NO_SHOW an accepted one",
            ));
        }
    };
    tx.commit().await.map_err(db)?;
    Ok(row)
}

/// CorrectHours: a coordinator of the task's organisation, or an admin, sets the times on
/// site (validated by the caller) with a reason; the match becomes COMPLETED.
pub async fn correct_hours(
    matcher: &Matcher,
    caller: &Principal,
    match_id: MatchId,
    checked_in_at: DateTime<Utc>,
    checked_out_at: DateTime<Utc>,
    reason: &str,
) -> Result<MatchRow, ApiError> {
    let (mut tx, pre, _) = open(matcher, caller, match_id, Callers::Staff).await?;
    let m = lock(&mut tx, &pre).await?;
    if !matches!(
        m.state,
        MatchState::Accepted | MatchState::CheckedIn | MatchState::Completed | MatchState::NoShow
    ) {
        return Err(ApiError::precondition(
            reasons::INVALID_TRANSITION,
            "hours are kept only for accepted matches (accepted, checked in, completed, no-show)",
        ));
    }
    let before = (m.checked_in_at, m.checked_out_at);
    let after = store::set_hours(&mut tx, m.id, checked_in_at, checked_out_at)
        .await
        .map_err(db)?;
    events::record(&mut tx, &matcher.topic, &after, Some(m.state))
        .await
        .map_err(db)?;
    let entry = store::Audited {
        organisation_id: &after.organisation_id,
        incident_id: after.incident_id,
        action: "match.hours_corrected",
        match_id: Some(after.id),
        details: serde_json::json!({
            "task_id": after.task_id,
            "state_before": m.state.as_str(),
            "checked_in_at_before": before.0,
            "checked_out_at_before": before.1,
            "checked_in_at": checked_in_at,
            "checked_out_at": checked_out_at,
            "hours_on_site": after.hours_on_site(),
            "reason": reason,
        }),
    };
    store::audit(&mut tx, caller, entry).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    tracing::info!(match_id = %after.id, hours = after.hours_on_site(), "hours corrected");
    Ok(after)
}

/// The proto view of a match for coordinators and dashboards.
pub fn match_view(m: &MatchRow) -> pb::Match {
    let state = m.state;
    pb::Match {
        match_id: m.id.to_string(),
        task_id: m.task_id.to_string(),
        incident_id: m.incident_id.to_string(),
        volunteer_ref: m.volunteer_ref.clone(),
        state: state.to_proto(),
        explanation: Some(crate::convert::explanation(&m.explanation.0)),
        expires_at: (state == MatchState::Offered)
            .then_some(m.expires_at)
            .flatten()
            .map(crate::convert::ts),
        decline_reason: i32::from(m.decline_reason),
        cancel_reason: i32::from(m.cancel_reason),
        created_at: Some(crate::convert::ts(m.created_at)),
        updated_at: Some(crate::convert::ts(m.updated_at)),
        checked_in_at: m.checked_in_at.map(crate::convert::ts),
        checked_out_at: m.checked_out_at.map(crate::convert::ts),
        hours_on_site: m.hours_on_site(),
        version: u64::try_from(m.version).unwrap_or(0),
        contact_grant: String::new(),
    }
}

/// [`match_view`] for `caller`, with a contact grant for registration where a coordinator or
/// admin may read the volunteer's contact: the match is ACCEPTED or CHECKED_IN.
pub fn staff_view(matcher: &Matcher, caller: &Principal, m: &MatchRow) -> pb::Match {
    let mut view = match_view(m);
    // Only for the staff of the task's own organisation: an organisation the incident is
    // shared with reads staffing without any way to the volunteers' contacts.
    if caller.require_coordinator_of(&m.organisation_id).is_ok()
        && matches!(m.state, MatchState::Accepted | MatchState::CheckedIn)
        && let Some(signer) = &matcher.grants
    {
        let grant = ContactGrant {
            match_id: m.id,
            task_id: m.task_id,
            volunteer_id: m.volunteer_id,
            organisation_id: m.organisation_id.clone(),
        };
        match signer.sign(&grant) {
            Ok(signed) => view.contact_grant = signed,
            Err(error) => tracing::warn!(%error, match_id = %m.id, "contact grant not signed"),
        }
    }
    view
}

/// The proto view of a match for its volunteer.
pub fn offer_view(m: &MatchRow, task: &Task) -> pb::Offer {
    let state = m.state;
    pb::Offer {
        match_id: m.id.to_string(),
        task_id: m.task_id.to_string(),
        incident_id: m.incident_id.to_string(),
        task_title: task.title.clone(),
        meeting_point: Some(crate::convert::geo(task.location)),
        address: task.address.clone(),
        window: Some(crate::convert::time_window(&m.window())),
        priority: task.priority,
        distance_km: m.explanation.0.distance_km,
        state: state.to_proto(),
        expires_at: (state == MatchState::Offered)
            .then_some(m.expires_at)
            .flatten()
            .map(crate::convert::ts),
        checked_in_at: m.checked_in_at.map(crate::convert::ts),
        checked_out_at: m.checked_out_at.map(crate::convert::ts),
        hours_on_site: m.hours_on_site(),
    }
}

/// ListMyOffers: the volunteer's matches, soonest window first.
pub async fn my_offers(
    matcher: &Matcher,
    volunteer_id: VolunteerId,
    include_finished: bool,
) -> Result<Vec<pb::Offer>, ApiError> {
    // Offers only: a PROPOSED match has not been offered yet.
    let states: &[MatchState] = if include_finished {
        &[
            MatchState::Offered,
            MatchState::Accepted,
            MatchState::CheckedIn,
            MatchState::Completed,
            MatchState::Declined,
            MatchState::Expired,
            MatchState::Cancelled,
            MatchState::NoShow,
        ]
    } else {
        &[
            MatchState::Offered,
            MatchState::Accepted,
            MatchState::CheckedIn,
        ]
    };
    let mut conn = matcher.pool.acquire().await.map_err(db)?;
    let rows = store::volunteer_matches(&mut conn, volunteer_id.uuid(), states)
        .await
        .map_err(db)?;
    let mut tasks: HashMap<Uuid, Task> = HashMap::new();
    let mut offers = Vec::with_capacity(rows.len());
    for m in rows {
        if let std::collections::hash_map::Entry::Vacant(slot) = tasks.entry(m.task_id) {
            let task = store::task(&mut conn, m.task_id)
                .await
                .map_err(db)?
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("match without task")))?;
            slot.insert(task);
        }
        if let Some(task) = tasks.get(&m.task_id) {
            offers.push(offer_view(&m, task));
        }
    }
    Ok(offers)
}

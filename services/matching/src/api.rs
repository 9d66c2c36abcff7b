//! The `MatchingService` gRPC API: request validation and access checks, then the
//! [`crate::lifecycle`], [`crate::feed`] and [`crate::optimizer`] functions.

use spontan_platform::ApiError;
use spontan_platform::auth::access::{ADMINS, READERS, VOLUNTEER, WRITERS};
use spontan_platform::auth::{Access, Allowed, Principal, Role, principal};
use spontan_platform::error::Violations;
use spontan_platform::ids::{IncidentId, MatchId, TaskId, required};
use spontan_proto::v1::matching_service_server::MatchingService;
use spontan_proto::v1::*;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use std::sync::Arc;

use crate::domain::IncidentStatus;
use crate::feed;
use crate::lifecycle;
use crate::matcher::Matcher;
use crate::reasons;
use crate::streams::{Head, Streams};

/// Who may call each method (checked before the request is read; [`spontan_platform::auth::access`]).
/// The handlers check the rest once the target is known: the volunteer of a match, the
/// organisation of an incident or task.
pub const ACCESS: Access = Access {
    service: "spontan.v1.MatchingService",
    methods: &[
        ("ListMatchChanges", READERS),
        ("WatchMatchChanges", READERS),
        ("GetTaskStaffing", READERS),
        ("GetIncidentSummary", READERS),
        ("ListMyOffers", VOLUNTEER),
        ("RespondToOffer", VOLUNTEER),
        // The volunteer on site, or a coordinator for them.
        (
            "CheckIn",
            Allowed::Roles(&[Role::Volunteer, Role::Coordinator, Role::Admin]),
        ),
        ("GetCheckInCode", WRITERS),
        (
            "CheckOut",
            Allowed::Roles(&[Role::Volunteer, Role::Coordinator, Role::Admin]),
        ),
        ("CompleteMatch", WRITERS),
        ("CorrectHours", WRITERS),
        ("OptimizeIncident", WRITERS),
        ("ApplyOptimizationPlan", WRITERS),
        ("ListAuditEntries", ADMINS),
    ],
};

/// Handlers of `spontan.v1.MatchingService`.
#[derive(Clone)]
pub struct Api {
    pub matcher: Matcher,
    /// The open WatchMatchChanges streams and their bounds.
    pub streams: Arc<Streams>,
    pub shutdown: CancellationToken,
}

/// The stream of `WatchMatchChanges`.
pub type MatchChangeStream = std::pin::Pin<
    Box<
        dyn tokio_stream::Stream<Item = Result<WatchMatchChangesResponse, Status>> + Send + 'static,
    >,
>;

impl Api {
    /// The caller of a method volunteers may call. A volunteer erased meanwhile is refused
    /// (UNAUTHENTICATED) although their token has not expired yet: erasure ends every session
    /// in the registration service, and here once its event has arrived.
    async fn caller<'r, T>(&self, request: &'r Request<T>) -> Result<&'r Principal, Status> {
        let caller = principal(request)?;
        if caller.role == Role::Volunteer {
            let id = caller.require_volunteer()?;
            if crate::store::volunteer_erased(&self.matcher.pool, id.uuid())
                .await
                .map_err(|error| ApiError::Internal(error.into()))?
            {
                return Err(ApiError::Unauthenticated.into());
            }
        }
        Ok(caller)
    }
}

#[tonic::async_trait]
impl MatchingService for Api {
    type WatchMatchChangesStream = MatchChangeStream;

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id))]
    async fn list_match_changes(
        &self,
        request: Request<ListMatchChangesRequest>,
    ) -> Result<Response<ListMatchChangesResponse>, Status> {
        let caller = principal(&request)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let incident_id = v.id::<IncidentId>("incident_id", &r.incident_id);
        let limit = feed::limit(r.limit).unwrap_or_else(|_| {
            v.add("limit", "must be between 1 and 1000");
            0
        });
        let incident_id = v.finish_id("incident_id", incident_id)?;
        let response =
            feed::list_changes(&self.matcher, caller, incident_id, r.after_sequence, limit).await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id))]
    async fn watch_match_changes(
        &self,
        request: Request<WatchMatchChangesRequest>,
    ) -> Result<Response<Self::WatchMatchChangesStream>, Status> {
        let caller = principal(&request)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let incident_id = v.id::<IncidentId>("incident_id", &r.incident_id);
        let limit = feed::limit(r.limit).unwrap_or_else(|_| {
            v.add("limit", "must be between 1 and 1000");
            0
        });
        let incident_id = v.finish_id("incident_id", incident_id)?;
        let incident = feed::readable_incident(&self.matcher, caller, incident_id).await?;
        let after = i64::try_from(r.after_sequence).unwrap_or(i64::MAX);
        if after > incident.last_sequence {
            return Err(ApiError::precondition(
                reasons::CURSOR_AHEAD,
                "after_sequence is beyond the incident's latest change: restart from 0",
            )
            .into());
        }
        // Admitted only once the caller may read the incident: refusals cost no place.
        let permit = self.streams.admit(caller)?;
        let first = Head {
            last_sequence: incident.last_sequence,
            closed: incident.status == IncidentStatus::Closed,
        };
        let rx = feed::watch(
            self.matcher.clone(),
            self.streams.clone(),
            permit,
            incident_id,
            after,
            limit,
            first,
            self.shutdown.clone(),
        );
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    #[tracing::instrument(skip_all, fields(task_id = %request.get_ref().task_id))]
    async fn get_task_staffing(
        &self,
        request: Request<GetTaskStaffingRequest>,
    ) -> Result<Response<GetTaskStaffingResponse>, Status> {
        let caller = principal(&request)?;
        let r = request.get_ref();
        let task_id = required::<TaskId>("task_id", &r.task_id)?;
        let response =
            feed::task_staffing(&self.matcher, caller, task_id, r.include_finished).await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id))]
    async fn get_incident_summary(
        &self,
        request: Request<GetIncidentSummaryRequest>,
    ) -> Result<Response<GetIncidentSummaryResponse>, Status> {
        let caller = principal(&request)?;
        let incident_id = required::<IncidentId>("incident_id", &request.get_ref().incident_id)?;
        let incident = feed::readable_incident(&self.matcher, caller, incident_id).await?;
        let response = feed::incident_summary(&self.matcher, &incident).await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all)]
    async fn list_my_offers(
        &self,
        request: Request<ListMyOffersRequest>,
    ) -> Result<Response<ListMyOffersResponse>, Status> {
        let caller = self.caller(&request).await?;
        let volunteer_id = caller.require_volunteer()?;
        let offers = lifecycle::my_offers(
            &self.matcher,
            volunteer_id,
            request.get_ref().include_finished,
        )
        .await?;
        Ok(Response::new(ListMyOffersResponse { offers }))
    }

    #[tracing::instrument(skip_all, fields(match_id = %request.get_ref().match_id))]
    async fn respond_to_offer(
        &self,
        request: Request<RespondToOfferRequest>,
    ) -> Result<Response<RespondToOfferResponse>, Status> {
        let caller = self.caller(&request).await?;
        let volunteer_id = caller.require_volunteer()?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let match_id = v.id::<MatchId>("match_id", &r.match_id);
        let decision = OfferDecision::try_from(r.decision).unwrap_or(OfferDecision::Unspecified);
        if decision == OfferDecision::Unspecified {
            v.add("decision", "must be ACCEPT or DECLINE");
        }
        if decision == OfferDecision::Accept && r.decline_reason != 0 {
            v.add("decline_reason", "only allowed with DECLINE");
        }
        let match_id = v.finish_id("match_id", match_id)?;
        let answered = lifecycle::respond(
            &self.matcher,
            volunteer_id,
            match_id,
            decision,
            r.decline_reason,
        )
        .await?;
        Ok(Response::new(RespondToOfferResponse {
            offer: Some(lifecycle::offer_view(&answered.row, &answered.task)),
        }))
    }

    #[tracing::instrument(skip_all, fields(match_id = %request.get_ref().match_id))]
    async fn check_in(
        &self,
        request: Request<CheckInRequest>,
    ) -> Result<Response<CheckInResponse>, Status> {
        let caller = self.caller(&request).await?;
        let match_id = required::<MatchId>("match_id", &request.get_ref().match_id)?;
        let code = &request.get_ref().check_in_code;
        let row = lifecycle::check_in(&self.matcher, caller, match_id, code).await?;
        Ok(Response::new(CheckInResponse {
            r#match: Some(lifecycle::staff_view(&self.matcher, caller, &row)),
        }))
    }

    #[tracing::instrument(skip_all, fields(task_id = %request.get_ref().task_id))]
    async fn get_check_in_code(
        &self,
        request: Request<GetCheckInCodeRequest>,
    ) -> Result<Response<GetCheckInCodeResponse>, Status> {
        let caller = principal(&request)?;
        let task_id = required::<TaskId>("task_id", &request.get_ref().task_id)?;
        let code = lifecycle::check_in_code(&self.matcher, caller, task_id).await?;
        Ok(Response::new(code))
    }

    #[tracing::instrument(skip_all, fields(match_id = %request.get_ref().match_id))]
    async fn check_out(
        &self,
        request: Request<CheckOutRequest>,
    ) -> Result<Response<CheckOutResponse>, Status> {
        let caller = self.caller(&request).await?;
        let match_id = required::<MatchId>("match_id", &request.get_ref().match_id)?;
        let row = lifecycle::check_out(&self.matcher, caller, match_id).await?;
        Ok(Response::new(CheckOutResponse {
            r#match: Some(lifecycle::staff_view(&self.matcher, caller, &row)),
        }))
    }

    #[tracing::instrument(skip_all, fields(match_id = %request.get_ref().match_id))]
    async fn complete_match(
        &self,
        request: Request<CompleteMatchRequest>,
    ) -> Result<Response<CompleteMatchResponse>, Status> {
        let caller = principal(&request)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let match_id = v.id::<MatchId>("match_id", &r.match_id);
        let outcome = MatchOutcome::try_from(r.outcome).unwrap_or(MatchOutcome::Unspecified);
        if outcome == MatchOutcome::Unspecified {
            v.add("outcome", "must be COMPLETED or NO_SHOW");
        }
        let match_id = v.finish_id("match_id", match_id)?;
        let row = lifecycle::complete(&self.matcher, caller, match_id, outcome).await?;
        Ok(Response::new(CompleteMatchResponse {
            r#match: Some(lifecycle::match_view(&row)),
        }))
    }

    #[tracing::instrument(skip_all, fields(match_id = %request.get_ref().match_id))]
    async fn correct_hours(
        &self,
        request: Request<CorrectHoursRequest>,
    ) -> Result<Response<CorrectHoursResponse>, Status> {
        let caller = principal(&request)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let match_id = v.id::<MatchId>("match_id", &r.match_id);
        let mut time = |field: &str, ts: &Option<prost_types::Timestamp>| {
            let at = ts
                .as_ref()
                .and_then(spontan_platform::events::from_timestamp);
            if at.is_none() {
                v.add(field, "is required");
            }
            at
        };
        let arrived = time("checked_in_at", &r.checked_in_at);
        let left = time("checked_out_at", &r.checked_out_at);
        let now = chrono::Utc::now() + chrono::Duration::minutes(5);
        if let (Some(arrived), Some(left)) = (arrived, left) {
            if left <= arrived {
                v.add("checked_out_at", "must be after checked_in_at");
            } else if left - arrived > chrono::Duration::hours(24) {
                v.add(
                    "checked_out_at",
                    "must be at most 24 hours after checked_in_at",
                );
            }
            if left > now {
                v.add("checked_out_at", "must not be in the future");
            }
        }
        let rules = spontan_platform::text::TextRules {
            required: true,
            max: 200,
            multiline: false,
        };
        let reason = match spontan_platform::text::clean(&r.reason, rules) {
            Ok(reason) if reason.chars().count() < 3 => {
                v.add("reason", "must be at least 3 characters");
                reason
            }
            Ok(reason) => reason,
            Err(problem) => {
                v.add("reason", problem.describe());
                String::new()
            }
        };
        let match_id = v.finish_id("match_id", match_id)?;
        let (Some(arrived), Some(left)) = (arrived, left) else {
            return Err(ApiError::invalid("checked_in_at", "is required").into());
        };
        let row = lifecycle::correct_hours(&self.matcher, caller, match_id, arrived, left, &reason)
            .await?;
        Ok(Response::new(CorrectHoursResponse {
            r#match: Some(lifecycle::match_view(&row)),
        }))
    }

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id))]
    async fn optimize_incident(
        &self,
        request: Request<OptimizeIncidentRequest>,
    ) -> Result<Response<OptimizeIncidentResponse>, Status> {
        let caller = principal(&request)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let incident_id = v.id::<IncidentId>("incident_id", &r.incident_id);
        if r.move_cost_km
            .is_some_and(|km| !(0.0..=1000.0).contains(&km))
        {
            v.add("move_cost_km", "must be between 0 and 1000 km");
        }
        let incident_id = v.finish_id("incident_id", incident_id)?;
        let response = crate::optimizer::optimize_incident(
            &self.matcher,
            caller,
            incident_id,
            r.dry_run,
            r.move_cost_km,
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id, plan_id = %request.get_ref().plan_id))]
    async fn apply_optimization_plan(
        &self,
        request: Request<ApplyOptimizationPlanRequest>,
    ) -> Result<Response<ApplyOptimizationPlanResponse>, Status> {
        let caller = principal(&request)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let incident_id = v.id::<IncidentId>("incident_id", &r.incident_id);
        let plan_id = match uuid::Uuid::parse_str(r.plan_id.trim()) {
            Ok(id) => Some(id),
            Err(_) if r.plan_id.trim().is_empty() => {
                v.add("plan_id", "is required");
                None
            }
            Err(_) => {
                v.add("plan_id", "must be a plan id (UUID) from OptimizeIncident");
                None
            }
        };
        let incident_id = v.finish_id("incident_id", incident_id)?;
        let plan_id = plan_id.ok_or_else(|| ApiError::invalid("plan_id", "is required"))?;
        let response =
            crate::optimizer::apply_optimization_plan(&self.matcher, caller, incident_id, plan_id)
                .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id))]
    async fn list_audit_entries(
        &self,
        request: Request<ListAuditEntriesRequest>,
    ) -> Result<Response<ListAuditEntriesResponse>, Status> {
        let r = request.get_ref();
        let mut v = Violations::new();
        let incident_id = v.id::<IncidentId>("incident_id", &r.incident_id);
        let limit = v.id_page(r.after_id, r.limit);
        let incident_id = v.finish_id("incident_id", incident_id)?;
        let mut conn = self.matcher.pool.acquire().await.map_err(ApiError::from)?;
        crate::store::incident(&mut conn, incident_id.uuid())
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::NotFound("incident"))?;
        let rows = crate::store::audit_entries(&mut conn, incident_id.uuid(), r.after_id, limit)
            .await
            .map_err(ApiError::from)?;
        let next_after_id = rows.last().map_or(r.after_id, |e| e.id);
        Ok(Response::new(ListAuditEntriesResponse {
            entries: rows.into_iter().map(crate::convert::audit_entry).collect(),
            next_after_id,
        }))
    }
}

#[cfg(test)]
mod access_tests {
    #[test]
    fn every_method_has_an_access_rule() {
        super::ACCESS.assert_complete(spontan_proto::FILE_DESCRIPTOR_SET);
    }
}

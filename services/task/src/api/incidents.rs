//! CreateIncident, GetIncident, ListIncidents, CloseIncident, ShareIncident.

use chrono::{DateTime, Utc};
use serde_json::json;
use spontan_platform::ApiError;
use spontan_platform::auth::Role;
use spontan_platform::error::Violations;
use spontan_platform::ids::IncidentId;
use spontan_proto::v1::*;
// The proto enum, renamed: the domain's `IncidentStatus` is the one used here.
use spontan_proto::v1::IncidentStatus as IncidentStatus_;
use tonic::Request;
use uuid::Uuid;

use super::create::Create;
use super::{Api, actor, caller, require_writer};
use crate::domain::{IncidentStatus, TaskStatus};
use crate::store;
use crate::{convert, paging, validation};

const DEFAULT_PAGE: u32 = 20;
/// The most organisations an incident is shared with.
const MAX_SHARED: usize = 20;
const MAX_PAGE: u32 = 100;

impl Api {
    #[tracing::instrument(skip_all, fields(incident_id))]
    pub(super) async fn do_create_incident(
        &self,
        request: Request<CreateIncidentRequest>,
    ) -> Result<CreateIncidentResponse, ApiError> {
        let principal = caller(&request)?;
        require_writer(&principal)?;
        let request = request.into_inner();
        let create = Create::new("create_incident", "incident", &principal, &request);
        if let Some(id) = create
            .replayed(&self.pool, &request.idempotency_key)
            .await?
        {
            let mut conn = self.pool.acquire().await?;
            let incident = store::incident(&mut conn, id.into(), false)
                .await?
                .ok_or(ApiError::NotFound("incident"))?;
            principal.require_coordinator_of(&incident.spec.organisation_id)?;
            return Ok(CreateIncidentResponse {
                incident: Some(convert::incident(&incident)),
            });
        }
        let mut v = Violations::new();
        let key = v.id::<Uuid>("idempotency_key", &request.idempotency_key);
        let spec = validation::incident_spec(&mut v, &request);
        let key = v
            .finish(key)?
            .ok_or_else(|| ApiError::invalid("idempotency_key", "is required"))?;
        principal.require_coordinator_of(&spec.organisation_id)?;

        let id = IncidentId::new();
        let mut tx = self.pool.begin().await?;
        let incident = match create
            .claim(&mut tx, &spec.organisation_id, key, id.uuid())
            .await?
        {
            Some(existing) => store::incident(&mut tx, existing.into(), false)
                .await?
                .ok_or(ApiError::NotFound("incident"))?,
            None => {
                let incident = store::insert_incident(&mut tx, id, &spec).await?;
                self.events.incident_opened(&mut tx, &incident).await?;
                store::audit(
                    &mut tx,
                    &actor(&principal),
                    &spec.organisation_id,
                    "incident.opened",
                    ("incident", id.uuid()),
                    json!({ "name": spec.name, "region_radius_km": spec.region_radius_km }),
                )
                .await?;
                incident
            }
        };
        tx.commit().await?;
        tracing::Span::current().record("incident_id", tracing::field::display(incident.id));
        Ok(CreateIncidentResponse {
            incident: Some(convert::incident(&incident)),
        })
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn do_get_incident(
        &self,
        request: Request<GetIncidentRequest>,
    ) -> Result<GetIncidentResponse, ApiError> {
        let principal = caller(&request)?;
        let mut v = Violations::new();
        let id = v.id::<IncidentId>("incident_id", &request.get_ref().incident_id);
        let id = v.finish(id)?.ok_or(ApiError::NotFound("incident"))?;
        let mut conn = self.pool.acquire().await?;
        let incident = store::incident(&mut conn, id, false)
            .await?
            .ok_or(ApiError::NotFound("incident"))?;
        principal
            .require_reader_of_shared(&incident.spec.organisation_id, &incident.shared_with)?;
        Ok(GetIncidentResponse {
            incident: Some(convert::incident(&incident)),
        })
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn do_list_incidents(
        &self,
        request: Request<ListIncidentsRequest>,
    ) -> Result<ListIncidentsResponse, ApiError> {
        let principal = caller(&request)?;
        let request = request.into_inner();
        // Staff other than admins see their own organisation only.
        let organisation = match principal.role {
            Role::Admin => (!request.organisation_id.is_empty()).then_some(request.organisation_id),
            Role::Coordinator | Role::Dashboard => {
                let own = principal
                    .organisation
                    .clone()
                    .ok_or(ApiError::PermissionDenied(
                        "the token names no organisation",
                    ))?;
                if !request.organisation_id.is_empty() && request.organisation_id != own {
                    return Err(ApiError::PermissionDenied(
                        "this organisation's data is not yours to read",
                    ));
                }
                Some(own)
            }
            Role::Volunteer => {
                return Err(ApiError::PermissionDenied("volunteers cannot read this"));
            }
        };
        let mut v = Violations::new();
        let status = match IncidentStatus_::try_from(request.status) {
            Ok(IncidentStatus_::Unspecified) => None,
            Ok(IncidentStatus_::Open) => Some(IncidentStatus::Open),
            Ok(IncidentStatus_::Closed) => Some(IncidentStatus::Closed),
            Err(_) => {
                v.add("status", "is not a known incident status");
                None
            }
        };
        let size = paging::page_size(&mut v, request.page_size, DEFAULT_PAGE, MAX_PAGE);
        let filters = format!("org={organisation:?};status={}", request.status);
        let after: Option<(DateTime<Utc>, Uuid)> =
            paging::decode(&mut v, &filters, &request.page_token);
        v.finish(())?;

        let mut conn = self.pool.acquire().await?;
        let mut incidents = store::list_incidents(
            &mut conn,
            organisation.as_deref(),
            status,
            after,
            i64::from(size) + 1,
        )
        .await?;
        let more = incidents.len() > size as usize;
        incidents.truncate(size as usize);
        let next_page_token = match incidents.last() {
            Some(last) if more => paging::encode(&filters, (last.created_at, last.id)),
            _ => String::new(),
        };
        Ok(ListIncidentsResponse {
            incidents: incidents.iter().map(convert::incident).collect(),
            next_page_token,
        })
    }

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id))]
    pub(super) async fn do_close_incident(
        &self,
        request: Request<CloseIncidentRequest>,
    ) -> Result<CloseIncidentResponse, ApiError> {
        let principal = caller(&request)?;
        require_writer(&principal)?;
        let mut v = Violations::new();
        let id = v.id::<IncidentId>("incident_id", &request.get_ref().incident_id);
        let id = v.finish(id)?.ok_or(ApiError::NotFound("incident"))?;

        let mut tx = self.pool.begin().await?;
        let incident = store::incident(&mut tx, id, true)
            .await?
            .ok_or(ApiError::NotFound("incident"))?;
        let organisation = incident.spec.organisation_id.clone();
        principal.require_coordinator_of(&organisation)?;
        if incident.status == IncidentStatus::Closed {
            return Ok(CloseIncidentResponse {
                incident: Some(convert::incident(&incident)),
                cancelled_task_count: 0,
                completed_task_count: 0,
            });
        }
        let who = actor(&principal);
        let (mut cancelled, mut completed) = (0, 0);
        for task in store::unfinished_tasks(&mut tx, id).await? {
            if task.status.is_not_started() {
                let task =
                    store::set_status(&mut tx, task.id, TaskStatus::Cancelled, "incident closed")
                        .await?;
                self.events
                    .task_cancelled(&mut tx, &task, TaskCancelReason::IncidentClosed)
                    .await?;
                store::audit(
                    &mut tx,
                    &who,
                    &organisation,
                    "task.cancelled",
                    ("task", task.id.uuid()),
                    json!({ "cause": "incident_closed" }),
                )
                .await?;
                cancelled += 1;
            } else {
                let task = store::set_status(&mut tx, task.id, TaskStatus::Completed, "").await?;
                self.events.task_completed(&mut tx, &task).await?;
                store::audit(
                    &mut tx,
                    &who,
                    &organisation,
                    "task.completed",
                    ("task", task.id.uuid()),
                    json!({ "cause": "incident_closed" }),
                )
                .await?;
                completed += 1;
            }
        }
        // After its tasks' events, as docs/events.md promises.
        let incident = store::close_incident(&mut tx, id).await?;
        self.events.incident_closed(&mut tx, &incident).await?;
        store::audit(
            &mut tx,
            &who,
            &organisation,
            "incident.closed",
            ("incident", id.uuid()),
            json!({ "cancelled_tasks": cancelled, "completed_tasks": completed }),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(cancelled, completed, "incident closed");
        Ok(CloseIncidentResponse {
            incident: Some(convert::incident(&incident)),
            cancelled_task_count: cancelled,
            completed_task_count: completed,
        })
    }

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id))]
    pub(super) async fn do_share_incident(
        &self,
        request: Request<ShareIncidentRequest>,
    ) -> Result<ShareIncidentResponse, ApiError> {
        let principal = caller(&request)?;
        require_writer(&principal)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let id = v.id::<IncidentId>("incident_id", &r.incident_id);
        let mut shared = Vec::new();
        if v.list_within("organisation_ids", r.organisation_ids.len(), MAX_SHARED) {
            for (i, org) in r.organisation_ids.iter().enumerate() {
                let field = format!("organisation_ids[{i}]");
                let org = validation::organisation_id(&mut v, &field, org);
                if shared.contains(&org) {
                    v.add(field, "is named twice");
                } else {
                    shared.push(org);
                }
            }
        }
        let id = v.finish(id)?.ok_or(ApiError::NotFound("incident"))?;
        let mut tx = self.pool.begin().await?;
        let incident = store::incident(&mut tx, id, true)
            .await?
            .ok_or(ApiError::NotFound("incident"))?;
        let organisation = incident.spec.organisation_id.clone();
        principal.require_coordinator_of(&organisation)?;
        if let Some(i) = shared.iter().position(|o| *o == organisation) {
            return Err(ApiError::invalid(
                format!("organisation_ids[{i}]"),
                "is the incident's own organisation",
            ));
        }
        shared.sort();
        let mut before = incident.shared_with.clone();
        before.sort();
        if before == shared {
            return Ok(ShareIncidentResponse {
                incident: Some(convert::incident(&incident)),
            });
        }
        let incident = store::share_incident(&mut tx, id, &shared).await?;
        self.events.incident_shared(&mut tx, &incident).await?;
        store::audit(
            &mut tx,
            &actor(&principal),
            &organisation,
            "incident.shared",
            ("incident", id.uuid()),
            json!({ "shared_with": shared, "before": before }),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(shared_with = ?incident.shared_with, "incident sharing changed");
        Ok(ShareIncidentResponse {
            incident: Some(convert::incident(&incident)),
        })
    }

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id))]
    pub(super) async fn do_list_audit_entries(
        &self,
        request: Request<ListTaskAuditEntriesRequest>,
    ) -> Result<ListTaskAuditEntriesResponse, ApiError> {
        // Admins only: the access rule (ACCESS) refused everyone else before this runs.
        let r = request.get_ref();
        let mut v = Violations::new();
        let incident_id = v.id::<IncidentId>("incident_id", &r.incident_id);
        let limit = v.id_page(r.after_id, r.limit);
        let incident_id = v.finish_id("incident_id", incident_id)?;
        let mut conn = self.pool.acquire().await?;
        store::incident(&mut conn, incident_id, false)
            .await?
            .ok_or(ApiError::NotFound("incident"))?;
        let rows = store::audit_entries(&mut conn, incident_id, r.after_id, limit).await?;
        let next_after_id = rows.last().map_or(r.after_id, |e| e.id);
        Ok(ListTaskAuditEntriesResponse {
            entries: rows.into_iter().map(convert::audit_entry).collect(),
            next_after_id,
        })
    }
}

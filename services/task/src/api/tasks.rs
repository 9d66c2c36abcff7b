//! CreateTask, UpdateTask, CancelTask, CompleteTask, GetTask, ListTasks.

use chrono::{DateTime, Utc};
use serde_json::json;
use spontan_platform::ApiError;
use spontan_platform::auth::Principal;
use spontan_platform::error::Violations;
use spontan_platform::ids::{IncidentId, TaskId, required};
use spontan_proto::v1 as pb;
use spontan_proto::v1::*;
use tonic::Request;
use uuid::Uuid;

use super::create::Create;
use super::{Api, actor, caller, finished, require_writer};
use crate::domain::{self, IncidentStatus, Priority, Task, TaskSpec, TaskStatus};
use crate::store;
use crate::{convert, paging, validation};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;
/// The most values a list filter (statuses, priorities) may name: more than there are values.
const MAX_FILTER_VALUES: usize = 16;

/// The Task fields a coordinator may change, as update_mask paths.
const UPDATABLE: &[&str] = &[
    "title",
    "description",
    "meeting_point",
    "address",
    "required_skill_ids",
    "preferred_skill_ids",
    "required_languages",
    "preferred_languages",
    "min_age",
    "headcount",
    "window",
    "priority",
    "max_distance_km",
    "safety_notes",
];

/// Copies the field at `path` from `from` into `into`.
fn copy_field(path: &str, from: &pb::Task, into: &mut pb::Task) {
    match path {
        "title" => into.title.clone_from(&from.title),
        "description" => into.description.clone_from(&from.description),
        "meeting_point" => into.meeting_point = from.meeting_point,
        "address" => into.address.clone_from(&from.address),
        "required_skill_ids" => into.required_skill_ids.clone_from(&from.required_skill_ids),
        "preferred_skill_ids" => into
            .preferred_skill_ids
            .clone_from(&from.preferred_skill_ids),
        "required_languages" => into.required_languages.clone_from(&from.required_languages),
        "preferred_languages" => into
            .preferred_languages
            .clone_from(&from.preferred_languages),
        "min_age" => into.min_age = from.min_age,
        "headcount" => into.headcount = from.headcount,
        "window" => into.window = from.window,
        "priority" => into.priority = from.priority,
        "max_distance_km" => into.max_distance_km = from.max_distance_km,
        "safety_notes" => into.safety_notes.clone_from(&from.safety_notes),
        _ => {}
    }
}

/// Whether the field at `path` differs between two specs.
fn differs(path: &str, a: &TaskSpec, b: &TaskSpec) -> bool {
    match path {
        "title" => a.title != b.title,
        "description" => a.description != b.description,
        "meeting_point" => a.meeting_point != b.meeting_point,
        "address" => a.address != b.address,
        "required_skill_ids" => a.required_skill_ids != b.required_skill_ids,
        "preferred_skill_ids" => a.preferred_skill_ids != b.preferred_skill_ids,
        "required_languages" => a.required_languages != b.required_languages,
        "preferred_languages" => a.preferred_languages != b.preferred_languages,
        "min_age" => a.min_age != b.min_age,
        "headcount" => a.headcount != b.headcount,
        "window" => a.window != b.window,
        "priority" => a.priority != b.priority,
        "max_distance_km" => a.max_distance_km != b.max_distance_km,
        "safety_notes" => a.safety_notes != b.safety_notes,
        _ => false,
    }
}

impl Api {
    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id, task_id))]
    pub(super) async fn do_create_task(
        &self,
        request: Request<CreateTaskRequest>,
    ) -> Result<CreateTaskResponse, ApiError> {
        let principal = caller(&request)?;
        require_writer(&principal)?;
        let request = request.into_inner();
        let create = Create::new("create_task", "task", &principal, &request);
        if let Some(id) = create
            .replayed(&self.pool, &request.idempotency_key)
            .await?
        {
            let mut conn = self.pool.acquire().await?;
            let task = store::task(&mut conn, id.into(), false)
                .await?
                .ok_or(ApiError::NotFound("task"))?;
            principal.require_coordinator_of(&task.organisation_id)?;
            return Ok(CreateTaskResponse {
                task: Some(convert::task(&task)),
            });
        }
        let mut v = Violations::new();
        let key = v.id::<Uuid>("idempotency_key", &request.idempotency_key);
        let incident_id = v.id::<IncidentId>("incident_id", &request.incident_id);
        let spec = validation::task_spec(&mut v, "", (&request).into(), Some(Utc::now()));
        let (Some(key), Some(incident_id)) = v.finish((key, incident_id))? else {
            return Err(ApiError::invalid("incident_id", "is required"));
        };

        let mut tx = self.pool.begin().await?;
        let incident = store::incident(&mut tx, incident_id, true)
            .await?
            .ok_or(ApiError::NotFound("incident"))?;
        let organisation = incident.spec.organisation_id.clone();
        principal.require_coordinator_of(&organisation)?;
        let id = TaskId::new();
        let task = match create.claim(&mut tx, &organisation, key, id.uuid()).await? {
            Some(existing) => store::task(&mut tx, existing.into(), false)
                .await?
                .ok_or(ApiError::NotFound("task"))?,
            None => {
                if incident.status == IncidentStatus::Closed {
                    return Err(ApiError::precondition(
                        super::reasons::INCIDENT_CLOSED,
                        "the incident is closed and takes no new tasks",
                    ));
                }
                let task = store::insert_task(&mut tx, id, &incident, &spec).await?;
                self.events.task_created(&mut tx, &task).await?;
                store::audit(
                    &mut tx,
                    &actor(&principal),
                    &organisation,
                    "task.created",
                    ("task", id.uuid()),
                    json!({ "incident_id": incident_id, "title": spec.title,
                            "headcount": spec.headcount }),
                )
                .await?;
                task
            }
        };
        tx.commit().await?;
        tracing::Span::current().record("task_id", tracing::field::display(task.id));
        Ok(CreateTaskResponse {
            task: Some(convert::task(&task)),
        })
    }

    #[tracing::instrument(skip_all, fields(task_id))]
    pub(super) async fn do_update_task(
        &self,
        request: Request<UpdateTaskRequest>,
    ) -> Result<UpdateTaskResponse, ApiError> {
        let principal = caller(&request)?;
        require_writer(&principal)?;
        let request = request.into_inner();
        let mut v = Violations::new();
        let changes = request.task.unwrap_or_default();
        let id = v.id::<TaskId>("task.task_id", &changes.task_id);
        let paths: Vec<String> = request.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            v.add("update_mask", "must name at least one field");
        }
        let listed = if v.list_within("update_mask.paths", paths.len(), UPDATABLE.len()) {
            paths.as_slice()
        } else {
            &[]
        };
        for (i, path) in listed.iter().enumerate() {
            if !UPDATABLE.contains(&path.as_str()) {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    "is not an updatable field",
                );
            }
        }
        if request.expected_version == 0 {
            v.add("expected_version", "is required: the version last read");
        }
        let Some(id) = v.finish(id)? else {
            return Err(ApiError::invalid("task.task_id", "is required"));
        };
        tracing::Span::current().record("task_id", tracing::field::display(id));

        let mut tx = self.pool.begin().await?;
        let current = store::task(&mut tx, id, true)
            .await?
            .ok_or(ApiError::NotFound("task"))?;
        principal.require_coordinator_of(&current.organisation_id)?;
        if current.status.is_final() {
            return Err(finished(current.status.as_str()));
        }
        if current.version != request.expected_version {
            return Err(ApiError::Aborted(format!(
                "the task changed since version {} was read (it is at version {}): \
                 re-read it and retry",
                request.expected_version, current.version
            )));
        }
        let mut merged = convert::task(&current);
        for path in &paths {
            copy_field(path, &changes, &mut merged);
        }
        let window_changed = paths.iter().any(|p| p == "window");
        let mut v = Violations::new();
        let spec = validation::task_spec(
            &mut v,
            "task.",
            (&merged).into(),
            window_changed.then(Utc::now),
        );
        let spec = v.finish(spec)?;

        let mut changed: Vec<String> = UPDATABLE
            .iter()
            .filter(|p| paths.iter().any(|q| q == *p) && differs(p, &current.spec, &spec))
            .map(|p| (*p).to_owned())
            .collect();
        if changed.is_empty() {
            tx.commit().await?;
            return Ok(UpdateTaskResponse {
                task: Some(convert::task(&current)),
            });
        }
        let status = domain::staffing_status(current.status, current.staffing, spec.headcount);
        if status != current.status {
            changed.push("status".to_owned());
        }
        let task = store::update_task(&mut tx, id, &spec, status).await?;
        self.events
            .task_updated(&mut tx, &task, changed.clone())
            .await?;
        store::audit(
            &mut tx,
            &actor(&principal),
            &task.organisation_id,
            "task.updated",
            ("task", id.uuid()),
            json!({ "changed_fields": changed, "version": task.version }),
        )
        .await?;
        tx.commit().await?;
        Ok(UpdateTaskResponse {
            task: Some(convert::task(&task)),
        })
    }

    #[tracing::instrument(skip_all, fields(task_id = %request.get_ref().task_id))]
    pub(super) async fn do_cancel_task(
        &self,
        request: Request<CancelTaskRequest>,
    ) -> Result<CancelTaskResponse, ApiError> {
        let principal = caller(&request)?;
        require_writer(&principal)?;
        let request = request.into_inner();
        let mut v = Violations::new();
        let id = v.id::<TaskId>("task_id", &request.task_id);
        let reason = validation::text(
            &mut v,
            "reason",
            &request.reason,
            true,
            validation::MAX_REASON,
            false,
        );
        let Some(id) = v.finish(id)? else {
            return Err(ApiError::invalid("task_id", "is required"));
        };

        let task = self
            .end_task(&principal, id, TaskStatus::Cancelled, &reason)
            .await?;
        Ok(CancelTaskResponse {
            task: Some(convert::task(&task)),
        })
    }

    #[tracing::instrument(skip_all, fields(task_id = %request.get_ref().task_id))]
    pub(super) async fn do_complete_task(
        &self,
        request: Request<CompleteTaskRequest>,
    ) -> Result<CompleteTaskResponse, ApiError> {
        let principal = caller(&request)?;
        require_writer(&principal)?;
        let id = required::<TaskId>("task_id", &request.get_ref().task_id)?;

        let task = self
            .end_task(&principal, id, TaskStatus::Completed, "")
            .await?;
        Ok(CompleteTaskResponse {
            task: Some(convert::task(&task)),
        })
    }

    /// Ends a task for a coordinator as `to` (cancelled or completed): no change when it
    /// already is, TASK_FINISHED when it ended the other way, otherwise the new status, its
    /// event and the audit entry in one transaction.
    async fn end_task(
        &self,
        principal: &Principal,
        id: TaskId,
        to: TaskStatus,
        reason: &str,
    ) -> Result<Task, ApiError> {
        let mut tx = self.pool.begin().await?;
        let current = store::task(&mut tx, id, true)
            .await?
            .ok_or(ApiError::NotFound("task"))?;
        principal.require_coordinator_of(&current.organisation_id)?;
        match current.status {
            status if status == to => return Ok(current),
            TaskStatus::Completed => return Err(finished("completed")),
            TaskStatus::Cancelled => return Err(finished("cancelled")),
            _ => {}
        }
        let task = store::set_status(&mut tx, id, to, reason).await?;
        let previous = current.status.as_str();
        let (action, details) = if to == TaskStatus::Cancelled {
            self.events
                .task_cancelled(&mut tx, &task, TaskCancelReason::Coordinator)
                .await?;
            (
                "task.cancelled",
                json!({ "reason": reason, "previous_status": previous }),
            )
        } else {
            self.events.task_completed(&mut tx, &task).await?;
            ("task.completed", json!({ "previous_status": previous }))
        };
        let organisation = &task.organisation_id;
        let target = ("task", id.uuid());
        store::audit(
            &mut tx,
            &actor(principal),
            organisation,
            action,
            target,
            details,
        )
        .await?;
        tx.commit().await?;
        Ok(task)
    }

    #[tracing::instrument(skip_all, fields(task_id = %request.get_ref().task_id))]
    pub(super) async fn do_get_task(
        &self,
        request: Request<GetTaskRequest>,
    ) -> Result<GetTaskResponse, ApiError> {
        let principal = caller(&request)?;
        let id = required::<TaskId>("task_id", &request.get_ref().task_id)?;
        let mut conn = self.pool.acquire().await?;
        let task = store::task(&mut conn, id, false)
            .await?
            .ok_or(ApiError::NotFound("task"))?;
        if principal.require_reader_of(&task.organisation_id).is_err() {
            // Staff of an organisation the incident is shared with read its tasks too.
            let incident = store::incident(&mut conn, task.incident_id, false)
                .await?
                .ok_or(ApiError::NotFound("task"))?;
            principal
                .require_reader_of_shared(&incident.spec.organisation_id, &incident.shared_with)?;
        }
        Ok(GetTaskResponse {
            task: Some(convert::task(&task)),
        })
    }

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id))]
    pub(super) async fn do_list_tasks(
        &self,
        request: Request<ListTasksRequest>,
    ) -> Result<ListTasksResponse, ApiError> {
        let principal = caller(&request)?;
        let request = request.into_inner();
        let mut v = Violations::new();
        let incident_id = v.id::<IncidentId>("incident_id", &request.incident_id);
        // A filter lists each value at most once; a longer list is one violation, and its
        // entries are not checked one by one.
        let listed = |v: &mut Violations, field: &str, values: &[i32]| -> usize {
            if v.list_within(field, values.len(), MAX_FILTER_VALUES) {
                values.len()
            } else {
                0
            }
        };
        let mut statuses = Vec::new();
        let n = listed(&mut v, "statuses", &request.statuses);
        for (i, s) in request.statuses[..n].iter().enumerate() {
            match convert::task_status_from(*s) {
                Some(s) => statuses.push(s),
                None => v.add(format!("statuses[{i}]"), "is not a known task status"),
            }
        }
        let mut priorities = Vec::new();
        let n = listed(&mut v, "priorities", &request.priorities);
        for (i, p) in request.priorities[..n].iter().enumerate() {
            match Priority::from_i32(*p) {
                Some(p) => priorities.push(p),
                None => v.add(format!("priorities[{i}]"), "is not a known priority"),
            }
        }
        let size = paging::page_size(&mut v, request.page_size, DEFAULT_PAGE, MAX_PAGE);
        let filters = format!(
            "incident={};statuses={:?};priorities={:?}",
            request.incident_id, request.statuses, request.priorities
        );
        let after: Option<(i16, DateTime<Utc>, Uuid)> =
            paging::decode(&mut v, &filters, &request.page_token);
        let Some(incident_id) = v.finish(incident_id)? else {
            return Err(ApiError::invalid("incident_id", "is required"));
        };

        let mut conn = self.pool.acquire().await?;
        let incident = store::incident(&mut conn, incident_id, false)
            .await?
            .ok_or(ApiError::NotFound("incident"))?;
        principal
            .require_reader_of_shared(&incident.spec.organisation_id, &incident.shared_with)?;
        let mut tasks = store::list_tasks(
            &mut conn,
            incident_id,
            &statuses,
            &priorities,
            after,
            i64::from(size) + 1,
        )
        .await?;
        let more = tasks.len() > size as usize;
        tasks.truncate(size as usize);
        let next_page_token = match tasks.last() {
            Some(last) if more => paging::encode(
                &filters,
                (last.spec.priority as i16, last.spec.window.start, last.id),
            ),
            _ => String::new(),
        };
        Ok(ListTasksResponse {
            tasks: tasks.iter().map(convert::task).collect(),
            next_page_token,
        })
    }
}

//! The `TaskService` gRPC API: who may call what, and the handlers.
//!
//! Layout: [`incidents`] and [`tasks`] hold the handlers; this module holds the shared state
//! and the access rules. Requests become domain values in [`crate::validation`], responses
//! and events are built in [`crate::convert`].

mod create;
mod incidents;
mod tasks;

use spontan_platform::ApiError;
use spontan_platform::auth::access::{ADMINS, READERS, WRITERS};
use spontan_platform::auth::{Access, Principal, Role};
use spontan_proto::v1::task_service_server::TaskService;
use spontan_proto::v1::*;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::events::Publisher;
use crate::store::Actor;

/// Who may call each method (checked before the request is read; [`spontan_platform::auth::access`]).
/// Coordinators act only for their own organisation and dashboards read only their own: the
/// handlers check that once the incident or task is known.
pub const ACCESS: Access = Access {
    service: "spontan.v1.TaskService",
    methods: &[
        ("CreateIncident", WRITERS),
        ("GetIncident", READERS),
        ("ListIncidents", READERS),
        ("CloseIncident", WRITERS),
        // The owning organisation's coordinators.
        ("ShareIncident", WRITERS),
        ("CreateTask", WRITERS),
        ("UpdateTask", WRITERS),
        ("CancelTask", WRITERS),
        ("CompleteTask", WRITERS),
        ("GetTask", READERS),
        ("ListTasks", READERS),
        ("ListTaskAuditEntries", ADMINS),
    ],
};

/// Handlers of `spontan.v1.TaskService`.
#[derive(Debug, Clone)]
pub struct Api {
    pool: PgPool,
    events: Publisher,
}

impl Api {
    pub fn new(pool: PgPool, task_topic: &str) -> Self {
        Self {
            pool,
            events: Publisher::new(task_topic),
        }
    }
}

/// The verified caller, or `Unauthenticated`.
fn caller<T>(request: &Request<T>) -> Result<Principal, ApiError> {
    spontan_platform::auth::principal(request).cloned()
}

/// Coordinators and admins write; dashboards and volunteers are refused before their request
/// is even validated. The organisation is checked once the target is known.
fn require_writer(principal: &Principal) -> Result<(), ApiError> {
    match principal.role {
        Role::Coordinator | Role::Admin => Ok(()),
        Role::Dashboard => Err(ApiError::PermissionDenied("dashboards are read-only")),
        Role::Volunteer => Err(ApiError::PermissionDenied(
            "a coordinator token is required",
        )),
    }
}

/// The audit trail's "who".
fn actor(principal: &Principal) -> Actor {
    Actor {
        subject: principal.subject.clone(),
        role: match principal.role {
            Role::Volunteer => "volunteer",
            Role::Coordinator => "coordinator",
            Role::Dashboard => "dashboard",
            Role::Admin => "admin",
        },
    }
}

/// The reasons of this service's refusals (`google.rpc.ErrorInfo`, domain `task.spontan`).
pub mod reasons {
    use spontan_platform::error::Reason;

    const DOMAIN: &str = "task.spontan";
    /// The task is completed or cancelled and changes no more.
    pub const TASK_FINISHED: Reason = Reason::new("TASK_FINISHED", DOMAIN);
    /// The incident is closed and takes no new tasks.
    pub const INCIDENT_CLOSED: Reason = Reason::new("INCIDENT_CLOSED", DOMAIN);
}

/// Finished tasks (and closed incidents) change no more.
fn finished(what: &str) -> ApiError {
    ApiError::precondition(
        reasons::TASK_FINISHED,
        format!("the task is already {what}"),
    )
}

fn status<T>(result: Result<T, ApiError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl TaskService for Api {
    async fn create_incident(
        &self,
        request: Request<CreateIncidentRequest>,
    ) -> Result<Response<CreateIncidentResponse>, Status> {
        status(self.do_create_incident(request).await)
    }
    async fn get_incident(
        &self,
        request: Request<GetIncidentRequest>,
    ) -> Result<Response<GetIncidentResponse>, Status> {
        status(self.do_get_incident(request).await)
    }
    async fn list_incidents(
        &self,
        request: Request<ListIncidentsRequest>,
    ) -> Result<Response<ListIncidentsResponse>, Status> {
        status(self.do_list_incidents(request).await)
    }
    async fn close_incident(
        &self,
        request: Request<CloseIncidentRequest>,
    ) -> Result<Response<CloseIncidentResponse>, Status> {
        status(self.do_close_incident(request).await)
    }
    async fn share_incident(
        &self,
        request: Request<ShareIncidentRequest>,
    ) -> Result<Response<ShareIncidentResponse>, Status> {
        status(self.do_share_incident(request).await)
    }
    async fn create_task(
        &self,
        request: Request<CreateTaskRequest>,
    ) -> Result<Response<CreateTaskResponse>, Status> {
        status(self.do_create_task(request).await)
    }
    async fn update_task(
        &self,
        request: Request<UpdateTaskRequest>,
    ) -> Result<Response<UpdateTaskResponse>, Status> {
        status(self.do_update_task(request).await)
    }
    async fn cancel_task(
        &self,
        request: Request<CancelTaskRequest>,
    ) -> Result<Response<CancelTaskResponse>, Status> {
        status(self.do_cancel_task(request).await)
    }
    async fn complete_task(
        &self,
        request: Request<CompleteTaskRequest>,
    ) -> Result<Response<CompleteTaskResponse>, Status> {
        status(self.do_complete_task(request).await)
    }
    async fn get_task(
        &self,
        request: Request<GetTaskRequest>,
    ) -> Result<Response<GetTaskResponse>, Status> {
        status(self.do_get_task(request).await)
    }
    async fn list_tasks(
        &self,
        request: Request<ListTasksRequest>,
    ) -> Result<Response<ListTasksResponse>, Status> {
        status(self.do_list_tasks(request).await)
    }

    async fn list_task_audit_entries(
        &self,
        request: Request<ListTaskAuditEntriesRequest>,
    ) -> Result<Response<ListTaskAuditEntriesResponse>, Status> {
        status(self.do_list_audit_entries(request).await)
    }
}

#[cfg(test)]
mod access_tests {
    #[test]
    fn every_method_has_an_access_rule() {
        super::ACCESS.assert_complete(spontan_proto::FILE_DESCRIPTOR_SET);
    }
}

//! The `TaskService` gRPC API.
//!
//! The service serves, reports its health and migrates its database; the RPCs themselves land
//! with issue #4 and answer `Unimplemented` until then, never a fake success.

use spontan_platform::ApiError;
use spontan_proto::v1::task_service_server::TaskService;
use spontan_proto::v1::*;
use tonic::{Request, Response, Status};

/// Handlers of `spontan.v1.TaskService`.
#[derive(Debug, Clone, Default)]
pub struct Api;

#[tonic::async_trait]
impl TaskService for Api {
    async fn create_incident(
        &self,
        _request: Request<CreateIncidentRequest>,
    ) -> Result<Response<CreateIncidentResponse>, Status> {
        Err(ApiError::Unimplemented("CreateIncident").into())
    }
    async fn get_incident(
        &self,
        _request: Request<GetIncidentRequest>,
    ) -> Result<Response<GetIncidentResponse>, Status> {
        Err(ApiError::Unimplemented("GetIncident").into())
    }
    async fn list_incidents(
        &self,
        _request: Request<ListIncidentsRequest>,
    ) -> Result<Response<ListIncidentsResponse>, Status> {
        Err(ApiError::Unimplemented("ListIncidents").into())
    }
    async fn close_incident(
        &self,
        _request: Request<CloseIncidentRequest>,
    ) -> Result<Response<CloseIncidentResponse>, Status> {
        Err(ApiError::Unimplemented("CloseIncident").into())
    }
    async fn create_task(
        &self,
        _request: Request<CreateTaskRequest>,
    ) -> Result<Response<CreateTaskResponse>, Status> {
        Err(ApiError::Unimplemented("CreateTask").into())
    }
    async fn update_task(
        &self,
        _request: Request<UpdateTaskRequest>,
    ) -> Result<Response<UpdateTaskResponse>, Status> {
        Err(ApiError::Unimplemented("UpdateTask").into())
    }
    async fn cancel_task(
        &self,
        _request: Request<CancelTaskRequest>,
    ) -> Result<Response<CancelTaskResponse>, Status> {
        Err(ApiError::Unimplemented("CancelTask").into())
    }
    async fn complete_task(
        &self,
        _request: Request<CompleteTaskRequest>,
    ) -> Result<Response<CompleteTaskResponse>, Status> {
        Err(ApiError::Unimplemented("CompleteTask").into())
    }
    async fn get_task(
        &self,
        _request: Request<GetTaskRequest>,
    ) -> Result<Response<GetTaskResponse>, Status> {
        Err(ApiError::Unimplemented("GetTask").into())
    }
    async fn list_tasks(
        &self,
        _request: Request<ListTasksRequest>,
    ) -> Result<Response<ListTasksResponse>, Status> {
        Err(ApiError::Unimplemented("ListTasks").into())
    }
}

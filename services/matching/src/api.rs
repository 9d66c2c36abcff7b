//! The `MatchingService` gRPC API.
//!
//! The service serves, reports its health and migrates its database; the RPCs themselves land
//! with issue #5 and answer `Unimplemented` until then, never a fake success.

use spontan_platform::ApiError;
use spontan_proto::v1::matching_service_server::MatchingService;
use spontan_proto::v1::*;
use tonic::{Request, Response, Status};

/// Handlers of `spontan.v1.MatchingService`.
#[derive(Debug, Clone, Default)]
pub struct Api;

/// The stream of `WatchMatchChanges`.
pub type MatchChangeStream = std::pin::Pin<
    Box<
        dyn tokio_stream::Stream<Item = Result<WatchMatchChangesResponse, Status>> + Send + 'static,
    >,
>;

#[tonic::async_trait]
impl MatchingService for Api {
    type WatchMatchChangesStream = MatchChangeStream;

    async fn list_match_changes(
        &self,
        _request: Request<ListMatchChangesRequest>,
    ) -> Result<Response<ListMatchChangesResponse>, Status> {
        Err(ApiError::Unimplemented("ListMatchChanges").into())
    }
    async fn watch_match_changes(
        &self,
        _request: Request<WatchMatchChangesRequest>,
    ) -> Result<Response<Self::WatchMatchChangesStream>, Status> {
        Err(ApiError::Unimplemented("WatchMatchChanges").into())
    }
    async fn get_task_staffing(
        &self,
        _request: Request<GetTaskStaffingRequest>,
    ) -> Result<Response<GetTaskStaffingResponse>, Status> {
        Err(ApiError::Unimplemented("GetTaskStaffing").into())
    }
    async fn get_incident_summary(
        &self,
        _request: Request<GetIncidentSummaryRequest>,
    ) -> Result<Response<GetIncidentSummaryResponse>, Status> {
        Err(ApiError::Unimplemented("GetIncidentSummary").into())
    }
    async fn list_my_offers(
        &self,
        _request: Request<ListMyOffersRequest>,
    ) -> Result<Response<ListMyOffersResponse>, Status> {
        Err(ApiError::Unimplemented("ListMyOffers").into())
    }
    async fn respond_to_offer(
        &self,
        _request: Request<RespondToOfferRequest>,
    ) -> Result<Response<RespondToOfferResponse>, Status> {
        Err(ApiError::Unimplemented("RespondToOffer").into())
    }
    async fn check_in(
        &self,
        _request: Request<CheckInRequest>,
    ) -> Result<Response<CheckInResponse>, Status> {
        Err(ApiError::Unimplemented("CheckIn").into())
    }
    async fn complete_match(
        &self,
        _request: Request<CompleteMatchRequest>,
    ) -> Result<Response<CompleteMatchResponse>, Status> {
        Err(ApiError::Unimplemented("CompleteMatch").into())
    }
    async fn optimize_incident(
        &self,
        _request: Request<OptimizeIncidentRequest>,
    ) -> Result<Response<OptimizeIncidentResponse>, Status> {
        Err(ApiError::Unimplemented("OptimizeIncident").into())
    }
}

//! The `RegistrationService` gRPC API.
//!
//! The service serves, reports its health and migrates its database; the RPCs themselves land
//! with issue #3 and answer `Unimplemented` until then, never a fake success.

use spontan_platform::ApiError;
use spontan_proto::v1::registration_service_server::RegistrationService;
use spontan_proto::v1::*;
use tonic::{Request, Response, Status};

/// Handlers of `spontan.v1.RegistrationService`.
#[derive(Debug, Clone, Default)]
pub struct Api;

#[tonic::async_trait]
impl RegistrationService for Api {
    async fn register(
        &self,
        _request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        Err(ApiError::Unimplemented("Register").into())
    }
    async fn get_my_profile(
        &self,
        _request: Request<GetMyProfileRequest>,
    ) -> Result<Response<GetMyProfileResponse>, Status> {
        Err(ApiError::Unimplemented("GetMyProfile").into())
    }
    async fn update_my_profile(
        &self,
        _request: Request<UpdateMyProfileRequest>,
    ) -> Result<Response<UpdateMyProfileResponse>, Status> {
        Err(ApiError::Unimplemented("UpdateMyProfile").into())
    }
    async fn set_availability(
        &self,
        _request: Request<SetAvailabilityRequest>,
    ) -> Result<Response<SetAvailabilityResponse>, Status> {
        Err(ApiError::Unimplemented("SetAvailability").into())
    }
    async fn pause_me(
        &self,
        _request: Request<PauseMeRequest>,
    ) -> Result<Response<PauseMeResponse>, Status> {
        Err(ApiError::Unimplemented("PauseMe").into())
    }
    async fn resume_me(
        &self,
        _request: Request<ResumeMeRequest>,
    ) -> Result<Response<ResumeMeResponse>, Status> {
        Err(ApiError::Unimplemented("ResumeMe").into())
    }
    async fn export_my_data(
        &self,
        _request: Request<ExportMyDataRequest>,
    ) -> Result<Response<ExportMyDataResponse>, Status> {
        Err(ApiError::Unimplemented("ExportMyData").into())
    }
    async fn erase_me(
        &self,
        _request: Request<EraseMeRequest>,
    ) -> Result<Response<EraseMeResponse>, Status> {
        Err(ApiError::Unimplemented("EraseMe").into())
    }
    async fn renew_my_token(
        &self,
        _request: Request<RenewMyTokenRequest>,
    ) -> Result<Response<RenewMyTokenResponse>, Status> {
        Err(ApiError::Unimplemented("RenewMyToken").into())
    }
    async fn list_skills(
        &self,
        _request: Request<ListSkillsRequest>,
    ) -> Result<Response<ListSkillsResponse>, Status> {
        Err(ApiError::Unimplemented("ListSkills").into())
    }
    async fn get_volunteer_contact(
        &self,
        _request: Request<GetVolunteerContactRequest>,
    ) -> Result<Response<GetVolunteerContactResponse>, Status> {
        Err(ApiError::Unimplemented("GetVolunteerContact").into())
    }
}

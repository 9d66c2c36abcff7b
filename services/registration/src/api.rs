//! The `RegistrationService` gRPC handlers: authentication, rate limit, then one call into
//! the [`Registry`]. Contact lookup for coordinators (`GetVolunteerContact`) is in
//! [`crate::contact`].

use std::sync::Arc;

use chrono::Utc;
use spontan_platform::ApiError;
use spontan_platform::auth::access::{ADMINS, VOLUNTEER, WRITERS};
use spontan_platform::auth::{Access, Allowed, principal};
use spontan_platform::client::{self, ClientKey};
use spontan_platform::events::timestamp;
use spontan_proto::v1::registration_service_server::RegistrationService;
use spontan_proto::v1::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::convert;
use crate::domain::Status as VolunteerState;
use crate::ratelimit::{Limited, RateLimiter};
use crate::volunteers::Registry;

/// Who may call each method (checked before the request is read; [`spontan_platform::auth::access`]).
pub const ACCESS: Access = Access {
    service: "spontan.v1.RegistrationService",
    methods: &[
        ("Register", Allowed::Anyone),
        ("GetMyProfile", VOLUNTEER),
        ("UpdateMyProfile", VOLUNTEER),
        ("SetAvailability", VOLUNTEER),
        ("PauseMe", VOLUNTEER),
        ("ResumeMe", VOLUNTEER),
        ("ExportMyData", VOLUNTEER),
        ("EraseMe", VOLUNTEER),
        ("RenewMyToken", VOLUNTEER),
        // The refresh token is the credential.
        ("RefreshSession", Allowed::Anyone),
        ("SignOutEverywhere", VOLUNTEER),
        ("SendContactCode", VOLUNTEER),
        ("ConfirmContact", VOLUNTEER),
        ("ListContactReads", ADMINS),
        ("ListSkills", Allowed::Anyone),
        // Only for a match the volunteer accepted, in the coordinator's organisation.
        ("GetVolunteerContact", WRITERS),
        // Their organisation's volunteers only (admins: any).
        ("SendVolunteerMessage", WRITERS),
        ("ListVolunteerMessages", WRITERS),
        // Names of their organisation's volunteers (admins: any); audited.
        ("ListParticipants", WRITERS),
    ],
};

/// Handlers of `spontan.v1.RegistrationService`.
#[derive(Debug, Clone)]
pub struct Api {
    pub registry: Registry,
    pub messages: crate::messages::Messages,
    pub confirmations: crate::confirmation::Confirmations,
    pub limiter: Arc<RateLimiter>,
    /// `grpc.trusted_proxies`: whose forwarded-for headers name the client.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
}

/// The volunteer id of the caller's token.
fn caller<T>(request: &Request<T>) -> Result<Uuid, ApiError> {
    Ok(principal(request)?.require_volunteer()?.uuid())
}

/// A `RegisterResponse` or `RefreshSessionResponse` (the same five fields) carrying a
/// session's tokens.
macro_rules! session_answer {
    ($message:ident, $tokens:expr) => {{
        let tokens: crate::sessions::SessionTokens = $tokens;
        $message {
            volunteer_id: tokens.volunteer_id.to_string(),
            access_token: tokens.access.token,
            access_token_expires_at: Some(timestamp(tokens.access.expires_at)),
            refresh_token: tokens.refresh_token,
            refresh_token_expires_at: Some(timestamp(tokens.refresh_expires_at)),
        }
    }};
}

impl Api {
    /// The volunteer of the caller's token, if the token is still good: the volunteer is live
    /// and did not sign out everywhere after it was issued ([`crate::sessions`]).
    async fn volunteer<T>(&self, request: &Request<T>) -> Result<Uuid, ApiError> {
        let id = caller(request)?;
        self.registry
            .check_token(principal(request)?, id, false)
            .await?;
        Ok(id)
    }

    fn profile(&self, v: &crate::domain::Volunteer) -> VolunteerProfile {
        convert::profile(v, self.registry.confirmation_required(v))
    }

    async fn set_status(
        &self,
        id: Uuid,
        status: VolunteerState,
    ) -> Result<VolunteerProfile, ApiError> {
        let v = self
            .registry
            .change(id, None, |v| {
                v.status = status;
                Ok(())
            })
            .await?;
        Ok(self.profile(&v))
    }
}

#[tonic::async_trait]
impl RegistrationService for Api {
    #[tracing::instrument(skip_all, fields(volunteer_id))]
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        if let Some(peer) = request.remote_addr() {
            let headers = request.metadata().clone().into_headers();
            let client = ClientKey::of(client::address(peer.ip(), &headers, &self.trusted_proxies));
            if let Err(limited) = self.limiter.check(client) {
                let limit = match limited {
                    Limited::Client(_) => "client",
                    Limited::Everyone(_) => "everyone",
                };
                tracing::info!(%client, limit, "register rate limit hit");
                metrics::counter!("registration_register_rate_limited_total", "limit" => limit)
                    .increment(1);
                return Err(ApiError::ResourceExhausted {
                    retry_after: limited.retry_after(),
                }
                .into());
            }
        }
        let tokens = self.registry.register(request.get_ref()).await?;
        tracing::Span::current()
            .record("volunteer_id", tracing::field::display(tokens.volunteer_id));
        Ok(Response::new(session_answer!(RegisterResponse, tokens)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_my_profile(
        &self,
        request: Request<GetMyProfileRequest>,
    ) -> Result<Response<GetMyProfileResponse>, Status> {
        let v = self.registry.get(self.volunteer(&request).await?).await?;
        Ok(Response::new(GetMyProfileResponse {
            profile: Some(self.profile(&v)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_my_profile(
        &self,
        request: Request<UpdateMyProfileRequest>,
    ) -> Result<Response<UpdateMyProfileResponse>, Status> {
        let id = self.volunteer(&request).await?;
        let body = request.into_inner();
        let new = body.profile.unwrap_or_default();
        let paths = body.update_mask.map(|m| m.paths).unwrap_or_default();
        let expected = (new.version != 0).then(|| i64::try_from(new.version).unwrap_or(i64::MAX));
        let v = self
            .registry
            .change(id, expected, |v| {
                v.profile = convert::merge(v, &new, &paths)?;
                Ok(())
            })
            .await?;
        Ok(Response::new(UpdateMyProfileResponse {
            profile: Some(self.profile(&v)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn set_availability(
        &self,
        request: Request<SetAvailabilityRequest>,
    ) -> Result<Response<SetAvailabilityResponse>, Status> {
        let id = self.volunteer(&request).await?;
        let mut violations = spontan_platform::error::Violations::new();
        let windows = crate::validation::windows(
            &request.get_ref().availability,
            "availability",
            Utc::now(),
            &mut violations,
        );
        let windows = violations.finish(windows)?;
        let v = self
            .registry
            .change(id, None, |v| {
                v.windows = windows;
                Ok(())
            })
            .await?;
        Ok(Response::new(SetAvailabilityResponse {
            profile: Some(self.profile(&v)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn pause_me(
        &self,
        request: Request<PauseMeRequest>,
    ) -> Result<Response<PauseMeResponse>, Status> {
        let profile = self
            .set_status(self.volunteer(&request).await?, VolunteerState::Paused)
            .await?;
        Ok(Response::new(PauseMeResponse {
            profile: Some(profile),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn resume_me(
        &self,
        request: Request<ResumeMeRequest>,
    ) -> Result<Response<ResumeMeResponse>, Status> {
        let profile = self
            .set_status(self.volunteer(&request).await?, VolunteerState::Active)
            .await?;
        Ok(Response::new(ResumeMeResponse {
            profile: Some(profile),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn export_my_data(
        &self,
        request: Request<ExportMyDataRequest>,
    ) -> Result<Response<ExportMyDataResponse>, Status> {
        let v = self.registry.get(self.volunteer(&request).await?).await?;
        let json = crate::export::export(&self.registry.pool, &v).await?;
        Ok(Response::new(ExportMyDataResponse {
            json: json.to_string(),
            exported_at: Some(timestamp(Utc::now())),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn erase_me(
        &self,
        request: Request<EraseMeRequest>,
    ) -> Result<Response<EraseMeResponse>, Status> {
        // A retry after the erasure succeeded gets the same answer; a token refused by "sign
        // out everywhere" erases nothing.
        let id = caller(&request)?;
        self.registry
            .check_token(principal(&request)?, id, true)
            .await?;
        if !request.get_ref().confirm {
            return Err(
                ApiError::invalid("confirm", "must be true: erasure cannot be undone").into(),
            );
        }
        let erased_at = self.registry.erase(id).await?;
        Ok(Response::new(EraseMeResponse {
            erased_at: Some(timestamp(erased_at)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn renew_my_token(
        &self,
        request: Request<RenewMyTokenRequest>,
    ) -> Result<Response<RenewMyTokenResponse>, Status> {
        let id = self.volunteer(&request).await?;
        let token = self.registry.renew(principal(&request)?, id).await?;
        Ok(Response::new(RenewMyTokenResponse {
            access_token: token.token,
            access_token_expires_at: Some(timestamp(token.expires_at)),
        }))
    }

    #[tracing::instrument(skip_all, fields(volunteer_id))]
    async fn refresh_session(
        &self,
        request: Request<RefreshSessionRequest>,
    ) -> Result<Response<RefreshSessionResponse>, Status> {
        let tokens = self
            .registry
            .refresh(&request.get_ref().refresh_token)
            .await?;
        tracing::Span::current()
            .record("volunteer_id", tracing::field::display(tokens.volunteer_id));
        Ok(Response::new(session_answer!(
            RefreshSessionResponse,
            tokens
        )))
    }

    #[tracing::instrument(skip_all)]
    async fn sign_out_everywhere(
        &self,
        request: Request<SignOutEverywhereRequest>,
    ) -> Result<Response<SignOutEverywhereResponse>, Status> {
        let id = self.volunteer(&request).await?;
        let (ended, kept) = self
            .registry
            .sign_out_everywhere(
                principal(&request)?,
                id,
                request.get_ref().keep_this_session,
            )
            .await?;
        let mut response = SignOutEverywhereResponse {
            ended_sessions: i32::try_from(ended).unwrap_or(i32::MAX),
            ..Default::default()
        };
        if let Some(tokens) = kept {
            response.access_token = tokens.access.token;
            response.access_token_expires_at = Some(timestamp(tokens.access.expires_at));
            response.refresh_token = tokens.refresh_token;
            response.refresh_token_expires_at = Some(timestamp(tokens.refresh_expires_at));
        }
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all)]
    async fn send_contact_code(
        &self,
        request: Request<SendContactCodeRequest>,
    ) -> Result<Response<SendContactCodeResponse>, Status> {
        let id = self.volunteer(&request).await?;
        let channel = AlertChannel::try_from(request.get_ref().channel)
            .map_err(|_| ApiError::invalid("channel", "is not a known channel"))?;
        let sent = self.confirmations.send(id, channel).await?;
        Ok(Response::new(SendContactCodeResponse {
            channel: sent.channel as i32,
            sent_to: sent.sent_to,
            expires_at: Some(timestamp(sent.expires_at)),
            resend_after: Some(timestamp(sent.resend_after)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn confirm_contact(
        &self,
        request: Request<ConfirmContactRequest>,
    ) -> Result<Response<ConfirmContactResponse>, Status> {
        let id = self.volunteer(&request).await?;
        let v = self
            .confirmations
            .confirm(id, &request.get_ref().code)
            .await?;
        Ok(Response::new(ConfirmContactResponse {
            profile: Some(self.profile(&v)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_contact_reads(
        &self,
        request: Request<ListContactReadsRequest>,
    ) -> Result<Response<ListContactReadsResponse>, Status> {
        // Admins only: the access rule (ACCESS) refused everyone else before this runs.
        let r = request.get_ref();
        let mut v = spontan_platform::error::Violations::new();
        if r.task_ids.is_empty() {
            v.add("task_ids", "name at least one task");
        }
        let mut tasks = Vec::new();
        if v.list_within("task_ids", r.task_ids.len(), 500) {
            for (i, text) in r.task_ids.iter().enumerate() {
                if let Some(id) = v.id::<Uuid>(&format!("task_ids[{i}]"), text) {
                    tasks.push(id);
                }
            }
        }
        let limit = v.id_page(r.after_id, r.limit);
        v.finish(())?;
        let rows =
            crate::store::matches::contact_reads(&self.registry.pool, &tasks, r.after_id, limit)
                .await
                .map_err(ApiError::from)?;
        let next_after_id = rows.last().map_or(r.after_id, |read| read.id);
        Ok(Response::new(ListContactReadsResponse {
            reads: rows.into_iter().map(convert::contact_read).collect(),
            next_after_id,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_skills(
        &self,
        request: Request<ListSkillsRequest>,
    ) -> Result<Response<ListSkillsResponse>, Status> {
        let category = request.get_ref().category.trim();
        let mut skills: Vec<Skill> = crate::store::skills::skills(&self.registry.pool, category)
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .map(|(id, label_de, label_en, category)| Skill {
                id,
                label_de,
                label_en,
                category,
            })
            .collect();
        if skills.is_empty() {
            // The table is seeded right after start; until then the compiled list answers.
            skills = spontan_platform::skills::TAXONOMY
                .iter()
                .filter(|s| category.is_empty() || s.category == category)
                .map(|s| Skill {
                    id: s.id.into(),
                    label_de: s.label_de.into(),
                    label_en: s.label_en.into(),
                    category: s.category.into(),
                })
                .collect();
            skills.sort_by(|a, b| (&a.category, &a.id).cmp(&(&b.category, &b.id)));
        }
        Ok(Response::new(ListSkillsResponse { skills }))
    }

    #[tracing::instrument(skip_all)]
    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id, message_id = %request.get_ref().message_id))]
    async fn send_volunteer_message(
        &self,
        request: Request<SendVolunteerMessageRequest>,
    ) -> Result<Response<SendVolunteerMessageResponse>, Status> {
        let caller = principal(&request)?;
        let message = self.messages.send(caller, request.get_ref()).await?;
        Ok(Response::new(SendVolunteerMessageResponse {
            message: Some(message),
        }))
    }

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id))]
    async fn list_volunteer_messages(
        &self,
        request: Request<ListVolunteerMessagesRequest>,
    ) -> Result<Response<ListVolunteerMessagesResponse>, Status> {
        let caller = principal(&request)?;
        let messages = self.messages.list(caller, request.get_ref()).await?;
        Ok(Response::new(ListVolunteerMessagesResponse { messages }))
    }

    #[tracing::instrument(skip_all, fields(incident_id = %request.get_ref().incident_id))]
    async fn list_participants(
        &self,
        request: Request<ListParticipantsRequest>,
    ) -> Result<Response<ListParticipantsResponse>, Status> {
        let caller = principal(&request)?;
        let answer = crate::participation::list(&self.registry, caller, request.get_ref()).await?;
        Ok(Response::new(answer))
    }

    async fn get_volunteer_contact(
        &self,
        request: Request<GetVolunteerContactRequest>,
    ) -> Result<Response<GetVolunteerContactResponse>, Status> {
        let caller = principal(&request)?;
        let r = request.get_ref();
        let answer =
            crate::contact::get(&self.registry, caller, &r.match_id, &r.contact_grant).await?;
        Ok(Response::new(answer))
    }
}

#[cfg(test)]
mod access_tests {
    #[test]
    fn every_method_has_an_access_rule() {
        super::ACCESS.assert_complete(spontan_proto::FILE_DESCRIPTOR_SET);
    }
}

//! What the matrix acts on and how it is made: the requests of the fixture's volunteers,
//! incidents and tasks, and tokens whose claims the test chooses.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use spontan_e2e::Suite;
use spontan_platform::auth::decode_key;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tonic::transport::Channel;
use uuid::Uuid;

use super::{HOME, ORG};

/// What the calls act on, set up by the coordinator and the volunteer before the matrix.
pub(super) struct Fixture {
    pub(super) registration: RegistrationServiceClient<Channel>,
    pub(super) tasks: TaskServiceClient<Channel>,
    pub(super) matching: MatchingServiceClient<Channel>,
    /// The incident and task the volunteer is matched to.
    pub(super) incident: String,
    pub(super) task: String,
    pub(super) match_id: String,
    /// The task's check-in code, as the coordinator shows it at the meeting point.
    pub(super) check_in_code: String,
    /// An incident far from every volunteer, for writes.
    pub(super) side_incident: String,
    pub(super) incident_to_close: String,
    pub(super) task_to_update: (String, u64),
    pub(super) task_to_cancel: String,
    pub(super) task_to_complete: String,
}

pub(super) fn near(north_km: f64, east_km: f64) -> GeoPoint {
    GeoPoint {
        latitude: HOME.0 + north_km / 111.2,
        longitude: HOME.1 + east_km / 70.6,
    }
}

/// Hamburg: no volunteer of this test lives within reach.
pub(super) fn far_away() -> GeoPoint {
    GeoPoint {
        latitude: 53.55,
        longitude: 9.99,
    }
}

/// A volunteer of the fixture: alerts by SMS, born 1988.
pub(super) fn registration(
    name: &str,
    phone: &str,
    email: &str,
    home: GeoPoint,
) -> RegisterRequest {
    RegisterRequest {
        contact: Some(Contact {
            display_name: name.into(),
            phone_e164: phone.into(),
            email: email.into(),
        }),
        preferred_alert_channel: AlertChannel::Sms.into(),
        birth_year: 1988,
        ..spontan_e2e::registration(name, phone, home)
    }
}

/// A newcomer registering during the matrix, far from every task.
pub(super) fn probe_registration() -> RegisterRequest {
    let n = Uuid::new_v4().as_u128() % 100_000_000;
    let mut request = registration(
        "Probe",
        &format!("+49152{n:08}"),
        "",
        GeoPoint {
            latitude: 48.14,
            longitude: 11.58,
        },
    );
    request.availability.clear();
    request
}

/// A task for one person of any age, at `at`.
pub(super) fn task_request(incident: &str, title: &str, at: GeoPoint) -> CreateTaskRequest {
    CreateTaskRequest {
        description: String::new(),
        meeting_point: Some(at),
        address: "Am Deich 1".into(),
        min_age: 0,
        headcount: 1,
        ..spontan_e2e::task_request(incident, title)
    }
}

pub(super) fn incident_request(name: &str, centre: GeoPoint) -> CreateIncidentRequest {
    CreateIncidentRequest {
        name: name.into(),
        region_centre: Some(centre),
        ..spontan_e2e::incident_request(ORG)
    }
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A token signed with the suite's own key whose claims we choose (`exp` in the past, say).
pub(super) fn signed_token(
    suite: &Suite,
    role: &str,
    org: Option<&str>,
    iat: u64,
    exp: u64,
) -> String {
    let seed = decode_key(suite.auth.signing_key.expose()).expect("the suite's key decodes");
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let mut claims = serde_json::json!({
        "sub": "admin-1", "role": role, "iss": suite.auth.issuer, "iat": iat, "exp": exp,
    });
    if let Some(org) = org {
        claims["org"] = org.into();
    }
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).to_bytes());
    format!("{input}.{signature}")
}

pub(super) struct Registered {
    pub(super) id: String,
    pub(super) token: String,
}

pub(super) async fn register(
    fx_registration: &RegistrationServiceClient<Channel>,
    request: RegisterRequest,
) -> Registered {
    let response = fx_registration
        .clone()
        .register(request)
        .await
        .expect("registered")
        .into_inner();
    Registered {
        id: response.volunteer_id,
        token: response.access_token,
    }
}

//! The access matrix: every RPC of the suite, called by every kind of caller, against one
//! table of expected gRPC codes.
//!
//! The RPCs are enumerated from the compiled schema (`spontan_proto::FILE_DESCRIPTOR_SET`),
//! so an RPC added to a `.proto` file without a row here fails `every_rpc_has_a_row`, and a
//! row for an RPC that no longer exists fails it too. Health and reflection are not ours and
//! are excluded by name.
//!
//! Callers (columns): no token, an expired token, a forged token (signed by another key; both
//! claim the admin role, the strongest), the volunteer who owns the fixture's match, another
//! volunteer, a coordinator of another organisation, the coordinator of the fixture's
//! organisation, its dashboard, and an admin. Allowed callers get OK or a domain code that
//! proves they passed the access check; everyone else gets Unauthenticated (no valid token)
//! or PermissionDenied (valid token, wrong role or organisation). The one exception is the
//! contract's: a volunteer asking about another volunteer's match gets NotFound, because a
//! volunteer never learns whether another's resource exists (`common.proto`).
//!
//! Every OK answer to the dashboard is walked field by field against the response type's
//! descriptor: no personal field (docs/privacy.md) may be set, and none of the fixture
//! volunteer's name, phone, e-mail, id or exact home coordinates may appear in the bytes.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use prost::Message;
use prost_types::{DescriptorProto, FileDescriptorSet, field_descriptor_proto::Type};
use spontan_e2e::{Suite, authorized, channel, eventually};
use spontan_platform::auth::{Role, TokenIssuer, decode_key, generate_signing_key};
use spontan_platform::config::{AuthConfig, Secret};
use spontan_platform::events::timestamp;
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

const ORG: &str = "thw-ov-zugang";
const OTHER_ORG: &str = "drk-kv-anderswo";
const WAIT: Duration = Duration::from_secs(60);

/// Services that are served but are not ours: the matrix does not cover them.
const EXCLUDED_SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The columns of the matrix, in call order.
const CALLERS: [&str; 9] = [
    "no token",
    "expired token",
    "forged token",
    "volunteer",
    "other volunteer",
    "other org coordinator",
    "coordinator",
    "dashboard",
    "admin",
];
const DASHBOARD: usize = 7;

const OK: Code = Code::Ok;
const UA: Code = Code::Unauthenticated;
const PD: Code = Code::PermissionDenied;
const NF: Code = Code::NotFound;
const IA: Code = Code::InvalidArgument;

/// Public RPCs: anyone, but a token that is sent must be valid.
const PUBLIC: [Code; 9] = [OK, UA, UA, OK, OK, OK, OK, OK, OK];
/// The caller's own volunteer data: volunteers only.
const VOLUNTEER: [Code; 9] = [UA, UA, UA, OK, OK, PD, PD, PD, PD];
/// Writes of the organisation: its coordinators and admins.
const WRITER: [Code; 9] = [UA, UA, UA, PD, PD, PD, OK, PD, OK];
/// Reads of the organisation: its coordinators and dashboards, and admins.
const READER: [Code; 9] = [UA, UA, UA, PD, PD, PD, OK, OK, OK];

/// Personal fields (docs/privacy.md), by proto field name: none may be set in an answer to a
/// dashboard.
const PERSONAL_FIELDS: &[&str] = &[
    "contact",
    "display_name",
    "phone_e164",
    "email",
    "channel_addresses",
    "signal_phone_e164",
    "whatsapp_phone_e164",
    "telegram_chat_id",
    "push_token",
    "home_location",
    "birth_year",
    "volunteer_id",
];

/// The fixture volunteer's personal data; each value is searched for in dashboard answers.
const NAME: &str = "Zuzanna Zugangsmarker";
const PHONE: &str = "+4915199911101";
const EMAIL: &str = "zuzanna.zugang@example.org";
const HOME: (f64, f64) = (50.542_713_7, 7.112_513_9);

type Reply = Pin<Box<dyn Future<Output = Result<Vec<u8>, Status>> + Send>>;
/// One call of one RPC as one caller (token or none); the encoded response on success.
type Call = fn(Arc<Fixture>, Option<String>) -> Reply;

struct Row {
    /// `package.Service/Method`.
    method: &'static str,
    expect: [Code; 9],
    call: Call,
    /// Why the dashboard's OK answer may carry personal data (it is the caller's own).
    own_data: Option<&'static str>,
}

/// What the calls act on, set up by the coordinator and the volunteer before the matrix.
struct Fixture {
    registration: RegistrationServiceClient<Channel>,
    tasks: TaskServiceClient<Channel>,
    matching: MatchingServiceClient<Channel>,
    /// The incident and task the volunteer is matched to.
    incident: String,
    task: String,
    match_id: String,
    /// The task's check-in code, as the coordinator shows it at the meeting point.
    check_in_code: String,
    /// An incident far from every volunteer, for writes.
    side_incident: String,
    incident_to_close: String,
    task_to_update: (String, u64),
    task_to_cancel: String,
    task_to_complete: String,
}

fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    match token {
        Some(token) => authorized(message, token),
        None => tonic::Request::new(message),
    }
}

/// A row calling `$client.$method` with the request built from the fixture `$fx`.
macro_rules! rpc {
    ($client:ident . $method:ident, |$fx:ident| $request:expr) => {{
        fn call($fx: Arc<Fixture>, token: Option<String>) -> Reply {
            Box::pin(async move {
                let request = $request;
                let mut client = $fx.$client.clone();
                let response = client
                    .$method(with_token(request, token.as_deref()))
                    .await?;
                Ok(response.into_inner().encode_to_vec())
            })
        }
        call as Call
    }};
}

fn row(method: &'static str, expect: [Code; 9], call: Call) -> Row {
    Row {
        method,
        expect,
        call,
        own_data: None,
    }
}

fn near(north_km: f64, east_km: f64) -> GeoPoint {
    GeoPoint {
        latitude: HOME.0 + north_km / 111.2,
        longitude: HOME.1 + east_km / 70.6,
    }
}

/// Hamburg: no volunteer of this test lives within reach.
fn far_away() -> GeoPoint {
    GeoPoint {
        latitude: 53.55,
        longitude: 9.99,
    }
}

fn window(from_hours: i64, to_hours: i64) -> TimeWindow {
    let now = chrono::Utc::now();
    TimeWindow {
        start_time: Some(timestamp(now + chrono::Duration::hours(from_hours))),
        end_time: Some(timestamp(now + chrono::Duration::hours(to_hours))),
    }
}

fn registration(name: &str, phone: &str, email: &str, home: GeoPoint) -> RegisterRequest {
    RegisterRequest {
        idempotency_key: Uuid::new_v4().to_string(),
        consent: Some(Consent {
            given: true,
            text_version: "2025-06-de".into(),
        }),
        contact: Some(Contact {
            display_name: name.into(),
            phone_e164: phone.into(),
            email: email.into(),
        }),
        preferred_alert_channel: AlertChannel::Sms.into(),
        channel_addresses: None,
        skill_ids: vec!["sandbag_filling".into()],
        languages: vec!["de".into()],
        birth_year: 1988,
        home_location: Some(home),
        travel_radius_km: 30.0,
        availability: vec![window(0, 12)],
    }
}

/// A newcomer registering during the matrix, far from every task.
fn probe_registration() -> RegisterRequest {
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

fn task_request(incident: &str, title: &str, at: GeoPoint) -> CreateTaskRequest {
    CreateTaskRequest {
        idempotency_key: Uuid::new_v4().to_string(),
        incident_id: incident.to_owned(),
        title: title.to_owned(),
        description: String::new(),
        meeting_point: Some(at),
        address: "Am Deich 1".into(),
        required_skill_ids: vec!["sandbag_filling".into()],
        preferred_skill_ids: Vec::new(),
        min_age: 0,
        headcount: 1,
        window: Some(window(1, 4)),
        priority: Priority::High.into(),
        max_distance_km: 30.0,
        safety_notes: String::new(),
    }
}

fn incident_request(name: &str, centre: GeoPoint) -> CreateIncidentRequest {
    CreateIncidentRequest {
        idempotency_key: Uuid::new_v4().to_string(),
        organisation_id: ORG.into(),
        name: name.into(),
        description: String::new(),
        region_centre: Some(centre),
        region_radius_km: 25.0,
    }
}

fn watch(fx: Arc<Fixture>, token: Option<String>) -> Reply {
    Box::pin(async move {
        let request = WatchMatchChangesRequest {
            incident_id: fx.incident.clone(),
            after_sequence: 0,
            limit: 0,
        };
        let mut client = fx.matching.clone();
        let mut stream = client
            .watch_match_changes(with_token(request, token.as_deref()))
            .await?
            .into_inner();
        let first = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no first batch within 20 s"))??;
        Ok(first.map(|m| m.encode_to_vec()).unwrap_or_default())
    })
}

/// The matrix. Rows run in this order, and the order matters where a call changes state:
/// RespondToOffer (repeating the accept) comes before CheckIn, CheckIn before CompleteMatch.
fn table() -> Vec<Row> {
    vec![
        // RegistrationService
        Row {
            own_data: Some("the caller's own new registration"),
            ..row(
                "spontan.v1.RegistrationService/Register",
                PUBLIC,
                rpc!(registration.register, |fx| probe_registration()),
            )
        },
        row(
            "spontan.v1.RegistrationService/ListSkills",
            PUBLIC,
            rpc!(registration.list_skills, |fx| ListSkillsRequest::default()),
        ),
        row(
            "spontan.v1.RegistrationService/GetMyProfile",
            VOLUNTEER,
            rpc!(registration.get_my_profile, |fx| GetMyProfileRequest {}),
        ),
        row(
            "spontan.v1.RegistrationService/UpdateMyProfile",
            VOLUNTEER,
            rpc!(registration.update_my_profile, |fx| {
                UpdateMyProfileRequest {
                    profile: Some(VolunteerProfile {
                        travel_radius_km: 30.0,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["travel_radius_km".into()],
                    }),
                }
            }),
        ),
        row(
            "spontan.v1.RegistrationService/SetAvailability",
            VOLUNTEER,
            rpc!(registration.set_availability, |fx| SetAvailabilityRequest {
                availability: vec![window(0, 12)],
            }),
        ),
        // Pausing keeps the accepted match that GetVolunteerContact, RespondToOffer and
        // CheckIn below act on (it once cancelled it: the matrix found that).
        row(
            "spontan.v1.RegistrationService/PauseMe",
            VOLUNTEER,
            rpc!(registration.pause_me, |fx| PauseMeRequest {}),
        ),
        row(
            "spontan.v1.RegistrationService/ResumeMe",
            VOLUNTEER,
            rpc!(registration.resume_me, |fx| ResumeMeRequest {}),
        ),
        row(
            "spontan.v1.RegistrationService/ExportMyData",
            VOLUNTEER,
            rpc!(registration.export_my_data, |fx| ExportMyDataRequest {}),
        ),
        row(
            "spontan.v1.RegistrationService/RenewMyToken",
            VOLUNTEER,
            rpc!(registration.renew_my_token, |fx| RenewMyTokenRequest {}),
        ),
        // Without confirmation: a volunteer passes the access check and meets the guard.
        row(
            "spontan.v1.RegistrationService/EraseMe",
            [UA, UA, UA, IA, IA, PD, PD, PD, PD],
            rpc!(registration.erase_me, |fx| EraseMeRequest {
                confirm: false
            }),
        ),
        row(
            "spontan.v1.RegistrationService/GetVolunteerContact",
            WRITER,
            rpc!(registration.get_volunteer_contact, |fx| {
                GetVolunteerContactRequest {
                    match_id: fx.match_id.clone(),
                }
            }),
        ),
        // TaskService
        row(
            "spontan.v1.TaskService/CreateIncident",
            WRITER,
            rpc!(tasks.create_incident, |fx| incident_request(
                "Zugangsprobe",
                far_away()
            )),
        ),
        row(
            "spontan.v1.TaskService/GetIncident",
            READER,
            rpc!(tasks.get_incident, |fx| GetIncidentRequest {
                incident_id: fx.incident.clone(),
            }),
        ),
        row(
            "spontan.v1.TaskService/ListIncidents",
            READER,
            rpc!(tasks.list_incidents, |fx| ListIncidentsRequest {
                organisation_id: ORG.into(),
                ..Default::default()
            }),
        ),
        row(
            "spontan.v1.TaskService/CloseIncident",
            WRITER,
            rpc!(tasks.close_incident, |fx| CloseIncidentRequest {
                incident_id: fx.incident_to_close.clone(),
            }),
        ),
        row(
            "spontan.v1.TaskService/CreateTask",
            WRITER,
            rpc!(tasks.create_task, |fx| task_request(
                &fx.side_incident,
                "Zugangsprobe",
                far_away()
            )),
        ),
        // The same title again: allowed callers pass every check and change nothing.
        row(
            "spontan.v1.TaskService/UpdateTask",
            WRITER,
            rpc!(tasks.update_task, |fx| UpdateTaskRequest {
                task: Some(Task {
                    task_id: fx.task_to_update.0.clone(),
                    title: "Zu bearbeiten".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".into()],
                }),
                expected_version: fx.task_to_update.1,
            }),
        ),
        row(
            "spontan.v1.TaskService/CancelTask",
            WRITER,
            rpc!(tasks.cancel_task, |fx| CancelTaskRequest {
                task_id: fx.task_to_cancel.clone(),
                reason: "Zugangsprobe".into(),
            }),
        ),
        row(
            "spontan.v1.TaskService/CompleteTask",
            WRITER,
            rpc!(tasks.complete_task, |fx| CompleteTaskRequest {
                task_id: fx.task_to_complete.clone(),
            }),
        ),
        row(
            "spontan.v1.TaskService/GetTask",
            READER,
            rpc!(tasks.get_task, |fx| GetTaskRequest {
                task_id: fx.task.clone(),
            }),
        ),
        row(
            "spontan.v1.TaskService/ListTasks",
            READER,
            rpc!(tasks.list_tasks, |fx| ListTasksRequest {
                incident_id: fx.incident.clone(),
                ..Default::default()
            }),
        ),
        // MatchingService
        row(
            "spontan.v1.MatchingService/ListMatchChanges",
            READER,
            rpc!(matching.list_match_changes, |fx| ListMatchChangesRequest {
                incident_id: fx.incident.clone(),
                after_sequence: 0,
                limit: 0,
            }),
        ),
        row(
            "spontan.v1.MatchingService/WatchMatchChanges",
            READER,
            watch,
        ),
        row(
            "spontan.v1.MatchingService/GetTaskStaffing",
            READER,
            rpc!(matching.get_task_staffing, |fx| GetTaskStaffingRequest {
                task_id: fx.task.clone(),
                include_finished: true,
            }),
        ),
        row(
            "spontan.v1.MatchingService/GetIncidentSummary",
            READER,
            rpc!(matching.get_incident_summary, |fx| {
                GetIncidentSummaryRequest {
                    incident_id: fx.incident.clone(),
                }
            }),
        ),
        row(
            "spontan.v1.MatchingService/ListMyOffers",
            VOLUNTEER,
            rpc!(matching.list_my_offers, |fx| ListMyOffersRequest {
                include_finished: true,
            }),
        ),
        // The volunteer repeats their accept (unchanged); another volunteer learns nothing.
        row(
            "spontan.v1.MatchingService/RespondToOffer",
            [UA, UA, UA, OK, NF, PD, PD, PD, PD],
            rpc!(matching.respond_to_offer, |fx| RespondToOfferRequest {
                match_id: fx.match_id.clone(),
                decision: OfferDecision::Accept.into(),
                decline_reason: 0,
            }),
        ),
        row(
            "spontan.v1.MatchingService/CheckIn",
            [UA, UA, UA, OK, NF, PD, OK, PD, OK],
            rpc!(matching.check_in, |fx| CheckInRequest {
                match_id: fx.match_id.clone(),
                check_in_code: fx.check_in_code.clone(),
            }),
        ),
        row(
            "spontan.v1.MatchingService/GetCheckInCode",
            WRITER,
            rpc!(matching.get_check_in_code, |fx| GetCheckInCodeRequest {
                task_id: fx.task.clone(),
            }),
        ),
        // After the check-in: the volunteer leaves (COMPLETED), the rest repeat it unchanged.
        row(
            "spontan.v1.MatchingService/CheckOut",
            [UA, UA, UA, OK, NF, PD, OK, PD, OK],
            rpc!(matching.check_out, |fx| CheckOutRequest {
                match_id: fx.match_id.clone(),
            }),
        ),
        row(
            "spontan.v1.MatchingService/CompleteMatch",
            WRITER,
            rpc!(matching.complete_match, |fx| CompleteMatchRequest {
                match_id: fx.match_id.clone(),
                outcome: MatchOutcome::Completed.into(),
            }),
        ),
        row(
            "spontan.v1.MatchingService/OptimizeIncident",
            WRITER,
            rpc!(matching.optimize_incident, |fx| OptimizeIncidentRequest {
                incident_id: fx.incident.clone(),
                dry_run: true,
            }),
        ),
    ]
}

/// Every RPC of our services in the schema, as `package.Service/Method`, with its response
/// type; and every message type by full name (`.spontan.v1.Task`).
struct Schema {
    methods: HashMap<String, String>,
    messages: HashMap<String, DescriptorProto>,
}

fn schema() -> Schema {
    let set = FileDescriptorSet::decode(spontan_proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled schema decodes");
    let mut methods = HashMap::new();
    let mut messages = HashMap::new();
    fn add(prefix: &str, message: &DescriptorProto, into: &mut HashMap<String, DescriptorProto>) {
        let name = format!("{prefix}.{}", message.name());
        for nested in &message.nested_type {
            add(&name, nested, into);
        }
        into.insert(name, message.clone());
    }
    for file in &set.file {
        let package = file.package();
        for message in &file.message_type {
            add(&format!(".{package}"), message, &mut messages);
        }
        for service in &file.service {
            let full = format!("{package}.{}", service.name());
            if EXCLUDED_SERVICES.contains(&full.as_str()) {
                continue;
            }
            for method in &service.method {
                methods.insert(
                    format!("{full}/{}", method.name()),
                    method.output_type().to_owned(),
                );
            }
        }
    }
    Schema { methods, messages }
}

#[test]
fn every_rpc_has_a_row() {
    let served: BTreeSet<String> = schema().methods.into_keys().collect();
    assert!(
        served.len() >= 30,
        "the schema lists only {} RPCs: is FILE_DESCRIPTOR_SET complete?",
        served.len()
    );
    let mut rows = BTreeSet::new();
    for row in table() {
        assert!(
            rows.insert(row.method.to_owned()),
            "two rows for {}",
            row.method
        );
    }
    let missing: Vec<_> = served.difference(&rows).collect();
    let unknown: Vec<_> = rows.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "RPCs without a row in the access matrix (tests/tests/access.rs): {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "rows for RPCs that do not exist: {unknown:?}"
    );
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0_u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Walks the encoded message `bytes` of type `type_name` by its descriptor and records the
/// path of every personal field that is set (present on the wire).
fn personal_fields_set(
    schema: &Schema,
    type_name: &str,
    bytes: &[u8],
    path: &str,
    found: &mut Vec<String>,
) {
    let Some(message) = schema.messages.get(type_name) else {
        // Well-known types (Timestamp, Duration) carry no personal data.
        return;
    };
    let mut at = 0;
    while at < bytes.len() {
        let Some(key) = read_varint(bytes, &mut at) else {
            found.push(format!("{path}: malformed key"));
            return;
        };
        let number = i32::try_from(key >> 3).unwrap_or(-1);
        let field = message.field.iter().find(|f| f.number() == number);
        let name = field.map_or_else(|| format!("#{number}"), |f| f.name().to_owned());
        let here = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        if PERSONAL_FIELDS.contains(&name.as_str()) {
            found.push(here.clone());
        }
        match key & 7 {
            0 => {
                if read_varint(bytes, &mut at).is_none() {
                    found.push(format!("{here}: malformed varint"));
                    return;
                }
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = read_varint(bytes, &mut at).unwrap_or(u64::MAX);
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|len| at.checked_add(len))
                    .filter(|end| *end <= bytes.len());
                let Some(end) = end else {
                    found.push(format!("{here}: malformed length"));
                    return;
                };
                if let Some(f) = field
                    && f.r#type() == Type::Message
                {
                    personal_fields_set(schema, f.type_name(), &bytes[at..end], &here, found);
                }
                at = end;
            }
            other => {
                found.push(format!("{here}: wire type {other}"));
                return;
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Everything personal about the fixture volunteer that could leak, as bytes.
fn markers(volunteer_id: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("name", NAME.as_bytes().to_vec()),
        ("phone", PHONE.as_bytes().to_vec()),
        ("e-mail", EMAIL.as_bytes().to_vec()),
        ("volunteer id", volunteer_id.as_bytes().to_vec()),
        ("exact latitude", HOME.0.to_le_bytes().to_vec()),
        ("exact longitude", HOME.1.to_le_bytes().to_vec()),
    ]
}

/// Personal data in an encoded response: fields set, and markers found.
fn leaks(
    schema: &Schema,
    response_type: &str,
    bytes: &[u8],
    markers: &[(&str, Vec<u8>)],
) -> Vec<String> {
    let mut found = Vec::new();
    personal_fields_set(schema, response_type, bytes, "", &mut found);
    for (what, marker) in markers {
        if contains(bytes, marker) {
            found.push(format!("the volunteer's {what}"));
        }
    }
    found
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A token signed with the suite's own key whose claims we choose (`exp` in the past, say).
fn signed_token(suite: &Suite, role: &str, org: Option<&str>, iat: u64, exp: u64) -> String {
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

struct Registered {
    id: String,
    token: String,
}

async fn register(
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

async fn create_task(
    tasks: &TaskServiceClient<Channel>,
    token: &str,
    request: CreateTaskRequest,
) -> Task {
    tasks
        .clone()
        .create_task(authorized(request, token))
        .await
        .expect("task created")
        .into_inner()
        .task
        .expect("a task")
}

async fn create_incident(
    tasks: &TaskServiceClient<Channel>,
    token: &str,
    request: CreateIncidentRequest,
) -> String {
    tasks
        .clone()
        .create_incident(authorized(request, token))
        .await
        .expect("incident opened")
        .into_inner()
        .incident
        .expect("an incident")
        .incident_id
}

#[tokio::test]
async fn every_rpc_answers_every_caller_as_the_table_says() {
    let schema = schema();
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start_with(broker, |config| {
        // The matrix registers a dozen volunteers from one address.
        config.registration.register_limit.burst = 1000;
    })
    .await
    .expect("suite");
    for (name, service) in suite.services() {
        spontan_e2e::wait_for_health(
            service.grpc,
            name,
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            WAIT,
        )
        .await
        .expect("serving");
    }
    let registration_client =
        RegistrationServiceClient::new(channel(suite.registration.grpc).await.expect("channel"));
    let tasks = TaskServiceClient::new(channel(suite.task.grpc).await.expect("channel"));
    let matching = MatchingServiceClient::new(channel(suite.matching.grpc).await.expect("channel"));

    // The fixture: an incident with one task, a volunteer matched to it and accepted, another
    // volunteer far away, and more tasks and an incident far from everyone for the writes.
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-zugang", Some(ORG));
    let incident = create_incident(
        &tasks,
        &coordinator,
        incident_request("Hochwasser", near(2.0, 3.0)),
    )
    .await;
    let task = create_task(
        &tasks,
        &coordinator,
        task_request(&incident, "Deich", near(1.0, 1.5)),
    )
    .await
    .task_id;
    let volunteer = register(
        &registration_client,
        registration(
            NAME,
            PHONE,
            EMAIL,
            GeoPoint {
                latitude: HOME.0,
                longitude: HOME.1,
            },
        ),
    )
    .await;
    let other = register(&registration_client, probe_registration()).await;
    let offer = eventually(WAIT, "the offer of the task to the volunteer", || {
        let mut matching = matching.clone();
        let request = authorized(
            ListMyOffersRequest {
                include_finished: false,
            },
            &volunteer.token,
        );
        let task = task.clone();
        async move {
            let offers = matching.list_my_offers(request).await.ok()?.into_inner();
            offers.offers.into_iter().find(|o| o.task_id == task)
        }
    })
    .await;
    matching
        .clone()
        .respond_to_offer(authorized(
            RespondToOfferRequest {
                match_id: offer.match_id.clone(),
                decision: OfferDecision::Accept.into(),
                decline_reason: 0,
            },
            &volunteer.token,
        ))
        .await
        .expect("accepted");
    // Registration learns of the acceptance from the match topic.
    eventually(WAIT, "registration to see the accepted match", || {
        let mut registration = registration_client.clone();
        let request = authorized(
            GetVolunteerContactRequest {
                match_id: offer.match_id.clone(),
            },
            &coordinator,
        );
        async move { registration.get_volunteer_contact(request).await.ok() }
    })
    .await;

    let side_incident = create_incident(
        &tasks,
        &coordinator,
        incident_request("Nebenlage", far_away()),
    )
    .await;
    let incident_to_close = create_incident(
        &tasks,
        &coordinator,
        incident_request("Zu schliessen", far_away()),
    )
    .await;
    let to_update = create_task(
        &tasks,
        &coordinator,
        task_request(&side_incident, "Zu bearbeiten", far_away()),
    )
    .await;
    let to_cancel = create_task(
        &tasks,
        &coordinator,
        task_request(&side_incident, "Abzusagen", far_away()),
    )
    .await;
    let to_complete = create_task(
        &tasks,
        &coordinator,
        task_request(&side_incident, "Abzuschliessen", far_away()),
    )
    .await;
    let check_in_code = matching
        .clone()
        .get_check_in_code(authorized(
            GetCheckInCodeRequest {
                task_id: task.clone(),
            },
            &coordinator,
        ))
        .await
        .expect("the coordinator reads the task's check-in code")
        .into_inner()
        .code;
    let fixture = Arc::new(Fixture {
        registration: registration_client.clone(),
        tasks: tasks.clone(),
        matching: matching.clone(),
        incident: incident.clone(),
        task: task.clone(),
        match_id: offer.match_id.clone(),
        check_in_code,
        side_incident,
        incident_to_close,
        task_to_update: (to_update.task_id, to_update.version),
        task_to_cancel: to_cancel.task_id,
        task_to_complete: to_complete.task_id,
    });

    let now = unix_now();
    let forged = TokenIssuer::from_config(&AuthConfig {
        signing_key: Secret::new(generate_signing_key()),
        ..suite.auth.clone()
    })
    .and_then(|issuer| issuer.issue("admin-1", Role::Admin, None, Duration::from_secs(3600)))
    .expect("a token signed by another key");
    let expired = signed_token(&suite, "admin", None, now - 7200, now - 3600);
    // The same hand-made token, unexpired, is accepted: so the expired one is refused for its
    // expiry, not for being hand-made.
    let fresh = signed_token(&suite, "dashboard", Some(ORG), now, now + 600);
    tasks
        .clone()
        .get_incident(authorized(
            GetIncidentRequest {
                incident_id: incident.clone(),
            },
            &fresh,
        ))
        .await
        .expect("a hand-made token with a future expiry is valid");

    let tokens: [Option<String>; 9] = [
        None,
        Some(expired),
        Some(forged),
        Some(volunteer.token.clone()),
        Some(other.token.clone()),
        Some(suite.token(Role::Coordinator, "einsatzleiter-anderswo", Some(OTHER_ORG))),
        Some(coordinator.clone()),
        Some(suite.token(Role::Dashboard, "leitstelle-zugang", Some(ORG))),
        Some(suite.token(Role::Admin, "betrieb", None)),
    ];
    let markers = markers(&volunteer.id);

    // The leak check can fail: the volunteer's own profile is full of personal data.
    let own = registration_client
        .clone()
        .get_my_profile(authorized(GetMyProfileRequest {}, &volunteer.token))
        .await
        .expect("own profile")
        .into_inner()
        .encode_to_vec();
    let found = leaks(&schema, ".spontan.v1.GetMyProfileResponse", &own, &markers);
    for expected in [
        "profile.contact",
        "profile.contact.display_name",
        "the volunteer's name",
    ] {
        assert!(
            found.iter().any(|f| f == expected),
            "the leak check misses {expected} in the volunteer's own profile: {found:?}"
        );
    }

    let table = table();
    let mut mismatches = Vec::new();
    let mut dashboard_checked = Vec::new();
    for row in &table {
        let response_type = &schema.methods[row.method];
        for (column, caller) in CALLERS.iter().enumerate() {
            let result = (row.call)(fixture.clone(), tokens[column].clone()).await;
            let (code, message) = match &result {
                Ok(_) => (Code::Ok, String::new()),
                Err(status) => (status.code(), status.message().to_owned()),
            };
            if code != row.expect[column] {
                mismatches.push(format!(
                    "{:<48} {caller:<22} expected {:?}, got {code:?} {message}",
                    row.method, row.expect[column]
                ));
            }
            if column == DASHBOARD
                && let Ok(bytes) = &result
                && row.own_data.is_none()
            {
                let found = leaks(&schema, response_type, bytes, &markers);
                if !found.is_empty() {
                    mismatches.push(format!(
                        "{:<48} dashboard receives personal data: {found:?}",
                        row.method
                    ));
                }
                dashboard_checked.push(row.method);
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} calls answered otherwise than the access matrix says:\n{}",
        mismatches.len(),
        table.len() * CALLERS.len(),
        mismatches.join("\n")
    );
    // Every read a dashboard may make was checked for personal data.
    assert_eq!(
        dashboard_checked.len(),
        table
            .iter()
            .filter(|r| r.expect[DASHBOARD] == OK && r.own_data.is_none())
            .count()
    );
    assert!(dashboard_checked.len() >= 9, "{dashboard_checked:?}");

    suite.stop().await.expect("stops cleanly");
}

//! The matrix itself: one row per RPC, with the code each of the nine callers must get, and
//! the call that makes the request from the fixture.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use spontan_e2e::{authed, window};
use spontan_proto::v1::*;
use tonic::{Code, Status};

use super::fixture::{Fixture, far_away, incident_request, probe_registration, task_request};
use super::{IA, NF, OK, ORG, PD, UA};

/// Public RPCs: anyone, but a token that is sent must be valid.
const PUBLIC: [Code; 9] = [OK, UA, UA, OK, OK, OK, OK, OK, OK];
/// The caller's own volunteer data: volunteers only.
const VOLUNTEER: [Code; 9] = [UA, UA, UA, OK, OK, PD, PD, PD, PD];
/// Writes of the organisation: its coordinators and admins.
const WRITER: [Code; 9] = [UA, UA, UA, PD, PD, PD, OK, PD, OK];
/// Reads of the organisation: its coordinators and dashboards, and admins.
const READER: [Code; 9] = [UA, UA, UA, PD, PD, PD, OK, OK, OK];

pub(super) type Reply = Pin<Box<dyn Future<Output = Result<Vec<u8>, Status>> + Send>>;
/// One call of one RPC as one caller (token or none); the encoded response on success.
pub(super) type Call = fn(Arc<Fixture>, Option<String>) -> Reply;

pub(super) struct Row {
    /// `package.Service/Method`.
    pub(super) method: &'static str,
    pub(super) expect: [Code; 9],
    pub(super) call: Call,
    /// Why the dashboard's OK answer may carry personal data (it is the caller's own).
    pub(super) own_data: Option<&'static str>,
}

fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    match token {
        Some(token) => authed(message, token),
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
pub(super) fn table() -> Vec<Row> {
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
        // Public, the refresh token is the credential; an empty one meets the guard. A token
        // that is sent must still be valid.
        row(
            "spontan.v1.RegistrationService/RefreshSession",
            [IA, UA, UA, IA, IA, IA, IA, IA, IA],
            rpc!(registration.refresh_session, |fx| RefreshSessionRequest {
                refresh_token: String::new(),
            }),
        ),
        // Without confirmation: a volunteer passes the access check and meets the guard.
        row(
            "spontan.v1.RegistrationService/EraseMe",
            [UA, UA, UA, IA, IA, PD, PD, PD, PD],
            rpc!(registration.erase_me, |fx| EraseMeRequest {
                confirm: false
            }),
        ),
        // A channel codes do not use, and an empty code: volunteers pass the access check
        // and meet the guard.
        row(
            "spontan.v1.RegistrationService/SendContactCode",
            [UA, UA, UA, IA, IA, PD, PD, PD, PD],
            rpc!(registration.send_contact_code, |fx| {
                SendContactCodeRequest {
                    channel: AlertChannel::Signal as i32,
                }
            }),
        ),
        row(
            "spontan.v1.RegistrationService/ConfirmContact",
            [UA, UA, UA, IA, IA, PD, PD, PD, PD],
            rpc!(registration.confirm_contact, |fx| ConfirmContactRequest {
                code: String::new(),
            }),
        ),
        row(
            "spontan.v1.RegistrationService/GetVolunteerContact",
            WRITER,
            rpc!(registration.get_volunteer_contact, |fx| {
                GetVolunteerContactRequest {
                    match_id: fx.match_id.clone(),
                    ..Default::default()
                }
            }),
        ),
        row(
            "spontan.v1.RegistrationService/ListContactReads",
            [UA, UA, UA, PD, PD, PD, PD, PD, OK],
            rpc!(registration.list_contact_reads, |fx| {
                ListContactReadsRequest {
                    task_ids: vec![fx.match_id.clone()],
                    after_id: 0,
                    limit: 0,
                }
            }),
        ),
        // Another organisation's coordinator reaches only their own organisation's volunteers
        // (none here) and sees only their own messages.
        row(
            "spontan.v1.RegistrationService/SendVolunteerMessage",
            [UA, UA, UA, PD, PD, OK, OK, PD, OK],
            rpc!(registration.send_volunteer_message, |fx| {
                SendVolunteerMessageRequest {
                    message_id: uuid::Uuid::new_v4().to_string(),
                    incident_id: fx.side_incident.clone(),
                    task_id: String::new(),
                    text: "Zugangsprobe".into(),
                    essential: false,
                }
            }),
        ),
        row(
            "spontan.v1.RegistrationService/ListVolunteerMessages",
            [UA, UA, UA, PD, PD, OK, OK, PD, OK],
            rpc!(registration.list_volunteer_messages, |fx| {
                ListVolunteerMessagesRequest {
                    incident_id: fx.incident.clone(),
                    ..Default::default()
                }
            }),
        ),
        // Another organisation's coordinator lists only their own organisation's volunteers.
        row(
            "spontan.v1.RegistrationService/ListParticipants",
            [UA, UA, UA, PD, PD, OK, OK, PD, OK],
            rpc!(registration.list_participants, |fx| {
                ListParticipantsRequest {
                    incident_id: fx.incident.clone(),
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
            "spontan.v1.TaskService/ShareIncident",
            WRITER,
            rpc!(tasks.share_incident, |fx| ShareIncidentRequest {
                incident_id: fx.side_incident.clone(),
                organisation_ids: vec!["thw-zugangsprobe".into()],
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
        row(
            "spontan.v1.TaskService/ListTaskAuditEntries",
            [UA, UA, UA, PD, PD, PD, PD, PD, OK],
            rpc!(tasks.list_task_audit_entries, |fx| {
                ListTaskAuditEntriesRequest {
                    incident_id: fx.incident.clone(),
                    after_id: 0,
                    limit: 0,
                }
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
            "spontan.v1.MatchingService/CorrectHours",
            // A match nobody has: allowed callers get past access to the lookup.
            [UA, UA, UA, PD, PD, NF, NF, PD, NF],
            rpc!(matching.correct_hours, |fx| {
                let arrived = chrono::Utc::now() - chrono::Duration::hours(4);
                CorrectHoursRequest {
                    match_id: uuid::Uuid::now_v7().to_string(),
                    checked_in_at: Some(spontan_platform::events::timestamp(arrived)),
                    checked_out_at: Some(spontan_platform::events::timestamp(
                        arrived + chrono::Duration::hours(2),
                    )),
                    reason: "Zugangsprobe".into(),
                }
            }),
        ),
        row(
            "spontan.v1.MatchingService/OptimizeIncident",
            WRITER,
            rpc!(matching.optimize_incident, |fx| OptimizeIncidentRequest {
                incident_id: fx.incident.clone(),
                dry_run: true,
                ..Default::default()
            }),
        ),
        row(
            "spontan.v1.MatchingService/ApplyOptimizationPlan",
            // Allowed callers get past access to the plan lookup: no such plan.
            [UA, UA, UA, PD, PD, PD, NF, PD, NF],
            rpc!(matching.apply_optimization_plan, |fx| {
                ApplyOptimizationPlanRequest {
                    incident_id: fx.incident.clone(),
                    plan_id: uuid::Uuid::now_v7().to_string(),
                }
            }),
        ),
        row(
            "spontan.v1.MatchingService/ListAuditEntries",
            [UA, UA, UA, PD, PD, PD, PD, PD, OK],
            rpc!(matching.list_audit_entries, |fx| ListAuditEntriesRequest {
                incident_id: fx.incident.clone(),
                after_id: 0,
                limit: 0,
            }),
        ),
        // Last: it refuses the volunteers' registration tokens from then on (their sessions
        // are kept, with new tokens that this matrix does not use).
        row(
            "spontan.v1.RegistrationService/SignOutEverywhere",
            VOLUNTEER,
            rpc!(registration.sign_out_everywhere, |fx| {
                SignOutEverywhereRequest {
                    keep_this_session: true,
                }
            }),
        ),
    ]
}

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
//!
//! Layout: `table.rs` holds the matrix, `fixture.rs` what its calls act on, `schema.rs` the
//! schema's RPCs and the walk that finds personal data in an answer.

mod fixture;
mod schema;
mod table;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use spontan_e2e::{Clients, Suite, authed, create_incident, create_task, eventually};
use spontan_platform::auth::{Role, TokenIssuer, generate_signing_key};
use spontan_platform::config::{AuthConfig, Secret};
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::*;
use tonic::Code;

use fixture::{
    Fixture, far_away, incident_request, near, probe_registration, register, registration,
    signed_token, task_request, unix_now,
};
use schema::{leaks, markers, schema};
use table::table;

const ORG: &str = "thw-ov-zugang";
const OTHER_ORG: &str = "drk-kv-anderswo";
const WAIT: Duration = Duration::from_secs(60);

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

/// The fixture volunteer's personal data; each value is searched for in dashboard answers.
const NAME: &str = "Zuzanna Zugangsmarker";
const PHONE: &str = "+4915199911101";
const EMAIL: &str = "zuzanna.zugang@example.org";
const HOME: (f64, f64) = (50.542_713_7, 7.112_513_9);

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
        "RPCs without a row in the access matrix (tests/tests/access/table.rs): {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "rows for RPCs that do not exist: {unknown:?}"
    );
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
    suite.serving(WAIT).await.expect("serving");
    let Clients {
        registration: registration_client,
        tasks,
        matching,
    } = suite.clients().await.expect("clients");

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
        let request = authed(
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
        .respond_to_offer(authed(
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
        let request = authed(
            GetVolunteerContactRequest {
                match_id: offer.match_id.clone(),
                ..Default::default()
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
        .get_check_in_code(authed(
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
        .get_incident(authed(
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
        .get_my_profile(authed(GetMyProfileRequest {}, &volunteer.token))
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

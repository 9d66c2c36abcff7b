//! Property tests of every proto-to-domain step of the task service (`validation::uuid`,
//! `incident_spec`, `task_spec` for CreateTask and UpdateTask, `organisation_id`, `text`,
//! `paging::decode` and `page_size`, `convert::task_status_from`): for arbitrary requests,
//! hostile values included, nothing panics; a request is either turned into a domain value
//! that keeps the documented rules, or refused with `InvalidArgument` and at least one field
//! violation, each naming a field of the request message (checked against the compiled
//! schema).

use chrono::{DateTime, Utc};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use prost::Message;
use prost_types::Timestamp;
use spontan_platform::ApiError;
use spontan_platform::error::Violations;
use spontan_platform::ids::IncidentId;
use spontan_platform::testkit::schema::assert_refusal_of;
use spontan_proto::v1 as pb;
use spontan_task::domain::TaskSpec;
use spontan_task::{convert, paging, validation};
use uuid::Uuid;

/// Checks that collected violations, if any, are a proper rejection of `message`; true when
/// there were none.
fn accepted_or_properly_refused(v: Violations, message: &str) -> bool {
    let Err(error) = v.finish(()) else {
        return true;
    };
    assert_refusal_of(error, message);
    false
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("  \t ".to_owned()),
        Just("Robert'); DROP TABLE tasks;--".to_owned()),
        Just("<script>alert(1)</script>".to_owned()),
        Just("line\nbreak\ttab".to_owned()),
        Just("\u{0}\u{7}\u{202e}".to_owned()),
        Just("x".repeat(4001)),
        "[a-zA-Z0-9 .:_-]{0,40}",
        any::<String>(),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        -600.0..600.0_f64,
        proptest::num::f64::ANY,
    ]
}

fn geo() -> impl Strategy<Value = pb::GeoPoint> {
    (float(), float()).prop_map(|(latitude, longitude)| pb::GeoPoint {
        latitude,
        longitude,
    })
}

fn instant() -> impl Strategy<Value = Timestamp> {
    let now = Utc::now().timestamp();
    prop_oneof![
        (now - 86_400 * 10..now + 86_400 * 400, 0..1_000_000_000_i32),
        (any::<i64>(), any::<i32>()),
    ]
    .prop_map(|(seconds, nanos)| Timestamp { seconds, nanos })
}

fn window() -> impl Strategy<Value = pb::TimeWindow> {
    (option::of(instant()), option::of(instant())).prop_map(|(start_time, end_time)| {
        pb::TimeWindow {
            start_time,
            end_time,
        }
    })
}

fn skills() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        vec(
            prop_oneof![
                Just("sandbag_filling".to_owned()),
                Just(" first_aid ".to_owned()),
                Just("heavy_lifting".to_owned()),
                text(),
            ],
            0..5
        ),
        vec(Just("first_aid".to_owned()), 19..23),
    ]
}

fn uuid_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
        any::<u128>().prop_map(|n| format!(" {} ", Uuid::from_u128(n).simple())),
        text(),
    ]
}

fn create_task() -> impl Strategy<Value = pb::CreateTaskRequest> {
    (
        (
            uuid_text(),
            uuid_text(),
            text(),
            text(),
            option::of(geo()),
            text(),
        ),
        (
            skills(),
            skills(),
            any::<u32>(),
            prop_oneof![0..600_u32, any::<u32>()],
        ),
        (
            option::of(window()),
            prop_oneof![0..6_i32, any::<i32>()],
            float(),
            text(),
        ),
    )
        .prop_map(
            |(
                (key, incident, title, description, meeting_point, address),
                (required, preferred, min_age, headcount),
                (window, priority, max_distance_km, safety_notes),
            )| pb::CreateTaskRequest {
                idempotency_key: key,
                incident_id: incident,
                title,
                description,
                meeting_point,
                address,
                required_skill_ids: required,
                preferred_skill_ids: preferred,
                min_age,
                headcount,
                window,
                priority,
                max_distance_km,
                safety_notes,
                required_languages: vec![],
                preferred_languages: vec![],
            },
        )
}

/// The rules a validated task keeps, whatever came in.
fn assert_valid_task(spec: &TaskSpec, window_checked_at: Option<DateTime<Utc>>) {
    assert!(!spec.title.is_empty() && spec.title.chars().count() <= validation::MAX_TITLE);
    assert!(!spec.address.is_empty());
    assert!(spec.meeting_point.latitude.is_finite() && spec.meeting_point.latitude.abs() <= 90.0);
    assert!(
        spec.meeting_point.longitude.is_finite() && spec.meeting_point.longitude.abs() <= 180.0
    );
    assert!((1..=validation::MAX_HEADCOUNT).contains(&spec.headcount));
    assert!(spec.window.start < spec.window.end);
    if let Some(now) = window_checked_at {
        assert!(spec.window.end > now);
    }
    assert!(spec.required_skill_ids.len() <= validation::MAX_SKILLS);
    assert!(
        spec.preferred_skill_ids
            .iter()
            .all(|p| !spec.required_skill_ids.contains(p))
    );
    assert!(spec.max_distance_km.is_finite() && spec.max_distance_km >= 0.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_new_task_is_valid_or_every_problem_names_a_field(request in create_task()) {
        let now = Utc::now();
        let mut v = Violations::new();
        let key = v.id::<Uuid>("idempotency_key", &request.idempotency_key);
        let incident = v.id::<IncidentId>("incident_id", &request.incident_id);
        let spec = validation::task_spec(&mut v, "", (&request).into(), Some(now));
        if accepted_or_properly_refused(v, ".spontan.v1.CreateTaskRequest") {
            assert!(key.is_some() && incident.is_some());
            assert_valid_task(&spec, Some(now));
        }
    }

    #[test]
    fn a_task_update_is_valid_or_every_problem_names_a_field(
        request in create_task(),
        window_changed in any::<bool>(),
    ) {
        let now = Utc::now();
        let task = pb::Task {
            title: request.title.clone(),
            description: request.description.clone(),
            meeting_point: request.meeting_point,
            address: request.address.clone(),
            required_skill_ids: request.required_skill_ids.clone(),
            preferred_skill_ids: request.preferred_skill_ids.clone(),
            min_age: request.min_age,
            headcount: request.headcount,
            window: request.window,
            priority: request.priority,
            max_distance_km: request.max_distance_km,
            safety_notes: request.safety_notes.clone(),
            ..Default::default()
        };
        let mut v = Violations::new();
        let checked_at = window_changed.then_some(now);
        let spec = validation::task_spec(&mut v, "task.", (&task).into(), checked_at);
        if accepted_or_properly_refused(v, ".spontan.v1.UpdateTaskRequest") {
            assert_valid_task(&spec, checked_at);
        }
    }

    #[test]
    fn a_new_incident_is_valid_or_every_problem_names_a_field(
        key in uuid_text(),
        organisation_id in prop_oneof![Just("thw-ov-1".to_owned()), text()],
        name in text(),
        description in text(),
        centre in option::of(geo()),
        radius in float(),
    ) {
        let request = pb::CreateIncidentRequest {
            idempotency_key: key,
            organisation_id,
            name,
            description,
            region_centre: centre,
            region_radius_km: radius,
        };
        let mut v = Violations::new();
        let spec = validation::incident_spec(&mut v, &request);
        if accepted_or_properly_refused(v, ".spontan.v1.CreateIncidentRequest") {
            assert!(!spec.organisation_id.is_empty());
            assert!(!spec.name.is_empty());
            assert!((0.1..=500.0).contains(&spec.region_radius_km));
            assert!(spec.region_centre.latitude.is_finite());
        }
    }

    #[test]
    fn any_bytes_decoded_as_a_task_request_are_validated_without_panic(
        bytes in vec(any::<u8>(), 0..400)
    ) {
        if let Ok(request) = pb::CreateTaskRequest::decode(bytes.as_slice()) {
            let mut v = Violations::new();
            validation::task_spec(&mut v, "", (&request).into(), Some(Utc::now()));
            accepted_or_properly_refused(v, ".spontan.v1.CreateTaskRequest");
        }
        if let Ok(request) = pb::UpdateTaskRequest::decode(bytes.as_slice()) {
            let task = request.task.unwrap_or_default();
            let mut v = Violations::new();
            validation::task_spec(&mut v, "task.", (&task).into(), None);
            accepted_or_properly_refused(v, ".spontan.v1.UpdateTaskRequest");
        }
        if let Ok(request) = pb::CreateIncidentRequest::decode(bytes.as_slice()) {
            let mut v = Violations::new();
            validation::incident_spec(&mut v, &request);
            accepted_or_properly_refused(v, ".spontan.v1.CreateIncidentRequest");
        }
    }

    #[test]
    fn page_tokens_and_sizes_from_clients_are_checked(
        token in prop_oneof![text(), "[A-Za-z0-9_-]{0,120}"],
        size in any::<u32>(),
        status in any::<i32>(),
    ) {
        let mut v = Violations::new();
        let after: Option<(i16, DateTime<Utc>, Uuid)> = paging::decode(&mut v, "f", &token);
        let size = paging::page_size(&mut v, size, 50, 200);
        assert!((1..=200).contains(&size));
        if accepted_or_properly_refused(v, ".spontan.v1.ListTasksRequest") {
            assert!(after.is_none() || !token.is_empty());
        }
        let _ = convert::task_status_from(status);
    }
}

#[test]
fn a_page_token_round_trips_and_a_forged_one_is_refused() {
    let position = (2_i16, Utc::now(), Uuid::new_v4());
    let token = paging::encode("f", position);
    let mut v = Violations::new();
    let back: Option<(i16, DateTime<Utc>, Uuid)> = paging::decode(&mut v, "f", &token);
    assert_eq!(back, Some(position));
    let forged = paging::encode("other filters", position);
    let refused: Option<(i16, DateTime<Utc>, Uuid)> = paging::decode(&mut v, "f", &forged);
    assert!(refused.is_none());
    assert!(!accepted_or_properly_refused(
        v,
        ".spontan.v1.ListTasksRequest"
    ));
}

fn good_task() -> pb::CreateTaskRequest {
    let now = Utc::now();
    pb::CreateTaskRequest {
        idempotency_key: Uuid::new_v4().to_string(),
        incident_id: Uuid::new_v4().to_string(),
        title: "Sandsäcke".into(),
        meeting_point: Some(pb::GeoPoint {
            latitude: 50.5,
            longitude: 7.1,
        }),
        address: "Markt 1".into(),
        headcount: 3,
        window: Some(pb::TimeWindow {
            start_time: Some(spontan_platform::events::timestamp(now)),
            end_time: Some(spontan_platform::events::timestamp(
                now + chrono::Duration::hours(3),
            )),
        }),
        priority: pb::Priority::High.into(),
        ..Default::default()
    }
}

fn refused_fields(request: &pb::CreateTaskRequest) -> Vec<String> {
    let mut v = Violations::new();
    validation::task_spec(&mut v, "", request.into(), Some(Utc::now()));
    match v.finish(()) {
        Err(ApiError::InvalidArgument(list)) => list.into_iter().map(|f| f.field).collect(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn hostile_values_are_refused_by_field() {
    let mut request = good_task();
    request.meeting_point = Some(pb::GeoPoint {
        latitude: f64::NAN,
        longitude: f64::INFINITY,
    });
    request.max_distance_km = f64::NEG_INFINITY;
    assert_eq!(
        refused_fields(&request),
        [
            "meeting_point.latitude",
            "meeting_point.longitude",
            "max_distance_km"
        ]
    );

    let mut request = good_task();
    if let Some(w) = request.window.as_mut() {
        std::mem::swap(&mut w.start_time, &mut w.end_time);
    }
    assert_eq!(refused_fields(&request), ["window.end_time"]);

    let mut request = good_task();
    request.required_skill_ids = (0..10_000).map(|i| format!("skill-{i}")).collect();
    request.preferred_skill_ids = vec!["first_aid".into(); 10_000];
    assert_eq!(
        refused_fields(&request),
        ["required_skill_ids", "preferred_skill_ids"]
    );
}

#[test]
fn sql_and_html_in_titles_are_plain_text() {
    for title in ["Robert'); DROP TABLE tasks;--", "<script>alert(1)</script>"] {
        let mut request = good_task();
        request.title = title.into();
        let mut v = Violations::new();
        let spec = validation::task_spec(&mut v, "", (&request).into(), Some(Utc::now()));
        assert!(v.is_empty());
        assert_eq!(spec.title, title);
    }
}

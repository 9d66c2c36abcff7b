//! Property tests of the matching service's proto-to-domain steps: `convert::volunteer` and
//! `convert::task` (event payloads from the volunteer and task topics), and the request
//! checks `convert::parse_id` and `feed::limit`. For arbitrary input, hostile values
//! included, nothing panics; a payload is either skipped (`None`) or becomes a domain value
//! that keeps the engine's assumptions (a window starts before it ends, a point is finite and
//! on the globe, distances are not negative or NaN); a bad request field is `InvalidArgument`
//! naming that field.

use chrono::Utc;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use prost::Message;
use prost_types::Timestamp;
use spontan_matching::{convert, feed};
use spontan_platform::ApiError;
use spontan_proto::v1 as pb;
use uuid::Uuid;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("Robert'); DROP TABLE matches;--".to_owned()),
        Just("<script>alert(1)</script>".to_owned()),
        "[a-z0-9 _-]{0,40}",
        any::<String>(),
    ]
}

fn uuid_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
        any::<u128>().prop_map(|n| Uuid::from_u128(n).simple().to_string()),
        text(),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        -300.0..300.0_f64,
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
        (now - 86_400..now + 86_400 * 30, 0..1_000_000_000_i32),
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

fn volunteer() -> impl Strategy<Value = pb::MatchableVolunteer> {
    (
        uuid_text(),
        vec(text(), 0..4),
        vec(text(), 0..3),
        any::<i32>(),
        option::of(geo()),
        float(),
        vec(window(), 0..6),
        any::<i32>(),
    )
        .prop_map(
            |(id, skills, languages, age_band, location, radius, availability, status)| {
                pb::MatchableVolunteer {
                    volunteer_id: id,
                    skill_ids: skills,
                    languages,
                    age_band,
                    approximate_location: location,
                    travel_radius_km: radius,
                    availability,
                    status,
                }
            },
        )
}

fn task() -> impl Strategy<Value = pb::TaskSnapshot> {
    (
        (uuid_text(), uuid_text(), text(), text(), text()),
        (
            vec(text(), 0..3),
            vec(text(), 0..3),
            any::<u32>(),
            any::<u32>(),
        ),
        (
            option::of(window()),
            any::<i32>(),
            option::of(geo()),
            float(),
        ),
        (any::<i32>(), any::<u64>()),
    )
        .prop_map(
            |(
                (task_id, incident_id, organisation_id, title, address),
                (required, preferred, min_age, headcount),
                (window, priority, meeting_point, max_distance_km),
                (status, version),
            )| pb::TaskSnapshot {
                task_id,
                incident_id,
                organisation_id,
                title,
                address,
                required_skill_ids: required,
                preferred_skill_ids: preferred,
                min_age,
                headcount,
                window,
                priority,
                meeting_point,
                max_distance_km,
                status,
                version,
                required_languages: vec![],
                preferred_languages: vec![],
            },
        )
}

fn on_the_globe(lat: f64, lon: f64) -> bool {
    lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0
}

fn check_volunteer(payload: &pb::MatchableVolunteer, version: u64) {
    if let Some(v) = convert::volunteer(payload, version) {
        assert_eq!(payload.volunteer_id.parse::<Uuid>().ok(), Some(v.id));
        if let Some(p) = v.location {
            assert!(on_the_globe(p.lat, p.lon), "{p:?}");
        }
        assert!(v.travel_radius_km >= 0.0, "{}", v.travel_radius_km);
        for w in &v.availability {
            assert!(w.start < w.end);
        }
        assert!(v.availability.windows(2).all(|p| p[0].start <= p[1].start));
        assert!(v.version >= 0);
    }
}

fn check_task(payload: &pb::TaskSnapshot, version: u64) {
    if let Some(t) = convert::task(payload, version) {
        assert!(t.window.start < t.window.end);
        assert!(
            on_the_globe(t.location.lat, t.location.lon),
            "{:?}",
            t.location
        );
        assert!(t.max_distance_km >= 0.0, "{}", t.max_distance_km);
        assert!(t.version >= 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn volunteer_events_become_sound_volunteers_or_are_skipped(
        payload in volunteer(),
        version in any::<u64>(),
    ) {
        check_volunteer(&payload, version);
    }

    #[test]
    fn task_events_become_sound_tasks_or_are_skipped(
        payload in task(),
        version in any::<u64>(),
    ) {
        check_task(&payload, version);
    }

    #[test]
    fn any_bytes_decoded_as_payloads_never_panic(bytes in vec(any::<u8>(), 0..400)) {
        if let Ok(payload) = pb::MatchableVolunteer::decode(bytes.as_slice()) {
            check_volunteer(&payload, 1);
        }
        if let Ok(payload) = pb::TaskSnapshot::decode(bytes.as_slice()) {
            check_task(&payload, 1);
        }
    }

    #[test]
    fn request_ids_are_uuids_or_invalid_arguments_naming_the_field(
        field in proptest::sample::select(&["incident_id", "task_id", "match_id"][..]),
        value in uuid_text(),
    ) {
        match convert::parse_id(field, &value) {
            Ok(id) => assert_eq!(value.parse::<Uuid>().ok(), Some(id)),
            Err(ApiError::InvalidArgument(list)) => {
                assert_eq!(list.len(), 1);
                assert_eq!(list[0].field, field);
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn limits_are_in_range_or_invalid_arguments_naming_limit(value in any::<u32>()) {
        match feed::limit(value) {
            Ok(limit) => assert!((1..=1000).contains(&limit)),
            Err(ApiError::InvalidArgument(list)) => {
                assert!(value > 1000);
                assert_eq!(list[0].field, "limit");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[test]
fn non_finite_places_and_backwards_windows_are_skipped() {
    let now = Utc::now();
    let good = pb::TaskSnapshot {
        task_id: Uuid::new_v4().to_string(),
        incident_id: Uuid::new_v4().to_string(),
        window: Some(pb::TimeWindow {
            start_time: Some(spontan_platform::events::timestamp(now)),
            end_time: Some(spontan_platform::events::timestamp(
                now + chrono::Duration::hours(1),
            )),
        }),
        meeting_point: Some(pb::GeoPoint {
            latitude: 50.0,
            longitude: 7.0,
        }),
        headcount: 1,
        ..Default::default()
    };
    assert!(convert::task(&good, 1).is_some());
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut t = good.clone();
        t.meeting_point = Some(pb::GeoPoint {
            latitude: bad,
            longitude: 7.0,
        });
        assert!(convert::task(&t, 1).is_none(), "latitude {bad}");
    }
    let mut t = good.clone();
    if let Some(w) = t.window.as_mut() {
        std::mem::swap(&mut w.start_time, &mut w.end_time);
    }
    assert!(convert::task(&t, 1).is_none());
    let mut t = good;
    t.max_distance_km = f64::NAN;
    let task = convert::task(&t, 1).expect("a NaN limit is no limit");
    assert!(task.max_distance_km >= 0.0);
}

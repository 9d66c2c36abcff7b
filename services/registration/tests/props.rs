//! Property tests of every proto-to-domain step of the registration service
//! (`validation::registration`, `validation::profile` through `convert::merge`,
//! `validation::windows`): for arbitrary requests, hostile values included, nothing panics;
//! a request is either turned into a domain value that keeps the documented rules, or refused
//! with `InvalidArgument` and at least one field violation, each naming a field that exists in
//! the request message (checked against the compiled schema, not by a list kept here).

use chrono::{DateTime, Utc};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use prost::Message;
use prost_types::Timestamp;
use spontan_platform::ApiError;
use spontan_platform::error::Violations;
use spontan_platform::testkit::schema::{assert_refusal_of, names_a_field};
use spontan_proto::v1::*;
use spontan_registration::domain::{Status, Volunteer};
use spontan_registration::{convert, validation};
use uuid::Uuid;

const CONSENT: &str = "2025-06-de";

/// The violated fields of a rejection, after checking it is a proper one.
fn rejected_fields(error: ApiError, message: &str) -> Vec<String> {
    let list = assert_refusal_of(error, message);
    for violation in &list {
        assert!(!violation.description.is_empty());
    }
    list.into_iter().map(|v| v.field).collect()
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("   ".to_owned()),
        Just("Robert'); DROP TABLE volunteers;--".to_owned()),
        Just("<script>alert(1)</script>".to_owned()),
        Just("\u{0}\u{7}\u{1b}[31m".to_owned()),
        Just("ä".repeat(81)),
        Just("9".repeat(5000)),
        "[a-zA-Z .@+0-9-]{0,40}",
        any::<String>(),
    ]
}

fn phone() -> impl Strategy<Value = String> {
    prop_oneof!["\\+[1-9][0-9]{6,14}", "\\+?[0-9 ]{0,18}", text()]
}

fn email() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,10}@[a-z]{1,10}\\.[a-z]{2,3}",
        "[a-z@. ]{0,20}",
        text()
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        -250.0..250.0_f64,
        proptest::num::f64::ANY,
    ]
}

fn geo() -> impl Strategy<Value = GeoPoint> {
    (float(), float()).prop_map(|(latitude, longitude)| GeoPoint {
        latitude,
        longitude,
    })
}

fn instant() -> impl Strategy<Value = Timestamp> {
    let now = Utc::now().timestamp();
    prop_oneof![
        (now - 86_400 * 40..now + 86_400 * 400, 0..1_000_000_000_i32),
        (any::<i64>(), any::<i32>()),
    ]
    .prop_map(|(seconds, nanos)| Timestamp { seconds, nanos })
}

fn windows() -> impl Strategy<Value = Vec<TimeWindow>> {
    vec(
        (option::of(instant()), option::of(instant())).prop_map(|(start_time, end_time)| {
            TimeWindow {
                start_time,
                end_time,
            }
        }),
        0..8,
    )
}

fn skill_ids() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        vec(
            prop_oneof![
                Just("sandbag_filling".to_owned()),
                Just("first_aid".to_owned()),
                Just("heavy_lifting".to_owned()),
                text(),
            ],
            0..6
        ),
        vec(Just("first_aid".to_owned()), 49..53),
    ]
}

fn languages() -> impl Strategy<Value = Vec<String>> {
    vec(
        prop_oneof![
            Just("de".to_owned()),
            Just("EN".to_owned()),
            Just("pt_br".to_owned()),
            Just("zh-hant-tw".to_owned()),
            text(),
        ],
        0..12,
    )
}

fn contact() -> impl Strategy<Value = Contact> {
    (text(), phone(), email()).prop_map(|(display_name, phone_e164, email)| Contact {
        display_name,
        phone_e164,
        email,
    })
}

fn addresses() -> impl Strategy<Value = ChannelAddresses> {
    (phone(), phone(), text(), text()).prop_map(|(signal, whatsapp, telegram, push)| {
        ChannelAddresses {
            signal_phone_e164: signal,
            whatsapp_phone_e164: whatsapp,
            telegram_chat_id: telegram,
            push_token: push,
        }
    })
}

fn register_request() -> impl Strategy<Value = RegisterRequest> {
    (
        prop_oneof![
            any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
            text()
        ],
        option::of((any::<bool>(), prop_oneof![Just(CONSENT.to_owned()), text()])),
        option::of(contact()),
        prop_oneof![0..8_i32, any::<i32>()],
        option::of(addresses()),
        skill_ids(),
        languages(),
        prop_oneof![1900..2020_i32, any::<i32>()],
        option::of(geo()),
        float(),
        windows(),
    )
        .prop_map(
            |(
                key,
                consent,
                contact,
                channel,
                addresses,
                skills,
                languages,
                year,
                home,
                radius,
                windows,
            )| {
                RegisterRequest {
                    idempotency_key: key,
                    consent: consent.map(|(given, text_version)| Consent {
                        given,
                        text_version,
                    }),
                    contact,
                    preferred_alert_channel: channel,
                    channel_addresses: addresses,
                    skill_ids: skills,
                    languages,
                    birth_year: year,
                    home_location: home,
                    travel_radius_km: radius,
                    availability: windows,
                }
            },
        )
}

/// The rules a validated profile keeps, whatever came in.
fn assert_valid_profile(p: &spontan_registration::domain::Profile) {
    let name = p.contact.display_name.chars().count();
    assert!((1..=80).contains(&name));
    assert!(p.contact.phone_e164.is_some() || p.contact.email.is_some());
    assert!(p.contact.home_latitude.is_finite() && p.contact.home_latitude.abs() <= 90.0);
    assert!(p.contact.home_longitude.is_finite() && p.contact.home_longitude.abs() <= 180.0);
    assert!((1.0..=200.0).contains(&p.travel_radius_km));
    assert!(p.skill_ids.len() <= 50);
    assert!((1..=10).contains(&p.languages.len()));
    assert!(p.channel != AlertChannel::Unspecified);
}

fn assert_valid_windows(windows: &[spontan_registration::domain::Window], now: DateTime<Utc>) {
    for w in windows {
        assert!(w.start < w.end && w.end > now);
    }
    for pair in windows.windows(2) {
        assert!(pair[0].end <= pair[1].start, "sorted and not overlapping");
    }
}

/// A stored volunteer to merge updates into.
fn stored() -> Volunteer {
    let now = Utc::now();
    let request = RegisterRequest {
        skill_ids: vec!["first_aid".into()],
        availability: Vec::new(),
        ..good_request()
    };
    let registration =
        validation::registration(&request, CONSENT, now).expect("a valid registration");
    Volunteer {
        id: Uuid::new_v4(),
        status: Status::Active,
        profile: registration.profile,
        windows: Vec::new(),
        consent_text_version: CONSENT.into(),
        consent_given_at: now,
        created_at: now,
        updated_at: now,
        version: 1,
        contact_confirmed_at: None,
    }
}

const PATHS: &[&str] = &[
    "contact",
    "contact.display_name",
    "contact.phone_e164",
    "contact.email",
    "preferred_alert_channel",
    "channel_addresses",
    "channel_addresses.telegram_chat_id",
    "channel_addresses.push_token",
    "skill_ids",
    "languages",
    "birth_year",
    "home_location",
    "travel_radius_km",
    "messages_opt_out",
    "volunteer_id",
    "status",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_registration_is_valid_or_every_problem_names_a_field(request in register_request()) {
        let now = Utc::now();
        match validation::registration(&request, CONSENT, now) {
            Ok(registration) => {
                assert_valid_profile(&registration.profile);
                assert_valid_windows(&registration.windows, now);
            }
            Err(error) => {
                rejected_fields(error, ".spontan.v1.RegisterRequest");
            }
        }
    }

    #[test]
    fn any_bytes_decoded_as_a_registration_are_validated_without_panic(
        bytes in vec(any::<u8>(), 0..400)
    ) {
        if let Ok(request) = RegisterRequest::decode(bytes.as_slice())
            && let Err(error) = validation::registration(&request, CONSENT, Utc::now())
        {
            rejected_fields(error, ".spontan.v1.RegisterRequest");
        }
    }

    #[test]
    fn a_profile_update_is_valid_or_every_problem_names_a_field(
        contact in option::of(contact()),
        addresses in option::of(addresses()),
        channel in prop_oneof![0..8_i32, any::<i32>()],
        skills in skill_ids(),
        languages in languages(),
        year in prop_oneof![1900..2020_i32, any::<i32>()],
        home in option::of(geo()),
        radius in float(),
        paths in vec(prop_oneof![proptest::sample::select(PATHS).prop_map(str::to_owned), text()], 0..5),
    ) {
        let new = VolunteerProfile {
            contact,
            channel_addresses: addresses,
            preferred_alert_channel: channel,
            skill_ids: skills,
            languages,
            birth_year: year,
            home_location: home,
            travel_radius_km: radius,
            ..Default::default()
        };
        match convert::merge(&stored(), &new, &paths) {
            Ok(profile) => assert_valid_profile(&profile),
            Err(error) => {
                rejected_fields(error, ".spontan.v1.UpdateMyProfileRequest");
            }
        }
    }

    #[test]
    fn availability_is_valid_or_every_problem_names_a_field(windows in windows()) {
        let now = Utc::now();
        let mut v = Violations::new();
        let good = validation::windows(&windows, "availability", now, &mut v);
        match v.finish(()) {
            Ok(()) => {
                assert_eq!(good.len(), windows.len());
                assert_valid_windows(&good, now);
            }
            Err(error) => {
                rejected_fields(error, ".spontan.v1.SetAvailabilityRequest");
            }
        }
    }
}

/// A valid request to spoil one field at a time.
fn good_request() -> RegisterRequest {
    let now = Utc::now();
    RegisterRequest {
        idempotency_key: Uuid::new_v4().to_string(),
        consent: Some(Consent {
            given: true,
            text_version: CONSENT.into(),
        }),
        contact: Some(Contact {
            display_name: "Anna".into(),
            phone_e164: "+4915112345678".into(),
            email: String::new(),
        }),
        preferred_alert_channel: AlertChannel::Sms.into(),
        channel_addresses: None,
        skill_ids: Vec::new(),
        languages: vec!["de".into()],
        birth_year: 1990,
        home_location: Some(GeoPoint {
            latitude: 50.0,
            longitude: 7.0,
        }),
        travel_radius_km: 10.0,
        availability: vec![TimeWindow {
            start_time: Some(spontan_platform::events::timestamp(now)),
            end_time: Some(spontan_platform::events::timestamp(
                now + chrono::Duration::hours(2),
            )),
        }],
    }
}

fn refused(request: &RegisterRequest) -> Vec<String> {
    let error =
        validation::registration(request, CONSENT, Utc::now()).expect_err("the request is refused");
    rejected_fields(error, ".spontan.v1.RegisterRequest")
}

#[test]
fn non_finite_coordinates_are_refused_by_field() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut request = good_request();
        request.home_location = Some(GeoPoint {
            latitude: bad,
            longitude: bad,
        });
        request.travel_radius_km = bad;
        assert_eq!(
            refused(&request),
            [
                "home_location.latitude",
                "home_location.longitude",
                "travel_radius_km"
            ]
        );
    }
}

#[test]
fn a_window_ending_before_it_starts_is_refused_on_its_end() {
    let mut request = good_request();
    let w = &mut request.availability[0];
    std::mem::swap(&mut w.start_time, &mut w.end_time);
    assert_eq!(refused(&request), ["availability[0].end_time"]);
}

#[test]
fn ten_thousand_skills_are_one_violation_not_ten_thousand() {
    let mut request = good_request();
    request.skill_ids = (0..10_000).map(|i| format!("skill-{i}")).collect();
    request.languages = vec!["de".into(); 10_000];
    assert_eq!(refused(&request), ["skill_ids", "languages"]);
}

#[test]
fn sql_and_html_in_names_are_plain_text() {
    for name in [
        "Robert'); DROP TABLE volunteers;--",
        "<script>alert(1)</script>",
    ] {
        let mut request = good_request();
        if let Some(c) = request.contact.as_mut() {
            c.display_name = name.into();
        }
        let registration =
            validation::registration(&request, CONSENT, Utc::now()).expect("a valid name");
        assert_eq!(registration.profile.contact.display_name, name);
    }
}

#[test]
fn the_field_check_itself_refuses_made_up_paths() {
    let m = ".spontan.v1.RegisterRequest";
    assert!(names_a_field(m, "contact.phone_e164"));
    assert!(names_a_field(m, "availability[3].end_time"));
    assert!(!names_a_field(m, "contact.phone"));
    assert!(!names_a_field(m, "contact[0]"));
    assert!(!names_a_field(m, "request"));
}

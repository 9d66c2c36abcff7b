//! Names and titles that mislead their readers (bidi overrides, invisible-only text) and
//! names kept in NFC; called from the main hostile test with its clients.

use super::*;

/// Text that misleads its readers is refused at its field: a right-to-left override that
/// reorders what an SMS or a dashboard line shows, and names with nothing visible. A name
/// typed with combining accents is stored composed (NFC), as the same name typed with
/// precomposed letters.
pub(super) async fn misleading_text_is_refused_and_names_are_kept_composed(
    registration: &mut RegistrationServiceClient<Channel>,
    tasks: &mut TaskServiceClient<Channel>,
    coordinator: &str,
) {
    for name in [
        "\u{202e}evil\u{202c} Name",
        "Eva \u{2067}nnA\u{2069}",
        "\u{200b}\u{200d}\u{2060}",
        " \u{3164} ",
    ] {
        let status = registration
            .register(volunteer(name))
            .await
            .expect_err(name);
        assert_eq!(violations(&status), ["contact.display_name"], "{name:?}");
    }
    let registered = registration
        .register(volunteer("Jose\u{301} Nun\u{303}ez"))
        .await
        .expect("a name with combining accents")
        .into_inner();
    let profile = registration
        .get_my_profile(authed(GetMyProfileRequest {}, &registered.access_token))
        .await
        .expect("profile")
        .into_inner()
        .profile
        .expect("a profile");
    assert_eq!(
        profile.contact.map(|c| c.display_name).as_deref(),
        Some("Jos\u{e9} Nu\u{f1}ez")
    );

    let status = tasks
        .create_incident(authed(
            CreateIncidentRequest {
                idempotency_key: Uuid::new_v4().to_string(),
                organisation_id: ORG.into(),
                name: "Hochwasser \u{202e}tsoP".into(),
                description: "\u{200b}".into(),
                region_centre: Some(GeoPoint {
                    latitude: 50.0,
                    longitude: 7.0,
                }),
                region_radius_km: 10.0,
            },
            coordinator,
        ))
        .await
        .expect_err("a bidi override in an incident name");
    assert_eq!(violations(&status), ["name", "description"]);
}

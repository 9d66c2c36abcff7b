//! The volunteer generator: where people live and what they can do, shared by the load
//! generator (what it registers) and matching's candidate benchmark (what it indexes), so
//! that both measure the same population.
//!
//! Every function takes the random source, so a benchmark passes a seeded one
//! (`StdRng::seed_from_u64`) and gets the same people every run, while a load run passes
//! `rand::rng()`.

use chrono::Utc;
use rand::Rng;
use spontan_platform::events::timestamp;
use spontan_proto::v1::{
    AlertChannel, Consent, Contact, CreateTaskRequest, GeoPoint, Priority, RegisterRequest,
    TimeWindow,
};

/// Marktplatz Ahrweiler, the centre of the flood area (the Ahr valley, July 2021).
pub const AHRWEILER: GeoPoint = GeoPoint {
    latitude: 50.5427,
    longitude: 7.1125,
};

/// Large cities: latitude, longitude, population in thousands (the weight of each city).
pub const CITIES: [(f64, f64, f64); 20] = [
    (52.520, 13.405, 3850.0), // Berlin
    (53.551, 9.994, 1900.0),  // Hamburg
    (48.137, 11.576, 1510.0), // München
    (50.938, 6.960, 1090.0),  // Köln
    (50.110, 8.682, 770.0),   // Frankfurt
    (48.776, 9.183, 630.0),   // Stuttgart
    (51.227, 6.774, 630.0),   // Düsseldorf
    (51.340, 12.375, 620.0),  // Leipzig
    (51.514, 7.466, 590.0),   // Dortmund
    (51.456, 7.012, 580.0),   // Essen
    (53.079, 8.802, 570.0),   // Bremen
    (51.050, 13.738, 560.0),  // Dresden
    (52.376, 9.732, 540.0),   // Hannover
    (49.452, 11.077, 520.0),  // Nürnberg
    (51.435, 6.762, 500.0),   // Duisburg
    (51.482, 7.216, 365.0),   // Bochum
    (51.256, 7.151, 355.0),   // Wuppertal
    (52.022, 8.532, 335.0),   // Bielefeld
    (50.735, 7.100, 335.0),   // Bonn
    (50.357, 7.588, 115.0),   // Koblenz
];

/// How people are spread over Germany: a share around Bad Neuenahr-Ahrweiler (about 13 km
/// either way), a share around the [`CITIES`] by population, the rest anywhere in the
/// country's bounding box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Germany {
    pub around_ahrweiler: f64,
    pub around_cities: f64,
}

impl Germany {
    /// `spontan-load --spread germany`: a fifth around the flood area, half around cities.
    pub const LOAD: Germany = Germany {
        around_ahrweiler: 0.2,
        around_cities: 0.5,
    };

    /// Matching's candidate benchmark: a tenth around the flood area, three fifths around
    /// cities (a million volunteers, so the flood area still holds 100,000).
    pub const BENCH: Germany = Germany {
        around_ahrweiler: 0.1,
        around_cities: 0.6,
    };

    /// Where one person lives.
    pub fn home(&self, rng: &mut impl Rng) -> GeoPoint {
        let place: f64 = rng.random();
        let (latitude, longitude) = if place < self.around_ahrweiler {
            (
                AHRWEILER.latitude + normal(rng) * 0.12,
                AHRWEILER.longitude + normal(rng) * 0.18,
            )
        } else if place < self.around_ahrweiler + self.around_cities {
            let total: f64 = CITIES.iter().map(|c| c.2).sum();
            let mut pick = rng.random_range(0.0..total);
            let mut city = CITIES[0];
            for c in CITIES {
                if pick < c.2 {
                    city = c;
                    break;
                }
                pick -= c.2;
            }
            (city.0 + normal(rng) * 0.15, city.1 + normal(rng) * 0.22)
        } else {
            (rng.random_range(47.3..55.0), rng.random_range(5.9..15.0))
        };
        GeoPoint {
            latitude,
            longitude,
        }
    }

    /// One person: home, skills and travel radius. What else a caller needs (age,
    /// availability, status) it draws itself from the same `rng`.
    pub fn person(&self, rng: &mut impl Rng) -> Person {
        let home = self.home(rng);
        let skills = skills(rng);
        let travel_radius_km = travel_radius_km(rng);
        Person {
            home,
            skills,
            travel_radius_km,
        }
    }
}

/// A generated volunteer, before it becomes a registration or a matching-domain volunteer.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub home: GeoPoint,
    /// Skill ids from the platform taxonomy; may be empty (about 2% of people), which a
    /// registration does not accept and matching's index does.
    pub skills: Vec<String>,
    pub travel_radius_km: f64,
}

/// Somewhere within about 20 km of Bad Neuenahr-Ahrweiler (uniform in a box).
pub fn near_ahrweiler(rng: &mut impl Rng) -> GeoPoint {
    GeoPoint {
        latitude: AHRWEILER.latitude + rng.random_range(-0.18..0.18),
        longitude: AHRWEILER.longitude + rng.random_range(-0.28..0.28),
    }
}

/// Roughly normal (sum of four uniforms), mean 0, standard deviation 1.
pub fn normal(rng: &mut impl Rng) -> f64 {
    (0..4).map(|_| rng.random::<f64>()).sum::<f64>() * 3.0_f64.sqrt() - 2.0 * 3.0_f64.sqrt()
}

/// How common a skill is among volunteers; anything not listed is 3%.
pub fn skill_share(id: &str) -> f64 {
    match id {
        "heavy_lifting" => 0.55,
        "sandbag_filling" => 0.45,
        "driving_licence_b" => 0.60,
        "mud_clearing" | "cleaning" => 0.40,
        "debris_removal" => 0.30,
        "own_vehicle" => 0.35,
        "first_aid" => 0.25,
        "cooking" | "donations_sorting" => 0.20,
        "pumping" | "logistics" | "translation_en" => 0.15,
        "childcare" | "elderly_care" | "animal_care" | "driving_licence_be" => 0.08,
        "nursing_care" | "medical_professional" | "psychosocial_support" => 0.04,
        "translation_ar" | "translation_tr" | "translation_ru" | "translation_pl" => 0.02,
        "radio_operator" | "sign_language" | "translation_fa" | "drone_pilot" => 0.004,
        "structural_assessment" => 0.002,
        _ => 0.03,
    }
}

/// Skills from the platform taxonomy, each with its [`skill_share`]; may be empty.
pub fn skills(rng: &mut impl Rng) -> Vec<String> {
    spontan_platform::skills::TAXONOMY
        .iter()
        .filter(|s| rng.random::<f64>() < skill_share(s.id))
        .map(|s| s.id.to_owned())
        .collect()
}

/// 5 to 50 km, most people near the low end, whole kilometres.
pub fn travel_radius_km(rng: &mut impl Rng) -> f64 {
    let r: f64 = rng.random();
    (5.0 + 45.0 * r * r).round()
}

/// A full registration of volunteer `n` of run `run_id` at `location`; phone numbers are
/// unique per run and number (`+4915…`), available from 10 minutes to 12 hours from now.
pub fn register_request(
    n: u64,
    run_id: u32,
    consent_version: &str,
    location: GeoPoint,
) -> RegisterRequest {
    let now = Utc::now();
    let mut rng = rand::rng();
    RegisterRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        consent: Some(Consent {
            given: true,
            text_version: consent_version.to_owned(),
        }),
        contact: Some(Contact {
            display_name: format!("Last {n}"),
            phone_e164: format!("+4915{:03}{:07}", run_id % 1000, n % 10_000_000),
            email: String::new(),
        }),
        preferred_alert_channel: AlertChannel::Sms.into(),
        channel_addresses: None,
        skill_ids: vec!["sandbag_filling".into(), "heavy_lifting".into()],
        languages: vec!["de".into()],
        birth_year: rng.random_range(1950..=2008),
        home_location: Some(location),
        travel_radius_km: travel_radius_km(&mut rng),
        availability: vec![TimeWindow {
            start_time: Some(timestamp(now + chrono::Duration::minutes(10))),
            end_time: Some(timestamp(now + chrono::Duration::hours(12))),
        }],
    }
}

/// Task `n` of the load: sandbag filling near Ahrweiler for three people, starting in two
/// hours for three hours, within 30 km.
pub fn task_request(incident_id: &str, n: u64) -> CreateTaskRequest {
    let start = Utc::now() + chrono::Duration::hours(2);
    CreateTaskRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        incident_id: incident_id.to_owned(),
        title: format!("Lasttest-Aufgabe {n}"),
        description: String::new(),
        meeting_point: Some(near_ahrweiler(&mut rand::rng())),
        address: "Ahrweiler".into(),
        required_skill_ids: vec!["sandbag_filling".into()],
        preferred_skill_ids: Vec::new(),
        min_age: 16,
        headcount: 3,
        window: Some(TimeWindow {
            start_time: Some(timestamp(start)),
            end_time: Some(timestamp(start + chrono::Duration::hours(3))),
        }),
        priority: Priority::High.into(),
        max_distance_km: 30.0,
        safety_notes: String::new(),
        required_languages: vec![],
        preferred_languages: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn a_seeded_generator_makes_the_same_people() {
        let people = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..100)
                .map(|_| Germany::BENCH.person(&mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(people(42), people(42));
        assert_ne!(people(42), people(43));
    }

    #[test]
    fn people_live_in_germany_in_the_configured_shares() {
        let mut rng = StdRng::seed_from_u64(7);
        let homes: Vec<GeoPoint> = (0..20_000).map(|_| Germany::LOAD.home(&mut rng)).collect();
        // The bounding box, with room for the tails around border cities.
        assert!(
            homes
                .iter()
                .all(|h| (46.0..56.5).contains(&h.latitude) && (4.5..16.5).contains(&h.longitude))
        );
        let near = homes
            .iter()
            .filter(|h| {
                (h.latitude - AHRWEILER.latitude).abs() < 0.5
                    && (h.longitude - AHRWEILER.longitude).abs() < 0.7
            })
            .count() as f64
            / homes.len() as f64;
        // A fifth lives there by construction, plus Bonn's, Koblenz's and some of the
        // uniform rest.
        assert!((0.2..0.3).contains(&near), "{near}");
    }

    #[test]
    fn skills_follow_their_shares_and_radii_their_range() {
        let mut rng = StdRng::seed_from_u64(1);
        let people: Vec<Person> = (0..20_000)
            .map(|_| Germany::BENCH.person(&mut rng))
            .collect();
        let share = |id: &str| {
            people
                .iter()
                .filter(|p| p.skills.iter().any(|s| s == id))
                .count() as f64
                / people.len() as f64
        };
        assert!((share("sandbag_filling") - 0.45).abs() < 0.02);
        assert!(share("structural_assessment") < 0.01);
        assert!(
            people
                .iter()
                .all(|p| (5.0..=50.0).contains(&p.travel_radius_km))
        );
    }
}

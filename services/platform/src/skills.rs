//! The skill taxonomy: what volunteers can offer and tasks can require.
//!
//! One list for the whole suite, compiled into every service, so that registration (which
//! serves it through `ListSkills` and stores it in its database) and task (which checks the
//! skills a coordinator requires) agree without calling each other. Ids are stable: never
//! rename or reuse one; retire a skill by leaving it out of new registrations only.

/// One skill: a stable id, labels in German and English, and a category for grouping in apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkillDef {
    pub id: &'static str,
    pub label_de: &'static str,
    pub label_en: &'static str,
    pub category: &'static str,
}

const fn skill(
    id: &'static str,
    label_de: &'static str,
    label_en: &'static str,
    category: &'static str,
) -> SkillDef {
    SkillDef {
        id,
        label_de,
        label_en,
        category,
    }
}

/// Every skill, grouped by category.
pub const TAXONOMY: &[SkillDef] = &[
    // Physical work in floods and storms.
    skill(
        "sandbag_filling",
        "Sandsäcke füllen",
        "Sandbag filling",
        "physical",
    ),
    skill(
        "heavy_lifting",
        "Schweres Heben und Tragen",
        "Heavy lifting",
        "physical",
    ),
    skill("mud_clearing", "Schlamm räumen", "Mud clearing", "physical"),
    skill(
        "debris_removal",
        "Schutt räumen",
        "Debris removal",
        "physical",
    ),
    skill(
        "pumping",
        "Keller auspumpen",
        "Pumping out cellars",
        "physical",
    ),
    skill(
        "cleaning",
        "Reinigen und Entrümpeln",
        "Cleaning and clearing out",
        "physical",
    ),
    // Health and care.
    skill("first_aid", "Erste Hilfe", "First aid", "health"),
    skill(
        "medical_professional",
        "Medizinisches Fachpersonal",
        "Medical professional",
        "health",
    ),
    skill("nursing_care", "Pflege", "Nursing care", "health"),
    skill(
        "psychosocial_support",
        "Psychosoziale Unterstützung",
        "Psychosocial support",
        "health",
    ),
    skill("childcare", "Kinderbetreuung", "Childcare", "care"),
    skill(
        "elderly_care",
        "Betreuung älterer Menschen",
        "Care for the elderly",
        "care",
    ),
    skill("animal_care", "Tierversorgung", "Animal care", "care"),
    // Supply.
    skill(
        "cooking",
        "Kochen und Essensausgabe",
        "Cooking and food service",
        "supply",
    ),
    skill(
        "logistics",
        "Logistik und Lager",
        "Logistics and warehousing",
        "supply",
    ),
    skill(
        "donations_sorting",
        "Spenden sortieren",
        "Sorting donations",
        "supply",
    ),
    skill("forklift", "Staplerschein", "Forklift licence", "supply"),
    // Vehicles and equipment.
    skill(
        "driving_licence_b",
        "Führerschein Klasse B",
        "Driving licence class B",
        "vehicles",
    ),
    skill(
        "driving_licence_be",
        "Führerschein Klasse BE",
        "Driving licence class BE",
        "vehicles",
    ),
    skill(
        "driving_licence_c1",
        "Führerschein Klasse C1",
        "Driving licence class C1",
        "vehicles",
    ),
    skill(
        "driving_licence_c",
        "Führerschein Klasse C",
        "Driving licence class C",
        "vehicles",
    ),
    skill(
        "driving_licence_ce",
        "Führerschein Klasse CE",
        "Driving licence class CE",
        "vehicles",
    ),
    skill(
        "driving_licence_t",
        "Führerschein Klasse T (Traktor)",
        "Driving licence class T (tractor)",
        "vehicles",
    ),
    skill("own_vehicle", "Eigenes Auto", "Own car", "vehicles"),
    skill("own_van", "Eigener Transporter", "Own van", "vehicles"),
    skill(
        "own_tractor",
        "Eigener Traktor oder Radlader",
        "Own tractor or wheel loader",
        "vehicles",
    ),
    skill("boat", "Bootsführer", "Boat operator", "vehicles"),
    skill(
        "chainsaw",
        "Motorsäge (mit Schein)",
        "Chainsaw (certified)",
        "equipment",
    ),
    skill(
        "construction_machinery",
        "Baumaschinen",
        "Construction machinery",
        "equipment",
    ),
    skill("drone_pilot", "Drohnenpilot", "Drone pilot", "equipment"),
    // Trades.
    skill("electrician", "Elektriker", "Electrician", "trades"),
    skill("plumber", "Installateur", "Plumber", "trades"),
    skill(
        "carpentry",
        "Zimmerei und Schreinerei",
        "Carpentry",
        "trades",
    ),
    skill(
        "structural_assessment",
        "Statik und Bauschäden",
        "Structural assessment",
        "trades",
    ),
    // Communication and coordination.
    skill("it_support", "IT und Technik", "IT support", "coordination"),
    skill("radio_operator", "Funk", "Radio operation", "coordination"),
    skill(
        "registration_desk",
        "Anmeldung und Empfang",
        "Registration desk",
        "coordination",
    ),
    skill(
        "sign_language",
        "Deutsche Gebärdensprache",
        "German Sign Language",
        "language",
    ),
    skill(
        "translation_ar",
        "Übersetzen Arabisch",
        "Translation Arabic",
        "language",
    ),
    skill(
        "translation_en",
        "Übersetzen Englisch",
        "Translation English",
        "language",
    ),
    skill(
        "translation_fa",
        "Übersetzen Persisch",
        "Translation Persian",
        "language",
    ),
    skill(
        "translation_fr",
        "Übersetzen Französisch",
        "Translation French",
        "language",
    ),
    skill(
        "translation_pl",
        "Übersetzen Polnisch",
        "Translation Polish",
        "language",
    ),
    skill(
        "translation_ro",
        "Übersetzen Rumänisch",
        "Translation Romanian",
        "language",
    ),
    skill(
        "translation_ru",
        "Übersetzen Russisch",
        "Translation Russian",
        "language",
    ),
    skill(
        "translation_tr",
        "Übersetzen Türkisch",
        "Translation Turkish",
        "language",
    ),
    skill(
        "translation_uk",
        "Übersetzen Ukrainisch",
        "Translation Ukrainian",
        "language",
    ),
];

/// The skill with this id, if it exists.
pub fn find(id: &str) -> Option<&'static SkillDef> {
    TAXONOMY.iter().find(|s| s.id == id)
}

/// Whether `id` names a skill of the taxonomy.
pub fn is_known(id: &str) -> bool {
    find(id).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_machine_friendly() {
        let mut ids: Vec<_> = TAXONOMY.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        let count = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), count, "duplicate skill id");
        for id in ids {
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{id} is not snake_case ascii"
            );
        }
        assert!(is_known("sandbag_filling"));
        assert!(!is_known("Sandbag Filling"));
    }
}

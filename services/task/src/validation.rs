//! Requests to domain values: every rule of `task.proto`, checked in one pass that collects a
//! field violation for each bad field, so that a console can mark all of them at once.
//!
//! This is the only place where proto messages become [`TaskSpec`] and [`IncidentSpec`].

use chrono::{DateTime, Duration, Utc};
use spontan_platform::error::Violations;
use spontan_platform::events::from_timestamp;
use spontan_platform::text::TextRules;
use spontan_proto::v1 as pb;

use crate::domain::{IncidentSpec, Point, Priority, TaskSpec, Window};

pub const MAX_TITLE: usize = 120;
pub const MAX_DESCRIPTION: usize = 4000;
pub const MAX_ADDRESS: usize = 300;
pub const MAX_SAFETY_NOTES: usize = 2000;
pub const MAX_REASON: usize = 500;
pub const MAX_SKILLS: usize = 20;
pub const MAX_LANGUAGES: usize = 10;
pub const MAX_HEADCOUNT: u32 = 500;
pub const MAX_ORGANISATION_ID: usize = 100;
/// A task is a shift, not a campaign: longer work is split into several tasks.
pub const MAX_WINDOW: Duration = Duration::days(7);
/// Tasks are planned for the disaster at hand, not for next year's.
pub const MAX_LEAD_TIME: Duration = Duration::days(365);

/// People's text ([`spontan_platform::text`]): trimmed and in NFC, at most `max` characters,
/// no bidirectional overrides, no control characters (line breaks and tabs only in
/// `multiline` fields), something visible. Returns the cleaned text.
pub fn text(
    v: &mut Violations,
    field: &str,
    value: &str,
    required: bool,
    max: usize,
    multiline: bool,
) -> String {
    let rules = TextRules {
        required,
        max,
        multiline,
    };
    spontan_platform::text::clean(value, rules).unwrap_or_else(|problem| {
        v.add(field, problem.describe());
        value.trim().to_owned()
    })
}

fn point(v: &mut Violations, field: &str, value: Option<&pb::GeoPoint>) -> Point {
    let Some(p) = value else {
        v.add(field, "is required");
        return Point {
            latitude: 0.0,
            longitude: 0.0,
        };
    };
    if !p.latitude.is_finite() || !(-90.0..=90.0).contains(&p.latitude) {
        v.add(
            format!("{field}.latitude"),
            "must be between -90 and 90 degrees",
        );
    }
    if !p.longitude.is_finite() || !(-180.0..=180.0).contains(&p.longitude) {
        v.add(
            format!("{field}.longitude"),
            "must be between -180 and 180 degrees",
        );
    }
    Point {
        latitude: p.latitude,
        longitude: p.longitude,
    }
}

fn time(
    v: &mut Violations,
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Option<DateTime<Utc>> {
    match value {
        None => {
            v.add(field, "is required");
            None
        }
        Some(ts) => {
            let parsed = from_timestamp(ts);
            if parsed.is_none() {
                v.add(field, "is not a valid time");
            }
            parsed
        }
    }
}

/// The window's shape always; with `now`, also that it ends in the future, lasts at most
/// [`MAX_WINDOW`] and starts within [`MAX_LEAD_TIME`].
fn window(
    v: &mut Violations,
    field: &str,
    value: Option<&pb::TimeWindow>,
    now: Option<DateTime<Utc>>,
) -> Window {
    let fallback = Window {
        start: DateTime::UNIX_EPOCH,
        end: DateTime::UNIX_EPOCH,
    };
    let Some(w) = value else {
        v.add(field, "is required");
        return fallback;
    };
    let start = time(v, &format!("{field}.start_time"), w.start_time.as_ref());
    let end = time(v, &format!("{field}.end_time"), w.end_time.as_ref());
    let (Some(start), Some(end)) = (start, end) else {
        return fallback;
    };
    if end <= start {
        v.add(format!("{field}.end_time"), "must be after start_time");
    } else if let Some(now) = now {
        if end <= now {
            v.add(format!("{field}.end_time"), "must not be in the past");
        }
        if end - start > MAX_WINDOW {
            v.add(field.to_owned(), "must last at most 7 days");
        }
        if start > now + MAX_LEAD_TIME {
            v.add(
                format!("{field}.start_time"),
                "must be within a year from now",
            );
        }
    }
    Window { start, end }
}

/// Known, unique skill ids, at most [`MAX_SKILLS`].
fn skills(v: &mut Violations, field: &str, ids: &[String]) -> Vec<String> {
    if ids.len() > MAX_SKILLS {
        v.add(field, format!("must list at most {MAX_SKILLS} skills"));
        return Vec::new();
    }
    let mut seen: Vec<String> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let id = id.trim();
        if !spontan_platform::skills::is_known(id) {
            v.add(
                format!("{field}[{i}]"),
                "is not a known skill id (see RegistrationService.ListSkills)",
            );
        } else if seen.iter().any(|s| s == id) {
            v.add(format!("{field}[{i}]"), "is listed twice");
        } else {
            seen.push(id.to_owned());
        }
    }
    seen
}

/// Well-formed, unique BCP 47 tags in canonical case, at most [`MAX_LANGUAGES`].
fn languages(v: &mut Violations, field: &str, tags: &[String]) -> Vec<String> {
    if tags.len() > MAX_LANGUAGES {
        v.add(
            field,
            format!("must list at most {MAX_LANGUAGES} languages"),
        );
        return Vec::new();
    }
    let mut seen: Vec<String> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.iter().enumerate() {
        match spontan_platform::languages::canonical_tag(tag) {
            None => v.add(
                format!("{field}[{i}]"),
                "must be a BCP 47 language tag like de, en or uk",
            ),
            Some(tag) if seen.contains(&tag) => v.add(format!("{field}[{i}]"), "is listed twice"),
            Some(tag) => seen.push(tag),
        }
    }
    seen
}

/// The organisation claim's form: short, printable ASCII without spaces.
pub fn organisation_id(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        v.add(field, "is required");
    } else if value.len() > MAX_ORGANISATION_ID
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        v.add(
            field,
            format!("must be at most {MAX_ORGANISATION_ID} letters, digits, '-', '_', '.' or ':'"),
        );
    }
    value.to_owned()
}

/// A new incident's description.
pub fn incident_spec(v: &mut Violations, request: &pb::CreateIncidentRequest) -> IncidentSpec {
    let organisation_id = organisation_id(v, "organisation_id", &request.organisation_id);
    let name = text(v, "name", &request.name, true, MAX_TITLE, false);
    let description = text(
        v,
        "description",
        &request.description,
        false,
        MAX_DESCRIPTION,
        true,
    );
    let region_centre = point(v, "region_centre", request.region_centre.as_ref());
    let radius = request.region_radius_km;
    if !radius.is_finite() || !(0.1..=500.0).contains(&radius) {
        v.add("region_radius_km", "must be between 0.1 and 500 km");
    }
    IncidentSpec {
        organisation_id,
        name,
        description,
        region_centre,
        region_radius_km: radius,
    }
}

/// The coordinator-owned fields of a task, whether from `CreateTaskRequest` or from a
/// `Task` in `UpdateTaskRequest` (merged with the stored task).
#[derive(Debug, Clone, Copy)]
pub struct TaskFields<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub meeting_point: Option<&'a pb::GeoPoint>,
    pub address: &'a str,
    pub required_skill_ids: &'a [String],
    pub preferred_skill_ids: &'a [String],
    pub required_languages: &'a [String],
    pub preferred_languages: &'a [String],
    pub min_age: u32,
    pub headcount: u32,
    pub window: Option<&'a pb::TimeWindow>,
    pub priority: i32,
    pub max_distance_km: f64,
    pub safety_notes: &'a str,
}

impl<'a> From<&'a pb::CreateTaskRequest> for TaskFields<'a> {
    fn from(r: &'a pb::CreateTaskRequest) -> Self {
        Self {
            title: &r.title,
            description: &r.description,
            meeting_point: r.meeting_point.as_ref(),
            address: &r.address,
            required_skill_ids: &r.required_skill_ids,
            preferred_skill_ids: &r.preferred_skill_ids,
            required_languages: &r.required_languages,
            preferred_languages: &r.preferred_languages,
            min_age: r.min_age,
            headcount: r.headcount,
            window: r.window.as_ref(),
            priority: r.priority,
            max_distance_km: r.max_distance_km,
            safety_notes: &r.safety_notes,
        }
    }
}

impl<'a> From<&'a pb::Task> for TaskFields<'a> {
    fn from(t: &'a pb::Task) -> Self {
        Self {
            title: &t.title,
            description: &t.description,
            meeting_point: t.meeting_point.as_ref(),
            address: &t.address,
            required_skill_ids: &t.required_skill_ids,
            preferred_skill_ids: &t.preferred_skill_ids,
            required_languages: &t.required_languages,
            preferred_languages: &t.preferred_languages,
            min_age: t.min_age,
            headcount: t.headcount,
            window: t.window.as_ref(),
            priority: t.priority,
            max_distance_km: t.max_distance_km,
            safety_notes: &t.safety_notes,
        }
    }
}

/// Validates a task's fields; violation paths start with `prefix` (`""` or `"task."`). `now`
/// is `None` when the window did not change, so that editing the title of a task whose window
/// already ended is not refused for the window.
pub fn task_spec(
    v: &mut Violations,
    prefix: &str,
    fields: TaskFields<'_>,
    now: Option<DateTime<Utc>>,
) -> TaskSpec {
    let f = |name: &str| format!("{prefix}{name}");
    let title = text(v, &f("title"), fields.title, true, MAX_TITLE, false);
    let description = text(
        v,
        &f("description"),
        fields.description,
        false,
        MAX_DESCRIPTION,
        true,
    );
    let meeting_point = point(v, &f("meeting_point"), fields.meeting_point);
    let address = text(v, &f("address"), fields.address, true, MAX_ADDRESS, false);
    let required_skill_ids = skills(v, &f("required_skill_ids"), fields.required_skill_ids);
    let preferred_skill_ids = skills(v, &f("preferred_skill_ids"), fields.preferred_skill_ids);
    for (i, id) in fields.preferred_skill_ids.iter().enumerate() {
        if required_skill_ids.iter().any(|r| r == id.trim()) {
            v.add(
                f(&format!("preferred_skill_ids[{i}]")),
                "is already required; a skill is either required or preferred",
            );
        }
    }
    let required_languages = languages(v, &f("required_languages"), fields.required_languages);
    let preferred_languages = languages(v, &f("preferred_languages"), fields.preferred_languages);
    for (i, tag) in fields.preferred_languages.iter().enumerate() {
        let Some(tag) = spontan_platform::languages::canonical_tag(tag) else {
            continue;
        };
        let primary = spontan_platform::languages::primary(&tag);
        if required_languages
            .iter()
            .any(|r| spontan_platform::languages::primary(r) == primary)
        {
            v.add(
                f(&format!("preferred_languages[{i}]")),
                "is already required; a language is either required or preferred",
            );
        }
    }
    if fields.min_age != 0 && !(16..=99).contains(&fields.min_age) {
        v.add(
            f("min_age"),
            "must be 0 (no requirement) or between 16 and 99",
        );
    }
    if !(1..=MAX_HEADCOUNT).contains(&fields.headcount) {
        v.add(
            f("headcount"),
            format!("must be between 1 and {MAX_HEADCOUNT}"),
        );
    }
    let window = window(v, &f("window"), fields.window, now);
    let priority = match fields.priority {
        0 => {
            v.add(f("priority"), "is required");
            Priority::Low
        }
        p => Priority::from_i32(p).unwrap_or_else(|| {
            v.add(f("priority"), "is not a known priority");
            Priority::Low
        }),
    };
    let distance = fields.max_distance_km;
    if !distance.is_finite() || (distance != 0.0 && !(0.1..=200.0).contains(&distance)) {
        v.add(
            f("max_distance_km"),
            "must be 0 (no task limit) or between 0.1 and 200 km",
        );
    }
    let safety_notes = text(
        v,
        &f("safety_notes"),
        fields.safety_notes,
        false,
        MAX_SAFETY_NOTES,
        true,
    );
    TaskSpec {
        title,
        description,
        meeting_point,
        address,
        required_skill_ids,
        preferred_skill_ids,
        required_languages,
        preferred_languages,
        min_age: fields.min_age,
        headcount: fields.headcount,
        window,
        priority,
        max_distance_km: distance,
        safety_notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spontan_platform::events::timestamp;

    fn fields_of(violations: Violations) -> Vec<String> {
        match violations.finish(()) {
            Ok(()) => Vec::new(),
            Err(spontan_platform::ApiError::InvalidArgument(list)) => {
                list.into_iter().map(|f| f.field).collect()
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_good_task_passes_and_a_bad_one_reports_every_field() {
        let now = Utc::now();
        let good = pb::CreateTaskRequest {
            title: "Sandsäcke füllen".into(),
            meeting_point: Some(pb::GeoPoint {
                latitude: 50.5,
                longitude: 7.1,
            }),
            address: "Marktplatz 1".into(),
            required_skill_ids: vec!["sandbag_filling".into()],
            preferred_skill_ids: vec!["first_aid".into()],
            headcount: 5,
            window: Some(pb::TimeWindow {
                start_time: Some(timestamp(now + Duration::hours(1))),
                end_time: Some(timestamp(now + Duration::hours(5))),
            }),
            priority: pb::Priority::High as i32,
            ..Default::default()
        };
        let mut v = Violations::new();
        task_spec(&mut v, "", (&good).into(), Some(now));
        assert!(fields_of(v).is_empty());

        let bad = pb::CreateTaskRequest {
            title: "a\u{7}b".into(),
            meeting_point: Some(pb::GeoPoint {
                latitude: f64::NAN,
                longitude: 181.0,
            }),
            required_skill_ids: vec!["first_aid".into(), "juggling".into()],
            preferred_skill_ids: vec!["first_aid".into()],
            min_age: 12,
            headcount: 501,
            max_distance_km: 500.0,
            ..Default::default()
        };
        let mut v = Violations::new();
        task_spec(&mut v, "", (&bad).into(), Some(now));
        assert_eq!(
            fields_of(v),
            [
                "title",
                "meeting_point.latitude",
                "meeting_point.longitude",
                "address",
                "required_skill_ids[1]",
                "preferred_skill_ids[0]",
                "min_age",
                "headcount",
                "window",
                "priority",
                "max_distance_km",
            ]
        );
    }

    #[test]
    fn languages_are_canonical_unique_and_either_required_or_preferred() {
        let now = Utc::now();
        let request = |required: &[&str], preferred: &[&str]| pb::CreateTaskRequest {
            title: "Übersetzen".into(),
            address: "Notunterkunft".into(),
            meeting_point: Some(pb::GeoPoint {
                latitude: 50.5,
                longitude: 7.1,
            }),
            headcount: 2,
            window: Some(pb::TimeWindow {
                start_time: Some(timestamp(now + Duration::hours(1))),
                end_time: Some(timestamp(now + Duration::hours(3))),
            }),
            priority: pb::Priority::High as i32,
            required_languages: required.iter().map(|s| (*s).to_owned()).collect(),
            preferred_languages: preferred.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        };
        let mut v = Violations::new();
        let spec = task_spec(
            &mut v,
            "",
            (&request(&["UK", "de"], &["pt-br"])).into(),
            Some(now),
        );
        assert!(fields_of(v).is_empty());
        assert_eq!(spec.required_languages, ["uk", "de"]);
        assert_eq!(spec.preferred_languages, ["pt-BR"]);

        let mut v = Violations::new();
        task_spec(
            &mut v,
            "",
            (&request(&["uk", "Ukrainian", "UK"], &["uk-UA", "ar"])).into(),
            Some(now),
        );
        assert_eq!(
            fields_of(v),
            [
                "required_languages[1]",
                "required_languages[2]",
                "preferred_languages[0]",
            ]
        );

        let eleven: Vec<String> = (0..11)
            .map(|i| format!("x{}", (b'a' + i) as char))
            .collect();
        let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
        let mut v = Violations::new();
        task_spec(&mut v, "", (&request(&eleven, &[])).into(), Some(now));
        assert_eq!(fields_of(v), ["required_languages"]);
    }
}

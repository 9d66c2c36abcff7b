//! Printing: aligned tables for people, JSON for scripts.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Prints `rows` under `headers` with columns aligned, or `json` when asked for JSON.
pub fn print(json_mode: bool, json: Value, headers: &[&str], rows: Vec<Vec<String>>) {
    if json_mode {
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
        return;
    }
    print!("{}", table(headers, &rows));
}

pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            out.push_str(cell);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

pub fn time(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(spontan_platform::events::from_timestamp)
        .map(|t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// An enum value's proto name without its prefix: `PRIORITY_CRITICAL` → `critical`.
pub fn enum_name(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// A match state's name: `MATCH_STATE_CHECKED_IN` → `checked_in`.
pub fn match_state(state: spontan_proto::v1::MatchState) -> String {
    enum_name(state.as_str_name(), "MATCH_STATE_")
}

/// One match as coordinators and dashboards see it (no personal data), for `--json`.
pub fn match_json(m: &spontan_proto::v1::Match) -> Value {
    serde_json::json!({
        "match_id": m.match_id,
        "task_id": m.task_id,
        "incident_id": m.incident_id,
        "volunteer_ref": m.volunteer_ref,
        "state": match_state(m.state()),
        "explanation": m.explanation.as_ref().map(|e| e.summary.clone()).unwrap_or_default(),
        "expires_at": time(m.expires_at.as_ref()),
        "decline_reason": enum_name(m.decline_reason().as_str_name(), "DECLINE_REASON_"),
        "cancel_reason": enum_name(m.cancel_reason().as_str_name(), "MATCH_CANCEL_REASON_"),
        "checked_in_at": time(m.checked_in_at.as_ref()),
        "checked_out_at": time(m.checked_out_at.as_ref()),
        "hours_on_site": m.hours_on_site,
        "has_contact_grant": !m.contact_grant.is_empty(),
        "version": m.version,
    })
}

/// Table columns of [`match_row`].
pub const MATCH_HEADERS: &[&str] = &["MATCH", "VOLUNTEER", "STATE", "UPDATED", "WHY"];

/// One match as a table row.
pub fn match_row(m: &spontan_proto::v1::Match) -> Vec<String> {
    vec![
        m.match_id.clone(),
        m.volunteer_ref.clone(),
        match_state(m.state()),
        time(m.updated_at.as_ref()),
        m.explanation
            .as_ref()
            .map(|e| e.summary.clone())
            .unwrap_or_default(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let out = table(
            &["ID", "TITLE"],
            &[
                vec!["1".into(), "Sandsäcke".into()],
                vec!["22".into(), "x".into()],
            ],
        );
        assert_eq!(out, "ID  TITLE\n1   Sandsäcke\n22  x\n");
    }
}

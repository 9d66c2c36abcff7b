//! The Prometheus text format, as far as the exporter writes it: samples parsed from a
//! scrape, and the queries the test makes of them.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use spontan_e2e::scrape_metrics;

#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub(super) name: String,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) value: f64,
}

/// Parses `name{label="value",...} value` lines; comments and blank lines are skipped.
pub(super) fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| parse_line(line).unwrap_or_else(|| panic!("not a sample line: {line}")))
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i);
                    break;
                }
                ',' => {}
                '=' => {
                    // A quoted value with `\"`, `\\` and `\n` escapes.
                    if chars.next()?.1 != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        }
        rest = &inner[end? + 1..];
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// The samples named `name` whose labels include every pair of `labels`.
pub(super) fn find<'a>(
    samples: &'a [Sample],
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The value of the one sample named `name` with `labels`, if there is exactly one.
pub(super) fn one(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    match find(samples, name, labels).as_slice() {
        [sample] => Some(sample.value),
        _ => None,
    }
}

pub(super) async fn scrape(address: SocketAddr) -> Vec<Sample> {
    parse(&scrape_metrics(address).await.expect("metrics answer"))
}

/// Per partition, the lag `consumer` reports on `topic`: `None` until every one of the
/// `partitions` partitions is reported.
pub(super) fn lag(
    samples: &[Sample],
    consumer: &str,
    topic: &str,
    partitions: i32,
) -> Option<BTreeMap<i32, f64>> {
    let reported: BTreeMap<i32, f64> = find(
        samples,
        "kafka_consumer_lag_records",
        &[("consumer", consumer), ("topic", topic)],
    )
    .into_iter()
    .filter_map(|s| Some((s.labels.get("partition")?.parse().ok()?, s.value)))
    .collect();
    (reported.keys().copied().collect::<Vec<_>>() == (0..partitions).collect::<Vec<_>>())
        .then_some(reported)
}

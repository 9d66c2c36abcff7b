//! Reading one histogram from a Prometheus scrape: enough to take the server's own view of a
//! request's duration from a service's `/metrics`, without a client library.

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One Prometheus histogram as scraped: cumulative counts per upper bound, with sum and count.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Buckets {
    pub cumulative: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

/// Extracts the histogram `name` for the label value `method_suffix` from a scrape; when the
/// series carry a `code` label, only `code="Ok"`.
pub fn parse_histogram(text: &str, name: &str, method_suffix: &str) -> Buckets {
    let mut buckets = Buckets::default();
    let method_of = |labels: &str| {
        labels
            .split(',')
            .find_map(|l| l.trim().strip_prefix("method=\""))
            .map(|m| m.trim_end_matches('"').to_owned())
    };
    for row in text.lines() {
        let Some((series, value)) = row.rsplit_once(' ') else {
            continue;
        };
        let Some((metric, labels)) = series.split_once('{') else {
            continue;
        };
        let labels = labels.trim_end_matches('}');
        if !method_of(labels).is_some_and(|m| m.ends_with(method_suffix)) {
            continue;
        }
        // Successful calls only, when the series are split by status code.
        if labels
            .split(',')
            .find_map(|l| l.trim().strip_prefix("code=\""))
            .is_some_and(|c| c.trim_end_matches('"') != "Ok")
        {
            continue;
        }
        if metric == format!("{name}_bucket") {
            let le = labels
                .split(',')
                .find_map(|l| l.trim().strip_prefix("le=\""))
                .map(|v| v.trim_end_matches('"'));
            let bound = match le {
                Some("+Inf") => f64::INFINITY,
                Some(v) => v.parse().unwrap_or(f64::NAN),
                None => continue,
            };
            if let Ok(count) = value.parse::<f64>() {
                buckets.cumulative.push((bound, count as u64));
            }
        } else if metric == format!("{name}_sum") {
            buckets.sum = value.parse().unwrap_or(0.0);
        } else if metric == format!("{name}_count") {
            buckets.count = value.parse::<f64>().map_or(0, |v| v as u64);
        }
    }
    buckets.cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

impl Buckets {
    /// What was added between `before` and `self`.
    pub fn since(&self, before: &Buckets) -> Buckets {
        Buckets {
            cumulative: self
                .cumulative
                .iter()
                .map(|(le, n)| {
                    let old = before
                        .cumulative
                        .iter()
                        .find(|(b, _)| b == le)
                        .map_or(0, |(_, n)| *n);
                    (*le, n.saturating_sub(old))
                })
                .collect(),
            sum: self.sum - before.sum,
            count: self.count.saturating_sub(before.count),
        }
    }

    /// The quantile `q`: the bucket it falls in (lower and upper bound, seconds) and an
    /// estimate by linear interpolation inside that bucket (as Prometheus'
    /// `histogram_quantile` does).
    pub fn quantile(&self, q: f64) -> Option<(f64, f64, f64)> {
        let total = self.cumulative.last()?.1;
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut lower = (0.0, 0u64);
        for &(le, n) in &self.cumulative {
            if n as f64 >= rank {
                if le.is_infinite() {
                    return Some((lower.0, le, lower.0));
                }
                let inside = (n - lower.1) as f64;
                let fraction = if inside > 0.0 {
                    (rank - lower.1 as f64) / inside
                } else {
                    1.0
                };
                return Some((lower.0, le, lower.0 + (le - lower.0) * fraction));
            }
            lower = (le, n);
        }
        None
    }
}

/// GET `/metrics` over plain HTTP/1.0 (loopback; no client library needed).
pub async fn scrape(address: &str) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot reach the metrics endpoint {address}"))?;
    stream
        .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .await?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await?;
    let (head, text) = body
        .split_once("\r\n\r\n")
        .context("malformed metrics answer")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!(
            "metrics endpoint answered {}",
            head.lines().next().unwrap_or("")
        );
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::empty_poll::{DURATION_METRIC, POLL_METHOD};

    const SCRAPE: &str = "\
# TYPE grpc_server_request_duration_seconds histogram
grpc_server_request_duration_seconds_bucket{method=\"/spontan.v1.MatchingService/ListMatchChanges\",le=\"0.0005\"} 90
grpc_server_request_duration_seconds_bucket{method=\"/spontan.v1.MatchingService/ListMatchChanges\",le=\"0.001\"} 99
grpc_server_request_duration_seconds_bucket{method=\"/spontan.v1.MatchingService/ListMatchChanges\",le=\"+Inf\"} 100
grpc_server_request_duration_seconds_sum{method=\"/spontan.v1.MatchingService/ListMatchChanges\"} 0.05
grpc_server_request_duration_seconds_count{method=\"/spontan.v1.MatchingService/ListMatchChanges\"} 100
grpc_server_request_duration_seconds_bucket{method=\"/spontan.v1.MatchingService/GetTaskStaffing\",le=\"0.0005\"} 7
grpc_server_request_duration_seconds_bucket{method=\"/spontan.v1.MatchingService/ListMatchChanges\",code=\"NotFound\",le=\"0.0005\"} 5
grpc_server_request_duration_seconds_count{method=\"/spontan.v1.MatchingService/ListMatchChanges\",code=\"NotFound\"} 5
";

    #[test]
    fn a_scraped_histogram_is_read_for_one_method() {
        let h = parse_histogram(SCRAPE, DURATION_METRIC, POLL_METHOD);
        assert_eq!(
            h.cumulative,
            vec![(0.0005, 90), (0.001, 99), (f64::INFINITY, 100)]
        );
        assert_eq!(h.count, 100);
        assert!((h.sum - 0.05).abs() < 1e-12);
    }

    #[test]
    fn quantiles_come_from_the_difference_of_two_scrapes() {
        let before = parse_histogram(SCRAPE, DURATION_METRIC, POLL_METHOD);
        let after = parse_histogram(
            &SCRAPE
                .replace("} 90", "} 170")
                .replace("} 99", "} 199")
                .replace("le=\"+Inf\"} 100", "le=\"+Inf\"} 200")
                .replace(
                    "_count{method=\"/spontan.v1.MatchingService/ListMatchChanges\"} 100",
                    "_count{method=\"/spontan.v1.MatchingService/ListMatchChanges\"} 200",
                ),
            DURATION_METRIC,
            POLL_METHOD,
        );
        let burst = after.since(&before);
        assert_eq!(burst.count, 100);
        assert_eq!(
            burst.cumulative,
            vec![(0.0005, 80), (0.001, 100), (f64::INFINITY, 100)]
        );
        // Half of 100 lies in the first bucket: 50/80 of the way to 0.5 ms.
        let (lo, hi, est) = burst.quantile(0.5).expect("p50");
        assert_eq!((lo, hi), (0.0, 0.0005));
        assert!((est - 0.0005 * 50.0 / 80.0).abs() < 1e-12);
        let (lo, hi, _) = burst.quantile(0.99).expect("p99");
        assert_eq!((lo, hi), (0.0005, 0.001));
    }
}

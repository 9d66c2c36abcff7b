//! Latency histograms and how they are printed: HDR histograms in microseconds, reported as
//! p50/p90/p99/p99.9/max in milliseconds, as a table row or as JSON.

use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest latency a histogram holds: 120 s, in microseconds.
const MAX_MICROS: u64 = 120_000_000;

/// An empty histogram of 1 µs to 120 s with three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant bounds are valid")
}

/// A latency in whole microseconds, at least 1 (the histogram's lowest value).
pub fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Records `latency` into a shared histogram; anything above 120 s counts as 120 s.
pub fn record(h: &Mutex<Histogram<u64>>, latency: Duration) {
    let _ = h
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .record(micros(latency).min(MAX_MICROS));
}

/// A copy of a shared histogram, for the report.
pub fn snapshot(h: &Mutex<Histogram<u64>>) -> Histogram<u64> {
    h.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// p50/p90/p99/p99.9/max in ms, and the count.
pub fn summary(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    serde_json::json!({
        "count": h.len(),
        "p50_ms": ms(0.5),
        "p90_ms": ms(0.9),
        "p99_ms": ms(0.99),
        "p999_ms": ms(0.999),
        "max_ms": h.max() as f64 / 1000.0,
    })
}

/// One table row under [`header`].
pub fn line(name: &str, h: &Histogram<u64>) -> String {
    let s = summary(h);
    let f = |k: &str| s[k].as_f64().unwrap_or(0.0);
    format!(
        "{name:<34} {:>6} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        h.len(),
        f("p50_ms"),
        f("p90_ms"),
        f("p99_ms"),
        f("p999_ms"),
        f("max_ms")
    )
}

/// The header of the end-to-end scenarios' latency tables.
pub fn header() -> String {
    format!(
        "{:<34} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "latency", "count", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_beyond_the_bounds_are_clamped() {
        let h = Mutex::new(histogram());
        record(&h, Duration::ZERO);
        record(&h, Duration::from_secs(600));
        let h = snapshot(&h);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= MAX_MICROS);
        assert_eq!(summary(&h)["count"], 2);
    }
}

//! The open-loop schedule every scenario runs on.

use std::time::{Duration, Instant};

/// Hands `(index, scheduled time, measured)` of every request of `warmup + duration` at
/// `rate` per second to `start`, at its scheduled time; returns how many were scheduled
/// after the warm-up (the measured ones).
///
/// Request n is due at n / rate. Whatever the services do, the schedule does not wait for
/// them: each latency runs from the scheduled time, so queueing counts (no coordinated
/// omission).
pub async fn schedule(
    rate: f64,
    warmup: Duration,
    duration: Duration,
    mut start: impl FnMut(u64, Instant, bool),
) -> u64 {
    let end = warmup + duration;
    let began = Instant::now();
    let mut sent = 0u64;
    let mut measured = 0u64;
    while began.elapsed() < end {
        // Every request whose time has come: floor(elapsed * rate) + 1 of them by now.
        let due = (began.elapsed().as_secs_f64() * rate) as u64 + 1;
        while sent < due {
            let at = began + Duration::from_secs_f64(sent as f64 / rate);
            let counts = at.duration_since(began) >= warmup;
            measured += u64::from(counts);
            start(sent, at, counts);
            sent += 1;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    measured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_due_at_n_over_rate_and_warm_up_is_not_measured() {
        let mut seen = Vec::new();
        let (warmup, duration) = (Duration::from_millis(100), Duration::from_millis(200));
        let measured = schedule(100.0, warmup, duration, |n, at, m| seen.push((n, at, m))).await;
        // How many are handed out depends on when the last tick falls; which ones and when
        // they are due does not.
        assert!(seen.len() <= 30, "{}", seen.len());
        let first = seen[0].1;
        for (i, (n, at, m)) in seen.iter().enumerate() {
            assert_eq!(*n, i as u64);
            let due = at.duration_since(first).as_secs_f64();
            assert!((due - *n as f64 / 100.0).abs() < 1e-6, "{n} due at {due}");
            assert_eq!(*m, *n >= 10);
        }
        assert_eq!(measured, seen.iter().filter(|s| s.2).count() as u64);
    }
}

//! Token buckets for `Register`, in memory: one per client ([`ClientKey`]: an IPv4 address or
//! an IPv6 /64, behind the trusted proxies of `grpc.trusted_proxies`), and one for all
//! clients together, the admission limit that keeps a flood from many addresses (a botnet)
//! from filling the database and the matching with fake volunteers. One replica's view is
//! enough, and a restart forgetting it is harmless.
//!
//! Behind a carrier-grade NAT many phones share one address, so the per-client burst is
//! generous; the point is to make bulk registration slow, not to count people.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use spontan_platform::client::ClientKey;

use crate::config::RateLimitConfig;

/// Above this many tracked clients, full buckets are forgotten (they carry no information).
const PRUNE_ABOVE: usize = 10_000;

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// This client sent too many.
    Client(Duration),
    /// All clients together did.
    Everyone(Duration),
}

impl Limited {
    pub fn retry_after(self) -> Duration {
        match self {
            Self::Client(d) | Self::Everyone(d) => d,
        }
    }
}

#[derive(Debug)]
pub struct RateLimiter {
    client: Rate,
    everyone: Rate,
    buckets: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    clients: HashMap<ClientKey, Bucket>,
    everyone: Bucket,
}

#[derive(Debug, Clone, Copy)]
struct Rate {
    burst: f64,
    per_second: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: rate.burst,
            at: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate.per_second)
            .min(rate.burst);
        self.at = now;
    }

    /// How long until a token is there (zero: there is one).
    fn wait(&self, rate: Rate) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(((1.0 - self.tokens) / rate.per_second).max(0.001))
        }
    }
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig) -> Self {
        let client = Rate {
            burst: f64::from(config.burst),
            per_second: f64::from(config.per_minute) / 60.0,
        };
        let everyone = Rate {
            burst: f64::from(config.global_burst),
            per_second: f64::from(config.global_per_minute) / 60.0,
        };
        let now = Instant::now();
        Self {
            client,
            everyone,
            buckets: Mutex::new(Buckets {
                clients: HashMap::new(),
                everyone: Bucket::full(everyone, now),
            }),
        }
    }

    /// Takes one token for `client` and one from the shared bucket, or says which limit
    /// refused and how long until a token is there. A refused request takes no token, so a
    /// client over its own limit does not use up everyone's.
    pub fn check(&self, client: ClientKey) -> Result<(), Limited> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Buckets { clients, everyone } = &mut *buckets;
        if clients.len() > PRUNE_ABOVE {
            let rate = self.client;
            clients.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate.per_second
                    < rate.burst
            });
        }
        let mine = clients
            .entry(client)
            .or_insert_with(|| Bucket::full(self.client, now));
        mine.refill(self.client, now);
        let wait = mine.wait(self.client);
        if !wait.is_zero() {
            return Err(Limited::Client(wait));
        }
        everyone.refill(self.everyone, now);
        let wait = everyone.wait(self.everyone);
        if !wait.is_zero() {
            return Err(Limited::Everyone(wait));
        }
        mine.tokens -= 1.0;
        everyone.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::IpAddr;

    fn key(address: &str) -> ClientKey {
        ClientKey::of(address.parse::<IpAddr>().expect("address"))
    }

    #[test]
    fn a_burst_passes_then_the_client_waits() {
        let limiter = RateLimiter::new(&RateLimitConfig {
            burst: 2,
            per_minute: 60,
            ..RateLimitConfig::default()
        });
        let (a, b) = (key("10.0.0.1"), key("10.0.0.2"));
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let Err(Limited::Client(wait)) = limiter.check(a) else {
            panic!("the client's bucket is empty");
        };
        assert!(wait <= Duration::from_secs(1));
        assert!(limiter.check(b).is_ok(), "clients have their own buckets");
        // An IPv6 client is one /64: another address in it shares the bucket.
        let (c, d) = (key("2001:db8::1"), key("2001:db8::ffff"));
        assert!(limiter.check(c).is_ok() && limiter.check(d).is_ok());
        assert!(matches!(limiter.check(c), Err(Limited::Client(_))));
    }

    #[test]
    fn many_clients_together_meet_the_admission_limit() {
        let limiter = RateLimiter::new(&RateLimitConfig {
            burst: 5,
            per_minute: 60,
            global_burst: 10,
            global_per_minute: 60,
        });
        for i in 0..10 {
            assert!(limiter.check(key(&format!("10.0.1.{i}"))).is_ok(), "{i}");
        }
        // Each of these clients is within its own limit; together they are not.
        let Err(Limited::Everyone(wait)) = limiter.check(key("10.0.2.1")) else {
            panic!("the admission limit");
        };
        assert!(wait <= Duration::from_secs(1));
    }
}

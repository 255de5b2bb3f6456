//! In-process rate limits, on governor's GCRA (generic cell rate algorithm): a request rate per
//! key ([`RequestLimiter`]: the management API's callers, leak reports' senders), and a budget
//! of *failures* per key ([`FailureLimiter`]: sign-ins and client authentications per source
//! address, client authentications per client). The per-account sign-in counter, which must
//! hold across instances, is in the database instead (`oauth::login`).
//!
//! These are per instance: N instances behind a balancer allow up to N times the rate. Each
//! refusal tells how long to wait, for `Retry-After` (RFC 9110 §10.2.3, RFC 6585 §4).
//!
//! Memory stays bounded: keys not seen for a whole period are forgotten (governor's
//! `retain_recent`) every [`SWEEP_EVERY`] uses, and a failure limiter that already blocks
//! [`MAX_BLOCKED`] keys stops blocking more (the account counter and the other limiters still
//! hold).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A rate: `count` events per `per`, all of which may come at once (the burst). Written
/// `N/duration` in settings: `100/10m`, `600/1m`; `off` turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    pub const fn new(count: u32, per: Duration) -> Rate {
        Rate { count, per }
    }

    /// Parses `N/duration` (`30/1m`), or `off` (`None`). N is 1 to 1,000,000; the duration
    /// 1s to 1d.
    pub fn parse(raw: &str) -> Result<Option<Rate>, String> {
        if raw.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let (count, per) = raw
            .split_once('/')
            .ok_or_else(|| format!("{raw:?} is not a rate such as 100/10m, or off"))?;
        let count: u32 = match count.trim().parse() {
            Ok(n) if (1..=1_000_000).contains(&n) => n,
            _ => return Err(format!("{raw:?}: the count must be from 1 to 1000000")),
        };
        let per = crate::duration::parse(per.trim()).map_err(|e| e.to_string())?;
        if per < Duration::from_secs(1) || per > Duration::from_secs(86_400) {
            return Err(format!("{raw:?}: the period must be from 1s to 1d"));
        }
        Ok(Some(Rate { count, per }))
    }

    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.count).unwrap_or(NonZeroU32::MIN);
        let cell = self.per / burst.get();
        Quota::with_period(cell.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst)
    }
}

/// The key an address is counted under: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber's network; counting each address of it would give a guesser 2^64 budgets).
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// Every this many uses, keys idle for a whole period are forgotten.
const SWEEP_EVERY: u64 = 4096;
/// At most this many keys are blocked by one [`FailureLimiter`] at once.
const MAX_BLOCKED: usize = 100_000;

/// Requests per key: each request takes a cell; with none left, the answer is how long until
/// one is.
pub(crate) struct RequestLimiter<K: Hash + Eq + Clone> {
    /// The limit's name in `tessera_rate_limited_total{limit}`.
    name: &'static str,
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    uses: AtomicU64,
}

impl<K: Hash + Eq + Clone> RequestLimiter<K> {
    /// `None`: no limit. `name` labels its refusals in the metrics.
    pub(crate) fn new(name: &'static str, rate: Option<Rate>) -> Self {
        RequestLimiter {
            name,
            limiter: rate.map(|r| RateLimiter::keyed(r.quota())),
            uses: AtomicU64::new(0),
        }
    }

    /// Takes a cell for `key`: `Err(wait)` when the key is over its rate.
    pub(crate) fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.uses.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(key).map_err(|not_until| {
            crate::telemetry::metrics::rate_limited(self.name);
            not_until.wait_time_from(DefaultClock::default().now())
        })
    }
}

/// A budget of failures per key. Each failure takes a cell; a failure that finds none left
/// blocks the key until one is back, and while a key is blocked its attempts are refused
/// before anything is checked ([`Self::blocked`]). Successes cost nothing, so a key that
/// stops failing is never slowed.
pub(crate) struct FailureLimiter<K: Hash + Eq + Clone> {
    /// The limit's name in `tessera_rate_limited_total{limit}`.
    name: &'static str,
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    blocked: Mutex<HashMap<K, Instant>>,
    /// How many keys `blocked` holds, read without the lock: the common case, nobody
    /// blocked, costs one atomic load.
    blocked_len: AtomicUsize,
    uses: AtomicU64,
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    /// `None`: no limit. `name` labels its refusals in the metrics.
    pub(crate) fn new(name: &'static str, rate: Option<Rate>) -> Self {
        FailureLimiter {
            name,
            limiter: rate.map(|r| RateLimiter::keyed(r.quota())),
            blocked: Mutex::new(HashMap::new()),
            blocked_len: AtomicUsize::new(0),
            uses: AtomicU64::new(0),
        }
    }

    /// How long `key` must still wait, if it is blocked.
    pub(crate) fn blocked(&self, key: &K) -> Option<Duration> {
        if self.blocked_len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut blocked = self.lock();
        let until = *blocked.get(key)?;
        let now = Instant::now();
        if until > now {
            crate::telemetry::metrics::rate_limited(self.name);
            return Some(until - now);
        }
        blocked.remove(key);
        self.blocked_len.store(blocked.len(), Ordering::Relaxed);
        None
    }

    /// Counts a failure of `key`; `Some(wait)` when it used up the budget, so the key is now
    /// blocked for `wait`.
    pub(crate) fn failed(&self, key: &K) -> Option<Duration> {
        let limiter = self.limiter.as_ref()?;
        if self.uses.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(limiter);
        }
        let not_until = limiter.check_key(key).err()?;
        crate::telemetry::metrics::rate_limited(self.name);
        let wait = not_until
            .wait_time_from(DefaultClock::default().now())
            .max(Duration::from_secs(1));
        let mut blocked = self.lock();
        if blocked.len() < MAX_BLOCKED || blocked.contains_key(key) {
            blocked.insert(key.clone(), Instant::now() + wait);
            self.blocked_len.store(blocked.len(), Ordering::Relaxed);
        }
        Some(wait)
    }

    fn sweep(&self, limiter: &DefaultKeyedRateLimiter<K>) {
        limiter.retain_recent();
        limiter.shrink_to_fit();
        let now = Instant::now();
        let mut blocked = self.lock();
        blocked.retain(|_, until| *until > now);
        self.blocked_len.store(blocked.len(), Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Instant>> {
        // The map holds only deadlines: a panic elsewhere cannot leave it inconsistent.
        self.blocked.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whole seconds to put in `Retry-After`, rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_refuse_nonsense() {
        assert_eq!(
            Rate::parse("100/10m").unwrap(),
            Some(Rate::new(100, Duration::from_secs(600)))
        );
        assert_eq!(Rate::parse("off").unwrap(), None);
        for bad in ["100", "0/1m", "10/0s", "x/1m", "10/2d", "10/soon"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_count_per_ipv4_address_and_ipv6_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn requests_past_the_burst_wait() {
        let limiter = RequestLimiter::new("test", Some(Rate::new(3, Duration::from_secs(60))));
        for _ in 0..3 {
            assert!(limiter.check(&"a").is_ok());
        }
        let wait = limiter.check(&"a").unwrap_err();
        assert!(wait > Duration::from_secs(10) && wait <= Duration::from_secs(20));
        assert!(limiter.check(&"b").is_ok(), "keys are counted apart");
        assert!(RequestLimiter::new("test", None).check(&"a").is_ok());
    }

    #[test]
    fn failures_past_the_budget_block_the_key_only() {
        let limiter = FailureLimiter::new("test", Some(Rate::new(2, Duration::from_secs(60))));
        assert_eq!(limiter.blocked(&1), None);
        assert_eq!(limiter.failed(&1), None);
        assert_eq!(limiter.failed(&1), None);
        let wait = limiter.failed(&1).unwrap();
        assert!(wait >= Duration::from_secs(29));
        assert!(limiter.blocked(&1).is_some());
        assert_eq!(limiter.blocked(&2), None);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }
}

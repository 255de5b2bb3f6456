//! Following the revocation feed, so that cached decisions never outlive a revocation made by
//! another instance (or the CLI) by more than a poll interval.
//!
//! Every [`POLL_EVERY`], each instance reads the feed's position (row count and highest id);
//! when it moved, every cached decision is dropped. While polls fail, the cache falls back to
//! entries younger than [`UNFOLLOWED_MAX_AGE`], so a revocation is honoured within a second
//! even when the feed cannot be read; with the database down altogether, misses answer 503.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const POLL_EVERY: Duration = Duration::from_millis(250);
/// How long after its last successful poll the feed still counts as followed.
pub const FOLLOWED_FOR: Duration = Duration::from_millis(750);
/// The oldest entry served while the feed is not followed.
pub const UNFOLLOWED_MAX_AGE: Duration = Duration::from_millis(250);

pub struct RevocationFeed {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last successful poll; 0 before the first.
    last_read_ms: AtomicU64,
    position: Mutex<Option<(i64, i64)>>,
}

impl Default for RevocationFeed {
    fn default() -> Self {
        RevocationFeed {
            epoch: Instant::now(),
            last_read_ms: AtomicU64::new(0),
            position: Mutex::new(None),
        }
    }
}

impl RevocationFeed {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Whether a recent poll succeeded.
    pub fn is_followed(&self) -> bool {
        let last = self.last_read_ms.load(Ordering::Acquire);
        last != 0 && self.now_ms().saturating_sub(last) < FOLLOWED_FOR.as_millis() as u64
    }

    /// Records a successful read; true when the feed moved since the previous one (or this is
    /// the first), meaning cached decisions may be stale.
    pub fn observe(&self, position: (i64, i64)) -> bool {
        let moved = {
            let mut last = match self.position.lock() {
                Ok(p) => p,
                Err(poisoned) => poisoned.into_inner(),
            };
            let moved = *last != Some(position);
            *last = Some(position);
            moved
        };
        self.last_read_ms.store(self.now_ms(), Ordering::Release);
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn movement_and_freshness() {
        let feed = RevocationFeed::default();
        assert!(!feed.is_followed());
        assert!(feed.observe((0, 0)));
        assert!(feed.is_followed());
        assert!(!feed.observe((0, 0)));
        assert!(feed.observe((1, 5)));
        // A row with a lower id committing late changes the count, not the maximum.
        assert!(feed.observe((2, 5)));
    }
}

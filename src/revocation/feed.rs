//! Following the revocation feed, so that cached decisions never outlive a revocation made by
//! another instance (or the CLI) by more than a poll interval.
//!
//! Every [`POLL_EVERY`], each instance reads the feed's position (row count and highest id);
//! when it moved, every cached decision is dropped. While polls fail, the cache falls back to
//! entries younger than [`UNFOLLOWED_MAX_AGE`], so a revocation is honoured within a second
//! even when the feed cannot be read; with the database down altogether, misses answer 503.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::{Db, revocations};

pub(crate) const POLL_EVERY: Duration = Duration::from_millis(250);
/// How long after its last successful poll the feed still counts as followed.
pub(crate) const FOLLOWED_FOR: Duration = Duration::from_millis(750);
/// The oldest entry served while the feed is not followed.
pub(crate) const UNFOLLOWED_MAX_AGE: Duration = Duration::from_millis(250);

struct RevocationFeed {
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
    fn is_followed(&self) -> bool {
        let last = self.last_read_ms.load(Ordering::Acquire);
        last != 0 && self.now_ms().saturating_sub(last) < FOLLOWED_FOR.as_millis() as u64
    }

    /// Records a successful read; true when the feed moved since the previous one (or this is
    /// the first), meaning cached decisions may be stale.
    fn observe(&self, position: (i64, i64)) -> bool {
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

/// The revocation epoch shared by every in-memory cache of this process: bumped by a
/// revocation made here and whenever the feed moves. A cache entry made under an older epoch
/// is never served.
#[derive(Default)]
pub(crate) struct Epoch {
    generation: AtomicU64,
    feed: RevocationFeed,
}

impl Epoch {
    pub(crate) fn current(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Something that may end a token changed: nothing cached before now may be served.
    pub(crate) fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// How old a cache entry may be: `ttl` while the feed is followed, much less otherwise.
    pub(crate) fn max_age(&self, ttl: Duration) -> Duration {
        if self.feed.is_followed() {
            ttl
        } else {
            ttl.min(UNFOLLOWED_MAX_AGE)
        }
    }

    /// Polls the feed on the current (tokio) runtime.
    pub(crate) fn follow(self: &Arc<Self>, db: Db) {
        let epoch = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(POLL_EVERY);
            loop {
                every.tick().await;
                match db.run(revocations::position).await {
                    Ok(position) => {
                        if epoch.feed.observe(position) {
                            epoch.bump();
                        }
                    }
                    Err(e) => tracing::warn!(cause = %e, "the revocation feed cannot be read"),
                }
            }
        });
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

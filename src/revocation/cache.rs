//! A bounded, sharded cache of recent decisions, keyed by the SHA-256 of the token.
//!
//! It lets the check path answer without the database (and, for JWTs, without a ~50 µs
//! signature check) while staying exact:
//! - a revocation on this instance, or one seen in the revocation feed, bumps the generation,
//!   which retires every entry at once;
//! - an entry lives at most the configured TTL, and much less while the feed is not followed;
//! - a token's own expiry is compared on every hit, so `exp` is honoured to the second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::feed::Epoch;

const SHARDS: usize = 16;

struct Entry<V> {
    value: V,
    stored_at: Instant,
    generation: u64,
}

pub(crate) struct DecisionCache<V> {
    shards: Vec<Mutex<HashMap<[u8; 32], Entry<V>>>>,
    epoch: Arc<Epoch>,
    ttl: Duration,
    per_shard: usize,
}

impl<V: Clone> DecisionCache<V> {
    pub(crate) fn new(ttl: Duration, capacity: usize, epoch: Arc<Epoch>) -> Self {
        DecisionCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            epoch,
            ttl,
            per_shard: (capacity / SHARDS).max(1),
        }
    }

    fn shard(&self, key: &[u8; 32]) -> &Mutex<HashMap<[u8; 32], Entry<V>>> {
        &self.shards[key[0] as usize % SHARDS]
    }

    /// A live entry, with its age and the most it may reach.
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<(V, Duration, Duration)> {
        let max_age = self.epoch.max_age(self.ttl);
        if max_age.is_zero() {
            return None;
        }
        let generation = self.epoch.current();
        let shard = match self.shard(key).lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entry = shard.get(key)?;
        let age = entry.stored_at.elapsed();
        (entry.generation == generation && age < max_age)
            .then(|| (entry.value.clone(), age, max_age))
    }

    /// Stores a decision made under `generation` (read before the decision was made, so that a
    /// revocation racing with the look-up is never hidden).
    pub(crate) fn insert(&self, key: [u8; 32], value: V, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut shard = match self.shard(&key).lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if shard.len() >= self.per_shard {
            let current = self.epoch.current();
            shard.retain(|_, e| e.generation == current && e.stored_at.elapsed() < self.ttl);
            if shard.len() >= self.per_shard {
                // Still full of live entries: drop an arbitrary tenth rather than grow.
                let drop: Vec<[u8; 32]> = shard
                    .keys()
                    .take(self.per_shard / 10 + 1)
                    .copied()
                    .collect();
                for k in drop {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(
            key,
            Entry {
                value,
                stored_at: Instant::now(),
                generation,
            },
        );
    }

    pub(crate) fn generation(&self) -> u64 {
        self.epoch.current()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| match s.lock() {
                Ok(s) => s.len(),
                Err(p) => p.into_inner().len(),
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_invalidate() {
        let epoch = Arc::new(Epoch::followed());
        let c = DecisionCache::new(Duration::from_secs(60), 1000, epoch.clone());
        let g = c.generation();
        c.insert([1; 32], 7, g);
        assert_eq!(c.get(&[1; 32]).map(|(v, ..)| v), Some(7));
        epoch.bump();
        assert_eq!(c.get(&[1; 32]), None);
        // A decision made before an invalidation is not served after it.
        c.insert([2; 32], 8, g);
        assert_eq!(c.get(&[2; 32]), None);
        let c = DecisionCache::new(Duration::ZERO, 1000, epoch);
        c.insert([1; 32], 7, 0);
        assert_eq!(c.get(&[1; 32]), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let c = DecisionCache::new(Duration::from_secs(60), 160, Arc::new(Epoch::followed()));
        for i in 0..10_000u32 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            k[0] = (i % 256) as u8;
            c.insert(k, i, 0);
        }
        assert!(c.len() <= 160, "{}", c.len());
    }
}

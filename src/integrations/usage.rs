//! Usage of integration tokens (last used at, from where, how often), recorded off the
//! request path: the check path only bumps a counter in memory; a background task writes the
//! totals every second. A crash loses at most that second of counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::store::integrations::IntegrationToken;
use crate::store::{Db, DbConn, StoreError, transaction};

pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    count: i64,
    last_at: NaiveDateTime,
    last_ip: Option<IpAddr>,
}

#[derive(Default)]
pub(crate) struct UsageRecorder {
    pending: Mutex<HashMap<i64, Pending>>,
}

impl UsageRecorder {
    /// Counts one use of a token. `ip` is the caller's address when known (the check path);
    /// introspection counts the use without changing the last address.
    pub(crate) fn record(&self, token_id: i64, ip: Option<IpAddr>) {
        let now = crate::clock::now();
        let mut pending = match self.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entry = pending.entry(token_id).or_insert(Pending {
            count: 0,
            last_at: now,
            last_ip: None,
        });
        entry.count += 1;
        entry.last_at = now;
        if ip.is_some() {
            entry.last_ip = ip;
        }
    }

    /// Use seen but not yet written, for the inactivity rule.
    pub(crate) fn recent_use(&self, token_id: i64) -> Option<NaiveDateTime> {
        let pending = match self.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        pending.get(&token_id).map(|p| p.last_at)
    }

    fn take(&self) -> HashMap<i64, Pending> {
        let mut pending = match self.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::take(&mut *pending)
    }

    /// Puts counts back after a failed write, so that they are retried, not lost.
    fn restore(&self, batch: HashMap<i64, Pending>) {
        let mut pending = match self.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (id, p) in batch {
            pending
                .entry(id)
                .and_modify(|newer| {
                    newer.count += p.count;
                    if newer.last_ip.is_none() {
                        newer.last_ip = p.last_ip;
                    }
                })
                .or_insert(p);
        }
    }

    /// Writes everything counted so far, in one transaction. Returns how many tokens it touched.
    pub(crate) fn flush(&self, conn: &mut DbConn) -> Result<usize, StoreError> {
        let batch = self.take();
        if batch.is_empty() {
            return Ok(0);
        }
        // In id order: two instances flushing the same busy tokens then lock their rows in the
        // same order, and cannot deadlock each other.
        let mut ordered: Vec<_> = batch.iter().collect();
        ordered.sort_unstable_by_key(|(id, _)| **id);
        let written = transaction(conn, |conn| -> Result<usize, StoreError> {
            for (id, p) in ordered {
                let ip = p.last_ip.map(|ip| ip.to_string());
                IntegrationToken::add_usage(conn, *id, p.count, p.last_at, ip.as_deref())?;
            }
            Ok(batch.len())
        });
        if written.is_err() {
            self.restore(batch);
        }
        written
    }
}

/// Flushes every second on the current (tokio) runtime.
pub(crate) fn spawn_flusher(db: Db, recorder: std::sync::Arc<UsageRecorder>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(FLUSH_EVERY);
        loop {
            every.tick().await;
            let recorder = recorder.clone();
            if let Err(e) = db.run(move |conn| recorder.flush(conn)).await {
                tracing::warn!(cause = %e, "integration usage could not be written; will retry");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accumulate_and_keep_the_last_address() {
        let r = UsageRecorder::default();
        r.record(1, Some("10.0.0.1".parse().unwrap()));
        r.record(1, None);
        r.record(2, None);
        let batch = r.take();
        assert_eq!(batch[&1].count, 2);
        assert_eq!(batch[&1].last_ip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(batch[&2].last_ip, None);
        assert!(r.take().is_empty());
        r.record(1, None);
        r.restore(batch);
        assert_eq!(r.take()[&1].count, 3);
    }
}

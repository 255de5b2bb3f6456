//! What every handler can reach, built once by [`super::server`].

use std::sync::Arc;

use crate::access::checker::Checker;
use crate::config::Config;
use crate::integrations::usage::UsageRecorder;
use crate::leaks::ScanningKeys;
use crate::limits::{FailureLimiter, RequestLimiter};
use crate::oauth::OAuthContext;
use crate::store::{Db, DbConn, StoreError};
use crate::webhooks::delivery::{Sender, Waker};

pub(crate) struct AppState {
    pub(crate) config: Arc<Config>,
    pub(crate) db: Db,
    pub(crate) oauth: OAuthContext,
    pub(crate) usage: Arc<UsageRecorder>,
    pub(crate) checker: Arc<Checker>,
    /// Signs and sends webhook deliveries (the test event is sent by its request).
    pub(crate) webhooks: Arc<Sender>,
    /// Wakes this instance's delivery workers after a change that published an event.
    pub(crate) webhook_waker: Waker,
    /// GitHub secret-scanning public keys, for leak reports.
    pub(crate) scanning_keys: Arc<ScanningKeys>,
    /// Management API requests per signed-in user (by user id), counted once authorised.
    pub(crate) management_rate: RequestLimiter<crate::access::caller::CallerKey>,
    /// Failed bearer authentications at the management API, per source address.
    pub(crate) management_failures: FailureLimiter<std::net::IpAddr>,
    /// Leak reports whose signature does not verify, per source address.
    pub(crate) secret_scanning_failures: FailureLimiter<std::net::IpAddr>,
}

impl AppState {
    /// Runs a change that may end tokens or publish events (an integration created, rotated,
    /// expired or revoked; a client's secret rotated, a client deleted) on the blocking pool,
    /// then — when it succeeded — drops the check decisions cached before it (they must not be
    /// served after it) and wakes the delivery workers for the events it published. Shared by
    /// the management API and the console.
    pub(crate) async fn run_change<T, E>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let changed = self.db.run(f).await?;
        self.checker.invalidate();
        self.webhook_waker.wake();
        Ok(changed)
    }
}

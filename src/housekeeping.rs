//! Housekeeping inside `tessera serve` (and `tessera purge`): deletes what can no longer
//! matter — expired codes and sessions, dead grants with their refresh tokens, revoked `jti`s
//! past expiry, signing keys retired longer than a token lifetime — so that token tables do
//! not grow without bound; finished webhook events after 30 days. Announces integrations about
//! to expire, or expired, to webhooks (`integrations::announce_expiries`). Also re-reads
//! signing keys, so a `tessera keys rotate` run elsewhere takes effect here.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::admin::AdminError;
use crate::config::Config;
use crate::keys;
use crate::store::sessions::Session;
use crate::store::{Db, DbConn, StoreError, grants};
use crate::tokens::jwt::AccessTokenSigner;

const PURGE_EVERY: Duration = Duration::from_secs(60);
const KEY_RELOAD_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Purged {
    pub sessions: usize,
    pub sign_in_failures: usize,
    pub authorization_codes: usize,
    pub grants: usize,
    pub revoked_access_tokens: usize,
    pub signing_keys: usize,
    pub revocations: usize,
    pub webhook_events: usize,
    /// `integration.expiring` / `integration.expired` events published.
    pub expiry_notices: usize,
}

/// One round of housekeeping: the purge (one transaction), then the expiry notices (one
/// transaction each).
pub(crate) fn purge(conn: &mut DbConn, config: &Config) -> Result<Purged, AdminError> {
    let mut purged = crate::store::transaction(conn, |conn| purge_now(conn, config))?;
    purged.expiry_notices = crate::integrations::announce_expiries(conn)?;
    Ok(purged)
}

fn purge_now(conn: &mut DbConn, config: &Config) -> Result<Purged, StoreError> {
    let now = crate::clock::now();
    let access_ttl = crate::duration::to_chrono(config.access_token_ttl);
    let sessions = Session::purge_expired(conn, now)?;
    // Failed sign-ins a day old are no longer "consecutive" (a lockout still in force stays).
    let sign_in_failures =
        crate::store::sign_in_failures::purge(conn, now - chrono::TimeDelta::days(1), now)?;
    let [authorization_codes, grants, revoked_access_tokens] =
        grants::purge(conn, now, access_ttl)?;
    // Every live instance reads the feed several times a second; ten minutes is plenty. An
    // instance silent for an hour is gone (a stopped one deregisters itself).
    let revocations = crate::store::revocations::purge(
        conn,
        now - chrono::TimeDelta::minutes(10),
        now - chrono::TimeDelta::hours(1),
    )?;
    let signing_keys = keys::purge_retired(conn, config.access_token_ttl)?;
    // A disabled endpoint's deliveries wait for it as long as the retry schedule would have
    // tried (about three days); the delivery log keeps finished events for 30 days.
    crate::store::webhooks::give_up_disabled(conn, now - chrono::TimeDelta::days(3))?;
    let webhook_events = crate::store::webhooks::purge(conn, now - chrono::TimeDelta::days(30))?;
    Ok(Purged {
        webhook_events,
        expiry_notices: 0,
        sessions,
        sign_in_failures,
        authorization_codes,
        grants,
        revoked_access_tokens,
        signing_keys,
        revocations,
    })
}

/// Starts the periodic tasks on the current runtime.
pub(crate) fn spawn(db: Db, config: Arc<Config>, signer: Arc<AccessTokenSigner>) {
    let purge_db = db.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PURGE_EVERY);
        // The first tick is immediate; skip it so that start-up does not begin with a write.
        every.tick().await;
        loop {
            every.tick().await;
            let config = config.clone();
            match purge_db.run(move |conn| purge(conn, &config)).await {
                Ok(p) if p != Purged::default() => tracing::info!(purged = ?p, "housekeeping"),
                Ok(_) => {}
                Err(e) => tracing::warn!(cause = %e, "housekeeping failed"),
            }
        }
    });
    tokio::spawn(async move {
        let mut every = tokio::time::interval(KEY_RELOAD_EVERY);
        every.tick().await;
        loop {
            every.tick().await;
            let signer = signer.clone();
            if let Err(e) = db.run(move |conn| keys::reload(conn, &signer)).await {
                tracing::warn!(cause = %e, "signing keys could not be reloaded");
            }
        }
    });
}

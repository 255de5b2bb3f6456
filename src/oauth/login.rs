//! Signing in and out on the authorization pages.
//!
//! Signing in: a username and password checked with argon2, then a session. A wrong username
//! or password gets the same answer in the same time (a decoy hash is checked when the user
//! does not exist). Steps, each holding a pooled connection only while it needs one:
//!
//! 1. the source address (an IPv6 address counts as its /64): over its budget of attempts
//!    ([`SignInGuard`], in memory, `TESSERA_SIGN_IN_IP_LIMIT`), 429 with nothing looked up;
//! 2. the username's count (`store::sign_in_failures`, shared by every instance), in one
//!    transaction under the username's lock: after `sign_in_free_failures` each attempt must
//!    wait, `sign_in_first_delay` doubling up to `sign_in_max_delay`, and one made before the
//!    wait is over is refused unchecked and counted; `sign_in_lockout_after` consecutive
//!    refusals (at most 100, NIST SP 800-63B §5.2.2) lock it for `sign_in_lockout` or until
//!    `tessera user unlock`, and attempts during the lockout are refused without counting (so
//!    it ends when it says, and a count that led to a lockout starts afresh after it). An
//!    attempt that may proceed is counted *before* its password is checked, so parallel
//!    attempts cannot all pass one gate. Usernames that do not exist are counted alike, so the
//!    answers tell nothing about which accounts exist;
//! 3. the password, with no connection held, at most `password_concurrency` at once and a
//!    bounded number waiting (argon2 takes tens of milliseconds and 19 MiB each);
//! 4. a success clears the count and starts the session, in one transaction (unless a
//!    lockout began meanwhile); a wrong password is audited (`user.sign_in_failed`, and
//!    `user.locked` when a count locks) in every organization the user belongs to.
//!
//! Signing out ([`sign_out`]): the form must carry the session's own anti-forgery token (the
//! one the consent page embeds); then the session's row is deleted, so the cookie, even if a
//! copy survives, no longer signs anyone in.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use tokio::sync::Semaphore;

use crate::config::{Config, Limits};
use crate::limits::{FailureLimiter, address_key};
use crate::store::audit::{self, Actor};
use crate::store::clients::Client;
use crate::store::sessions::Session;
use crate::store::sign_in_failures;
use crate::store::users::User;
use crate::store::{Db, DbConn, StoreError, lock_entity, write};
use crate::tokens::secret::SecretHash;
use crate::{clock, duration, passwords, validate};

use super::session;

/// Passwords longer than this are refused without hashing (argon2 cost grows with length).
const MAX_PASSWORD_LEN: usize = 1024;

/// What a sign-in attempt led to.
pub(crate) enum SignIn {
    /// A new session; `session_id` goes to the browser, only its hash was stored.
    SignedIn { session_id: String },
    /// Wrong username or password; the sign-in page names the application again.
    Refused { client_name: String },
    /// Refused unchecked: too many attempts from this address (`per_address`) or failures for
    /// this username. Come back after `retry_after`; `locked` when the username is locked out.
    Throttled {
        client_name: String,
        retry_after: Duration,
        locked: bool,
        per_address: bool,
    },
    /// Too many password checks are already waiting: try again in a second.
    Busy { client_name: String },
}

/// Password checks that may wait for a turn, per permitted concurrent check; beyond that an
/// attempt is answered [`SignIn::Busy`] at once.
const QUEUE_PER_CHECK: usize = 32;

/// This instance's share of sign-in protection: the per-address attempt budget and the bound
/// on concurrent password checks (and on those waiting for one).
pub(crate) struct SignInGuard {
    per_ip: FailureLimiter<IpAddr>,
    checks: Arc<Semaphore>,
    queue: Arc<Semaphore>,
}

impl SignInGuard {
    pub(crate) fn new(limits: &Limits) -> SignInGuard {
        let checks = limits.password_concurrency.max(1);
        SignInGuard {
            per_ip: FailureLimiter::new("sign_in_address", limits.sign_in_per_ip),
            checks: Arc::new(Semaphore::new(checks)),
            queue: Arc::new(Semaphore::new(checks * QUEUE_PER_CHECK)),
        }
    }
}

/// One sign-in attempt, as the form gave it.
pub(crate) struct Attempt {
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) authorization_query: String,
    pub(crate) source: Option<IpAddr>,
}

/// What the username's counts allow before the password is checked.
enum Gate {
    /// Check the password; the attempt is already counted as a failure.
    Check,
    /// Refused unchecked: wait `.0`; `.1` when locked out.
    Wait(TimeDelta, bool),
}

/// Checks the attempt's username and password and starts a session (the steps are in the
/// module's doc). `authorization_query` names the client for the page.
pub(crate) async fn sign_in(
    db: &Db,
    config: &Config,
    guard: &SignInGuard,
    attempt: Attempt,
) -> Result<SignIn, StoreError> {
    let Attempt {
        username,
        password,
        authorization_query,
        source,
    } = attempt;
    let source = source.map(address_key);
    let name = validate::username(&username)
        .ok()
        .filter(|_| password.len() <= MAX_PASSWORD_LEN);
    // The address first: over its budget, nothing is looked up.
    if let Some(wait) = source.and_then(|ip| guard.per_ip.blocked(&ip)) {
        let client_name = db
            .run(move |conn| Ok::<_, StoreError>(client_name_for(conn, &authorization_query)))
            .await?;
        return Ok(over_address(client_name, wait));
    }
    let charged = source.and_then(|ip| guard.per_ip.failed(&ip));
    let limits = config.limits.clone();
    let gate_name = name.clone();
    let (user, gate, client_name) = db
        .run(move |conn| {
            let client_name = client_name_for(conn, &authorization_query);
            let Some(name) = gate_name else {
                return Ok((None, Gate::Check, client_name));
            };
            let user = match User::find_by_username(conn, &name) {
                Ok(u) => Some(u),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            };
            let gate = pass_gate(conn, &limits, &name, user.as_ref(), source)?;
            Ok((user, gate, client_name))
        })
        .await?;
    let known = user
        .as_ref()
        .map_or("(unknown user)", |u| u.username.as_str());
    if let Gate::Wait(wait, locked) = gate {
        tracing::info!(
            user = known,
            locked,
            "sign-in refused unchecked: waiting after failures"
        );
        crate::telemetry::metrics::rate_limited(if locked {
            "sign_in_locked"
        } else {
            "sign_in_account"
        });
        return Ok(SignIn::Throttled {
            client_name,
            retry_after: to_std(wait),
            locked,
            per_address: false,
        });
    }
    if let Some(wait) = charged {
        tracing::info!(
            user = known,
            "sign-in refused: too many attempts from this address"
        );
        return Ok(over_address(client_name, wait));
    }
    let Some(verified) = check_password(guard, user.as_ref(), password).await else {
        return Ok(SignIn::Busy { client_name });
    };
    let (Some(name), Some(user), true) = (name, user.clone(), verified) else {
        crate::telemetry::metrics::sign_in_failed();
        if let Some(user) = user {
            // Audited after the check; the attempt was counted before it.
            let (user_id, username) = (user.id, user.username);
            let ip = source.map(|ip| ip.to_string());
            db.run(move |conn| {
                write(conn, move |conn| {
                    let failures =
                        sign_in_failures::find(conn, &username)?.map_or(0, |f| f.failures);
                    let detail = format!("wrong password; {failures} consecutive failures");
                    audit_user(conn, user_id, &username, ip, "user.sign_in_failed", &detail)
                })
            })
            .await?;
        }
        return Ok(SignIn::Refused { client_name });
    };
    let (session_id, hash) = session::new_session_id();
    let expires_at = clock::now() + duration::to_chrono(config.session_ttl);
    let user_id = user.id;
    let started = db
        .run(move |conn| {
            write(conn, move |conn| {
                lock_entity(conn, "sign_in", &name)?;
                // A lockout that began while the password was being checked wins.
                let now = clock::now();
                let locked = sign_in_failures::find(conn, &name)?
                    .and_then(|f| f.locked_until)
                    .filter(|until| *until > now);
                if let Some(until) = locked {
                    return Ok(Err(until - now));
                }
                sign_in_failures::clear(conn, &name)?;
                Session::create(
                    conn,
                    &hash.0,
                    user_id,
                    &session::new_csrf_token(),
                    expires_at,
                )?;
                Ok::<_, StoreError>(Ok(()))
            })
        })
        .await?;
    if let Err(wait) = started {
        return Ok(SignIn::Throttled {
            client_name,
            retry_after: to_std(wait),
            locked: true,
            per_address: false,
        });
    }
    tracing::info!(user = %user.username, "signed in");
    Ok(SignIn::SignedIn { session_id })
}

fn over_address(client_name: String, retry_after: Duration) -> SignIn {
    SignIn::Throttled {
        client_name,
        retry_after,
        locked: false,
        per_address: true,
    }
}

/// What typing the password again (before a secret is shown, or to change it) led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confirm {
    /// The password is right: the session's `authenticated_at` is now.
    Confirmed,
    /// Wrong password (counted against the account as a failed sign-in).
    Refused,
    /// Refused unchecked, as a sign-in would be: come back after `retry_after`; `locked` when
    /// the account is locked out.
    Throttled { retry_after: Duration, locked: bool },
    /// Too many password checks are already waiting: try again in a second.
    Busy,
}

/// Someone signed in who types their password again: the session (its hash) and its user.
pub(crate) struct Confirmation {
    pub(crate) session_hash: SecretHash,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) source: Option<IpAddr>,
}

/// Re-authentication: the signed-in user types their password again before the console shows
/// a new secret. It passes the same gate as [`sign_in`] — the address's budget, the
/// username's wait and lockout, the attempt counted before argon2 runs on the bounded path —
/// so a stolen session cannot guess the password faster than the sign-in form could. On
/// success the count is cleared and the session's `authenticated_at` set
/// (`Session::reauthenticated`), in one transaction, unless a lockout began meanwhile.
pub(crate) async fn reauthenticate(
    db: &Db,
    config: &Config,
    guard: &SignInGuard,
    confirmation: Confirmation,
) -> Result<Confirm, StoreError> {
    let digest = confirmation.session_hash.0;
    confirm(db, config, guard, confirmation, move |conn, _user| {
        Session::reauthenticated(conn, &digest)
    })
    .await
}

/// What a password change led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PasswordChange {
    /// Changed; every other session of the user has ended.
    Changed,
    /// The new password is not acceptable (`validate::password`); nothing was checked.
    Invalid(String),
    /// The current password was not confirmed.
    NotConfirmed(Confirm),
}

/// Changes the signed-in user's password: the current one is confirmed as in
/// [`reauthenticate`] (and counted alike), the new one hashed with argon2 on the same bounded
/// path (never on an async worker); then, in one transaction, the hash is replaced, every
/// other session of the user ends (`Session::delete_others`), this one counts as just
/// authenticated, and `user.password_changed` is audited in each of the user's organizations.
/// Neither password is ever logged.
pub(crate) async fn change_password(
    db: &Db,
    config: &Config,
    guard: &SignInGuard,
    confirmation: Confirmation,
    new_password: String,
) -> Result<PasswordChange, StoreError> {
    if let Err(invalid) = validate::password(&new_password) {
        return Ok(PasswordChange::Invalid(invalid.message));
    }
    // Hashed first, so that the change itself is one short transaction after the check.
    let Some(hashed) = hash_password(guard, new_password).await else {
        return Ok(PasswordChange::NotConfirmed(Confirm::Busy));
    };
    let hashed = hashed.map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let digest = confirmation.session_hash.0;
    let ip = confirmation.source.map(|ip| address_key(ip).to_string());
    let outcome = confirm(db, config, guard, confirmation, move |conn, user| {
        User::set_password_hash(conn, user.id, &hashed)?;
        let ended = Session::delete_others(conn, user.id, &digest)?;
        Session::reauthenticated(conn, &digest)?;
        let detail = format!("{ended} other sessions ended");
        audit_user(
            conn,
            user.id,
            &user.username,
            ip,
            "user.password_changed",
            &detail,
        )
    })
    .await?;
    Ok(match outcome {
        Confirm::Confirmed => PasswordChange::Changed,
        other => PasswordChange::NotConfirmed(other),
    })
}

/// The password check of [`reauthenticate`] and [`change_password`]: the sign-in gate, then
/// argon2, then — on success, under the username's lock and unless a lockout began meanwhile —
/// the count cleared and `then` run, in one transaction.
async fn confirm(
    db: &Db,
    config: &Config,
    guard: &SignInGuard,
    confirmation: Confirmation,
    then: impl FnOnce(&mut DbConn, &User) -> Result<(), StoreError> + Send + 'static,
) -> Result<Confirm, StoreError> {
    let Confirmation {
        username,
        password,
        source,
        ..
    } = confirmation;
    let source = source.map(address_key);
    if let Some(wait) = source.and_then(|ip| guard.per_ip.blocked(&ip)) {
        return Ok(Confirm::Throttled {
            retry_after: wait,
            locked: false,
        });
    }
    let charged = source.and_then(|ip| guard.per_ip.failed(&ip));
    if password.len() > MAX_PASSWORD_LEN {
        return Ok(Confirm::Refused);
    }
    let limits = config.limits.clone();
    let (user, gate) = db
        .run(move |conn| {
            let user = User::find_by_username(conn, &username)?;
            let gate = pass_gate(conn, &limits, &user.username, Some(&user), source)?;
            Ok::<_, StoreError>((user, gate))
        })
        .await?;
    if let Gate::Wait(wait, locked) = gate {
        return Ok(Confirm::Throttled {
            retry_after: to_std(wait),
            locked,
        });
    }
    if let Some(wait) = charged {
        return Ok(Confirm::Throttled {
            retry_after: wait,
            locked: false,
        });
    }
    let Some(verified) = check_password(guard, Some(&user), password).await else {
        return Ok(Confirm::Busy);
    };
    let (user_id, name) = (user.id, user.username.clone());
    if !verified {
        crate::telemetry::metrics::sign_in_failed();
        let ip = source.map(|ip| ip.to_string());
        db.run(move |conn| {
            write(conn, move |conn| {
                let failures = sign_in_failures::find(conn, &name)?.map_or(0, |f| f.failures);
                let detail =
                    format!("wrong password when asked again; {failures} consecutive failures");
                audit_user(conn, user_id, &name, ip, "user.sign_in_failed", &detail)
            })
        })
        .await?;
        tracing::info!(user = %user.username, "password confirmation refused");
        return Ok(Confirm::Refused);
    }
    let confirmed = db
        .run(move |conn| {
            write(conn, move |conn| {
                lock_entity(conn, "sign_in", &name)?;
                let now = clock::now();
                let locked = sign_in_failures::find(conn, &name)?
                    .and_then(|f| f.locked_until)
                    .filter(|until| *until > now);
                if let Some(until) = locked {
                    return Ok(Err(until - now));
                }
                sign_in_failures::clear(conn, &name)?;
                then(conn, &user)?;
                Ok::<_, StoreError>(Ok(()))
            })
        })
        .await?;
    Ok(match confirmed {
        Ok(()) => Confirm::Confirmed,
        Err(wait) => Confirm::Throttled {
            retry_after: to_std(wait),
            locked: true,
        },
    })
}

/// argon2 hashing of a new password on the blocking pool, behind the same permits as
/// [`check_password`] (`None`: too many are waiting).
async fn hash_password(
    guard: &SignInGuard,
    password: String,
) -> Option<Result<String, passwords::HashError>> {
    let _queued = guard.queue.clone().try_acquire_owned().ok()?;
    let permit = guard.checks.clone().acquire_owned().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        passwords::hash(&password)
    })
    .await
    .ok()
}

/// One transaction under the username's lock: what its counts allow, and the attempt counted.
/// A lockout in force refuses without counting (so it ends when it says); a lockout that has
/// ended starts the count afresh; a wait in force refuses and counts (guessing on while told to
/// wait leads to the lockout); otherwise the attempt is counted as a failure *before* the
/// password is checked — so parallel attempts cannot all pass the same gate — and a success
/// clears it.
fn pass_gate(
    conn: &mut DbConn,
    limits: &Limits,
    name: &str,
    user: Option<&User>,
    source: Option<IpAddr>,
) -> Result<Gate, StoreError> {
    let name = name.to_string();
    let limits = limits.clone();
    let user = user.map(|u| (u.id, u.username.clone()));
    write(conn, move |conn| {
        lock_entity(conn, "sign_in", &name)?;
        let now = clock::now();
        let before = sign_in_failures::find(conn, &name)?;
        if let Some(before) = &before {
            if let Some(until) = before.locked_until.filter(|u| *u > now) {
                return Ok(Gate::Wait(until - now, true));
            }
            if before.locked_until.is_some() {
                sign_in_failures::clear(conn, &name)?;
            }
        }
        let waiting = before
            .filter(|b| b.locked_until.is_none())
            .and_then(|b| b.blocked_until)
            .filter(|u| *u > now);
        let counted = sign_in_failures::count(conn, &name, now)?;
        let (blocked_until, locked_until) = restriction(&limits, counted.failures, now);
        sign_in_failures::restrict(conn, &name, blocked_until, locked_until)?;
        if let Some(until) = locked_until {
            crate::telemetry::metrics::account_locked();
            tracing::warn!(
                failures = counted.failures,
                "an account was locked after failed sign-ins"
            );
            if let Some((user_id, username)) = &user {
                let detail = format!(
                    "locked after {} consecutive failed sign-ins, until {}",
                    counted.failures,
                    until
                        .and_utc()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
                let ip = source.map(|ip| ip.to_string());
                audit_user(conn, *user_id, username, ip, "user.locked", &detail)?;
            }
            return Ok(Gate::Wait(until - now, true));
        }
        Ok(match waiting {
            Some(until) => Gate::Wait(blocked_until.unwrap_or(until) - now, false),
            None => Gate::Check,
        })
    })
}

/// Records `action` about the user in each organization they belong to.
fn audit_user(
    conn: &mut DbConn,
    user_id: i64,
    username: &str,
    ip: Option<String>,
    action: &str,
    detail: &str,
) -> Result<(), StoreError> {
    let actor = Actor {
        label: "sign-in".into(),
        user_id: None,
        ip,
    };
    for org in User::memberships(conn, user_id)? {
        audit::record(
            conn,
            Some(org.org_id),
            &actor,
            action,
            Some(username),
            Some(detail),
        )?;
    }
    Ok(())
}

/// argon2 on the blocking pool, with no connection held, at most `password_concurrency` at
/// once — the permit goes with the computation, so a client that disconnects cannot free it
/// early — and at most [`QUEUE_PER_CHECK`] times that many waiting (`None`: the queue is
/// full). A username that does not exist is checked against a decoy hash, in the same time.
async fn check_password(
    guard: &SignInGuard,
    user: Option<&User>,
    password: String,
) -> Option<bool> {
    let _queued = guard.queue.clone().try_acquire_owned().ok()?;
    // The semaphore is never closed, so acquiring only waits.
    let permit = guard.checks.clone().acquire_owned().await.ok()?;
    let stored = user.map(|u| u.password_hash.clone());
    let verified = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        match stored {
            Some(hash) => passwords::verify(&password, &hash),
            None => {
                passwords::verify(&password, passwords::decoy_hash());
                false
            }
        }
    })
    .await
    .unwrap_or(false);
    Some(verified)
}

/// The wait after the `failures`-th consecutive refusal, and the lockout's end when it reaches
/// the limit: nothing for the first `sign_in_free_failures`, then `sign_in_first_delay`
/// doubling with each refusal up to `sign_in_max_delay`.
fn restriction(
    limits: &Limits,
    failures: i32,
    now: NaiveDateTime,
) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
    let failures = u32::try_from(failures).unwrap_or(0);
    if failures >= limits.sign_in_lockout_after {
        return (
            None,
            Some(now + duration::to_chrono(limits.sign_in_lockout)),
        );
    }
    if failures < limits.sign_in_free_failures {
        return (None, None);
    }
    let doublings = (failures - limits.sign_in_free_failures).min(30);
    let wait = limits
        .sign_in_first_delay
        .saturating_mul(1u32 << doublings)
        .min(limits.sign_in_max_delay);
    (Some(now + duration::to_chrono(wait)), None)
}

fn to_std(delta: TimeDelta) -> Duration {
    delta
        .to_std()
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_secs(1))
}

/// What a sign-out form led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignOut {
    /// The session ended: its row is gone.
    SignedOut,
    /// No live session behind the cookie (none sent, expired, or already ended): nothing to end.
    NoSession,
    /// The form's anti-forgery token is not the session's: the session goes on.
    Forged,
}

/// Ends the session behind the cookie whose hash is `session_hash`, if `csrf_token` is the
/// session's own anti-forgery token (a cross-site form cannot know it). Logs who signed out,
/// never a token.
pub(crate) fn sign_out(
    conn: &mut DbConn,
    session_hash: Option<SecretHash>,
    csrf_token: Option<&str>,
) -> Result<SignOut, StoreError> {
    let Some(hash) = session_hash else {
        return Ok(SignOut::NoSession);
    };
    let Some(live) = Session::find_live(conn, &hash.0)? else {
        return Ok(SignOut::NoSession);
    };
    if !session::csrf_matches(&live.csrf_token, csrf_token) {
        tracing::info!(user = %live.username, "sign-out refused: not the session's anti-forgery token");
        return Ok(SignOut::Forged);
    }
    let digest = hash.0;
    write(conn, move |conn| Session::delete(conn, &digest))?;
    tracing::info!(user = %live.username, "signed out");
    Ok(SignOut::SignedOut)
}

/// The application's name for the sign-in page, from the `client_id` in the query.
fn client_name_for(conn: &mut DbConn, authorization_query: &str) -> String {
    let client_id = url::form_urlencoded::parse(authorization_query.as_bytes())
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned());
    client_id
        .and_then(|id| Client::find(conn, &id).ok())
        .map(|c| c.name)
        .unwrap_or_else(|| "the application".into())
}

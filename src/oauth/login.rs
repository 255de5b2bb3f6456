//! Signing in and out on the authorization pages.
//!
//! Signing in: a username and password checked with argon2, then a session. A wrong username
//! or password gets the same answer in the same time (a decoy hash is checked when the user
//! does not exist). Steps, each holding a pooled connection only while it needs one:
//!
//! 1. the source address's failure budget ([`SignInGuard`], in memory) — over it, 429 unchecked;
//! 2. the username's refused attempts (`store::sign_in_failures`, shared by every instance):
//!    after `sign_in_free_failures` each attempt must wait, 1 s doubling up to
//!    `sign_in_max_delay`; `sign_in_lockout_after` consecutive refusals (at most 100, NIST SP
//!    800-63B §5.2.2) lock it for `sign_in_lockout` or until `tessera user unlock`. An attempt
//!    made while waiting or locked is refused unchecked *and counted*. Usernames that do not
//!    exist are counted alike, so the answers tell nothing about which accounts exist;
//! 3. the password, with no connection held, at most `password_concurrency` at once (argon2
//!    takes tens of milliseconds and 19 MiB each);
//! 4. one transaction: a success clears the count and starts the session (unless a lockout
//!    began meanwhile); a failure is counted, with its audit event (`user.sign_in_failed`,
//!    `user.locked`) in every organization the user belongs to.
//!
//! Signing out ([`sign_out`]): the form must carry the session's own anti-forgery token (the
//! one the consent page embeds); then the session's row is deleted, so the cookie, even if a
//! copy survives, no longer signs anyone in.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use tokio::sync::Semaphore;

use crate::config::{Config, Limits};
use crate::limits::FailureLimiter;
use crate::store::audit::{self, Actor};
use crate::store::clients::Client;
use crate::store::sessions::Session;
use crate::store::sign_in_failures::{self, Failures};
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
    /// Refused unchecked: too many failures from this address (`per_address`) or for this
    /// username. Come back after `retry_after`; `locked` when the username is locked out.
    Throttled {
        client_name: String,
        retry_after: Duration,
        locked: bool,
        per_address: bool,
    },
}

/// This instance's share of sign-in protection: the per-address failure budget and the bound
/// on concurrent password checks.
pub(crate) struct SignInGuard {
    per_ip: FailureLimiter<IpAddr>,
    checks: Semaphore,
}

impl SignInGuard {
    pub(crate) fn new(limits: &Limits) -> SignInGuard {
        SignInGuard {
            per_ip: FailureLimiter::new(limits.sign_in_per_ip),
            checks: Semaphore::new(limits.password_concurrency.max(1)),
        }
    }
}

/// Checks `username` and `password` and starts a session. `authorization_query` is the query
/// of the authorization request the user returns to (it names the client); `source` is the
/// caller's address.
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
    let name = validate::username(&username)
        .ok()
        .filter(|_| password.len() <= MAX_PASSWORD_LEN);
    let looked_up = name.clone();
    let (user, failures, client_name) = db
        .run(move |conn| {
            let (user, failures) = match &looked_up {
                Some(name) => (
                    match User::find_by_username(conn, name) {
                        Ok(u) => Some(u),
                        Err(StoreError::NotFound) => None,
                        Err(e) => return Err(e),
                    },
                    sign_in_failures::find(conn, name)?,
                ),
                None => (None, None),
            };
            Ok((user, failures, client_name_for(conn, &authorization_query)))
        })
        .await?;
    let limits = config.limits.clone();
    let throttled = |retry_after: Duration, locked: bool| SignIn::Throttled {
        client_name: client_name.clone(),
        retry_after,
        locked,
        per_address: false,
    };
    let over_address = |retry_after: Duration| SignIn::Throttled {
        client_name: client_name.clone(),
        retry_after,
        locked: false,
        per_address: true,
    };
    if let Some(wait) = source.and_then(|ip| guard.per_ip.blocked(&ip)) {
        tracing::info!(
            user = name.as_deref().unwrap_or("(invalid)"),
            "sign-in refused: too many failures from this address"
        );
        return Ok(over_address(wait));
    }
    let now = clock::now();
    if let (Some(name), Some(refusal)) = (&name, failures.and_then(|f| f.refuses_at(now))) {
        // Refused unchecked, and counted: guessing on while told to wait leads to the lockout.
        let counted =
            record_failure(db, &limits, name.clone(), user.clone(), source, false).await?;
        if let Some(ip) = source {
            guard.per_ip.failed(&ip);
        }
        let (wait, locked) = counted.refuses_at(clock::now()).unwrap_or(refusal);
        tracing::info!(user = %name, locked, "sign-in refused unchecked: waiting after failures");
        return Ok(throttled(to_std(wait), locked));
    }
    let verified = check_password(guard, user.as_ref(), password).await;
    let Some(name) = name else {
        return Ok(match source.and_then(|ip| guard.per_ip.failed(&ip)) {
            Some(wait) => over_address(wait),
            None => SignIn::Refused { client_name },
        });
    };
    if !verified {
        let counted = record_failure(db, &limits, name.clone(), user, source, true).await?;
        let over_ip = source.and_then(|ip| guard.per_ip.failed(&ip));
        // A wrong password is answered as such, unless this failure locked the account or
        // used up the address's budget; the account's wait meets the next attempt.
        return Ok(match (counted.refuses_at(clock::now()), over_ip) {
            (Some((wait, true)), _) => throttled(to_std(wait), true),
            (_, Some(wait)) => over_address(wait),
            _ => SignIn::Refused { client_name },
        });
    }
    let Some(user) = user else {
        return Ok(SignIn::Refused { client_name });
    };
    let (session_id, hash) = session::new_session_id();
    let expires_at = clock::now() + duration::to_chrono(config.session_ttl);
    let user_id = user.id;
    let signed_in_name = name.clone();
    let started = db
        .run(move |conn| {
            write(conn, move |conn| {
                lock_entity(conn, "sign_in", &signed_in_name)?;
                // A lockout that began while the password was being checked wins.
                let locked = sign_in_failures::find(conn, &signed_in_name)?
                    .and_then(|f| f.locked_until)
                    .filter(|until| *until > clock::now());
                if let Some(until) = locked {
                    return Ok(Err(until));
                }
                sign_in_failures::clear(conn, &signed_in_name)?;
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
    if let Err(until) = started {
        return Ok(throttled(to_std(until - clock::now()), true));
    }
    tracing::info!(user = %user.username, "signed in");
    Ok(SignIn::SignedIn { session_id })
}

/// One sign-in attempt, as the form gave it.
pub(crate) struct Attempt {
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) authorization_query: String,
    pub(crate) source: Option<IpAddr>,
}

/// argon2 on the blocking pool, with no connection held, at most `password_concurrency` at
/// once; a username that does not exist is checked against a decoy hash, in the same time.
async fn check_password(guard: &SignInGuard, user: Option<&User>, password: String) -> bool {
    let stored = user.map(|u| u.password_hash.clone());
    // The semaphore is never closed, so acquiring only waits.
    let Ok(_permit) = guard.checks.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || match stored {
        Some(hash) => passwords::verify(&password, &hash),
        None => {
            passwords::verify(&password, passwords::decoy_hash());
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Counts a refused attempt for `name` in one transaction: the count, the wait or lockout it
/// leads to, and — for a user that exists — the audit events: `user.sign_in_failed` when the
/// password was checked (`checked`), `user.locked` when this attempt locked the account.
async fn record_failure(
    db: &Db,
    limits: &Limits,
    name: String,
    user: Option<User>,
    source: Option<IpAddr>,
    checked: bool,
) -> Result<Failures, StoreError> {
    let limits = limits.clone();
    let counted = db
        .run(move |conn| {
            write(conn, move |conn| {
                lock_entity(conn, "sign_in", &name)?;
                let now = clock::now();
                let before_locked = sign_in_failures::find(conn, &name)?
                    .and_then(|f| f.locked_until)
                    .is_some_and(|until| until > now);
                let mut counted = sign_in_failures::count(conn, &name, now)?;
                let (blocked_until, locks) = restriction(&limits, counted.failures, now);
                let locked_until = locks.filter(|_| !before_locked);
                sign_in_failures::restrict(conn, &name, blocked_until, locked_until)?;
                counted.blocked_until = blocked_until;
                if locked_until.is_some() {
                    counted.locked_until = locked_until;
                }
                if let Some(user) = &user {
                    let actor = Actor {
                        label: "sign-in".into(),
                        user_id: None,
                        ip: source.map(|ip| ip.to_string()),
                    };
                    let target = user.username.clone();
                    let orgs = User::memberships(conn, user.id)?;
                    for org in &orgs {
                        if checked {
                            let detail =
                                format!("wrong password; {} consecutive failures", counted.failures);
                            audit::record(conn, Some(org.org_id), &actor, "user.sign_in_failed", Some(&target), Some(&detail))?;
                        }
                        if let Some(until) = locked_until {
                            let detail = format!(
                                "locked after {} consecutive failed sign-ins, until {}",
                                counted.failures,
                                until.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                            );
                            audit::record(conn, Some(org.org_id), &actor, "user.locked", Some(&target), Some(&detail))?;
                        }
                    }
                }
                if locked_until.is_some() {
                    tracing::warn!(user = %name, failures = counted.failures, "account locked after failed sign-ins");
                }
                Ok::<_, StoreError>(counted)
            })
        })
        .await?;
    Ok(counted)
}

/// The wait after the `failures`-th consecutive refusal, and the lockout's end when it reaches
/// the limit: nothing for the first `sign_in_free_failures`, then 1 s doubling with each
/// refusal up to `sign_in_max_delay`.
fn restriction(
    limits: &Limits,
    failures: i32,
    now: NaiveDateTime,
) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
    let failures = u32::try_from(failures).unwrap_or(0);
    let locked = (failures >= limits.sign_in_lockout_after)
        .then(|| now + duration::to_chrono(limits.sign_in_lockout));
    if failures < limits.sign_in_free_failures {
        return (None, locked);
    }
    let doublings = (failures - limits.sign_in_free_failures).min(30);
    let wait = Duration::from_secs(1u64 << doublings).min(limits.sign_in_max_delay);
    (Some(now + duration::to_chrono(wait)), locked)
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

//! Sending webhook deliveries: the [`Sender`] (one signed POST, its outcome recorded) and the
//! [`Dispatcher`] (worker threads of `tessera serve` that claim due deliveries from the
//! outbox and send them).
//!
//! An attempt succeeds on any 2xx. Anything else — another status, a redirect (never
//! followed), a timeout, a refused address — is retried after the next delay of the schedule
//! (Standard Webhooks' example by default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h,
//! 24 h — ten attempts over about three days), with ±10 % jitter, or later when a 429 or 503
//! asks for it with `Retry-After`. `410 Gone` disables the endpoint at once; an endpoint whose
//! every delivery has failed for `disable_after` (5 days by default) is disabled too, with an
//! audit event. Every attempt carries the event's id as `webhook-id`, unchanged, so receivers
//! de-duplicate.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use rand::Rng;
use serde::Serialize;

use super::egress::{EgressPolicy, PolicyResolver, Refused};
use super::signing;
use crate::clock;
use crate::store::audit::{self, Actor};
use crate::store::webhooks::{self as outbox, AttemptRecord, Claimed, DeliveryState, Endpoint};
use crate::store::{Db, DbConn, StoreError, transaction};
use crate::telemetry::metrics::{self, WebhookOutcome};

/// How deliveries are made; from `TESSERA_WEBHOOK_*` settings.
#[derive(Clone, Debug)]
pub(crate) struct DeliverySettings {
    /// The whole request, connection included.
    pub(crate) timeout: Duration,
    /// The pause before each retry: after attempt `n` fails, `retries[n - 1]`; when there is
    /// none left, the delivery has failed for good.
    pub(crate) retries: Vec<Duration>,
    /// An endpoint failing every delivery this long is disabled.
    pub(crate) disable_after: Duration,
    /// Deliveries sent at once by one instance.
    pub(crate) workers: usize,
    /// How often an idle instance looks for due deliveries.
    pub(crate) poll: Duration,
}

impl DeliverySettings {
    /// How long a claim holds: a worker that has not recorded its attempt by then is taken
    /// for dead, and the delivery is sent again.
    fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(5)
    }
}

/// The bytes of a receiver's answer kept in the delivery log.
const EXCERPT_BYTES: u64 = 1024;

/// One attempt, as the delivery log shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct AttemptView {
    #[serde(with = "clock::as_rfc3339")]
    pub(crate) attempted_at: NaiveDateTime,
    pub(crate) status_code: Option<i32>,
    pub(crate) latency_ms: i32,
    pub(crate) response_excerpt: Option<String>,
    pub(crate) error: Option<String>,
    #[serde(with = "clock::as_rfc3339_opt")]
    pub(crate) next_attempt_at: Option<NaiveDateTime>,
    /// The delivery's state after this attempt: `pending` (to be retried), `delivered` or
    /// `failed`.
    #[schema(value_type = String)]
    pub(crate) state: &'static str,
}

/// Signs and sends deliveries through an HTTP client that resolves names only to permitted
/// addresses, follows no redirect and ignores proxy settings.
pub(crate) struct Sender {
    client: reqwest::blocking::Client,
    policy: Arc<EgressPolicy>,
    settings: DeliverySettings,
    /// Test deliveries being sent for a waiting request right now (see [`Sender::test_slot`]).
    tests_running: Arc<AtomicUsize>,
}

/// Test deliveries one instance sends at once for waiting requests: each holds a thread for up
/// to the delivery timeout, so a flood of them must not take every thread there is.
const TESTS_AT_ONCE: usize = 4;

/// A place among the test deliveries running now; given back when dropped.
pub(crate) struct TestSlot(Arc<AtomicUsize>);

impl Drop for TestSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Sender {
    pub(crate) fn new(policy: EgressPolicy, settings: DeliverySettings) -> Result<Sender, String> {
        let policy = Arc::new(policy);
        let client = reqwest::blocking::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver(policy.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("Tessera-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        Ok(Sender {
            client,
            policy,
            settings,
            tests_running: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub(crate) fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// A place for one more test delivery sent while a request waits, or `None` when
    /// [`TESTS_AT_ONCE`] are running.
    pub(crate) fn test_slot(&self) -> Option<TestSlot> {
        self.tests_running
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < TESTS_AT_ONCE).then_some(n + 1)
            })
            .ok()
            .map(|_| TestSlot(self.tests_running.clone()))
    }

    /// Now, and when a claim made now lapses.
    pub(crate) fn lease_from_now(&self) -> (NaiveDateTime, NaiveDateTime) {
        let now = clock::now();
        (now, now + crate::duration::to_chrono(self.settings.lease()))
    }

    fn claim(&self, conn: &mut DbConn, limit: i64) -> Result<Vec<Claimed>, StoreError> {
        let (now, lease_until) = self.lease_from_now();
        outbox::claim(conn, now, lease_until, limit)
    }

    /// Sends one claimed delivery and records the attempt.
    pub(crate) fn send(&self, db: &Db, c: &Claimed) -> Result<AttemptView, StoreError> {
        let secrets: Vec<String> = db
            .run_sync(|conn| outbox::signing_secrets(conn, &c.endpoint_id, clock::now()))?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let attempted_at = clock::now();
        let started = Instant::now();
        let outcome = self.post(c, &secrets, attempted_at.and_utc().timestamp());
        let elapsed = started.elapsed();
        let latency_ms = i32::try_from(elapsed.as_millis()).unwrap_or(i32::MAX);
        let verdict = self.judge(&outcome, c.attempt, clock::now());
        metrics::webhook_attempt(
            match verdict.state {
                DeliveryState::Delivered => WebhookOutcome::Delivered,
                DeliveryState::Pending => WebhookOutcome::Retry,
                DeliveryState::Failed => WebhookOutcome::Failed,
            },
            elapsed,
        );
        if verdict.state == DeliveryState::Delivered {
            tracing::debug!(endpoint = %c.endpoint_id, event = %c.event_id, attempt = c.attempt, latency_ms, "webhook delivered");
        } else {
            tracing::info!(
                endpoint = %c.endpoint_id,
                event = %c.event_id,
                attempt = c.attempt,
                status = ?outcome.status,
                error = outcome.error.as_deref().unwrap_or(""),
                next = ?verdict.next_attempt_at,
                "webhook attempt failed"
            );
        }
        let view = AttemptView {
            attempted_at,
            status_code: outcome.status,
            latency_ms,
            response_excerpt: outcome.excerpt.clone(),
            error: outcome.error.clone(),
            next_attempt_at: verdict.next_attempt_at,
            state: verdict.state.as_str(),
        };
        let record = AttemptRecord {
            attempted_at,
            status_code: outcome.status,
            latency_ms,
            response_excerpt: outcome.excerpt.as_deref(),
            error: outcome.error.as_deref(),
            next_attempt_at: verdict.next_attempt_at,
            state: verdict.state,
        };
        let disable_after = crate::duration::to_chrono(self.settings.disable_after);
        db.run_sync(|conn| {
            transaction(conn, |conn| {
                if !outbox::record_attempt(conn, c, &record)? {
                    // Deleted meanwhile, or the claim lapsed and another attempt owns the
                    // delivery now: its outcome, not this one, speaks for the endpoint.
                    return Ok(());
                }
                if verdict.state == DeliveryState::Delivered {
                    return Endpoint::succeeded(conn, &c.endpoint_id);
                }
                let reason = if outcome.status == Some(410) {
                    Some("the receiver answered 410 Gone".to_string())
                } else {
                    let since = Endpoint::failing(conn, &c.endpoint_id, attempted_at)?;
                    (attempted_at - since >= disable_after)
                        .then(|| format!("every delivery failed since {}", clock::rfc3339(since)))
                };
                if let Some(reason) = reason {
                    disable(conn, &c.endpoint_id, &reason)?;
                }
                Ok::<(), StoreError>(())
            })
        })?;
        Ok(view)
    }

    fn post(&self, c: &Claimed, secrets: &[String], timestamp: i64) -> Outcome {
        let refused = |e: Refused| Outcome::error(format!("address refused: {e}"));
        let url = match self.policy.parse_url(&c.url) {
            Ok(url) => url,
            Err(e) => return Outcome::error(format!("url refused: {e}")),
        };
        // IP-literal hosts never reach the resolver: check them here.
        if !matches!(url.host(), Some(url::Host::Domain(_))) {
            if let Err(e) = self.policy.vet(&url) {
                return refused(e);
            }
        }
        let Some(signature) =
            signing::signature_header(secrets, &c.event_id, timestamp, c.payload.as_bytes())
        else {
            return Outcome::error("the endpoint has no signing secret in force".into());
        };
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &c.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(c.payload.clone())
            .send();
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let mut excerpt = Vec::new();
                // A receiver that stalls its body is cut by the client's timeout.
                let _ = response.take(EXCERPT_BYTES).read_to_end(&mut excerpt);
                let excerpt = storable(&String::from_utf8_lossy(&excerpt));
                Outcome {
                    status: Some(i32::from(status)),
                    excerpt: (!excerpt.is_empty()).then_some(excerpt),
                    error: (300..400)
                        .contains(&status)
                        .then(|| format!("redirect ({status}) not followed: only 2xx delivers")),
                    retry_after,
                }
            }
            Err(e) => Outcome::error(storable(&describe(&e))),
        }
    }

    /// What becomes of the delivery after attempt number `attempt`.
    fn judge(&self, o: &Outcome, attempt: i32, now: NaiveDateTime) -> Verdict {
        if o.status.is_some_and(|s| (200..300).contains(&s)) {
            return Verdict {
                state: DeliveryState::Delivered,
                next_attempt_at: None,
            };
        }
        let next = usize::try_from(attempt.max(1) - 1)
            .ok()
            .and_then(|n| self.settings.retries.get(n));
        match next {
            Some(&pause) if o.status != Some(410) => {
                let jitter = pause.mul_f64(rand::rng().random_range(0.9..=1.1));
                let asked = match o.status {
                    Some(429 | 503) => o.retry_after.map(|d| d.min(Duration::from_secs(86_400))),
                    _ => None,
                };
                let wait = asked.map_or(jitter, |a| a.max(jitter));
                Verdict {
                    state: DeliveryState::Pending,
                    next_attempt_at: Some(now + crate::duration::to_chrono(wait)),
                }
            }
            _ => Verdict {
                state: DeliveryState::Failed,
                next_attempt_at: None,
            },
        }
    }
}

/// Disables endpoint `id` with `reason`, with an audit event (Tessera acting).
pub(crate) fn disable(conn: &mut DbConn, id: &str, reason: &str) -> Result<(), StoreError> {
    if Endpoint::set_enabled(conn, id, false, Some(reason))? {
        let endpoint = Endpoint::find(conn, id)?;
        audit::record(
            conn,
            Some(endpoint.org_id),
            &Actor::system(),
            "webhook.disable",
            Some(id),
            Some(reason),
        )?;
        tracing::warn!(endpoint = id, reason, "webhook endpoint disabled");
    }
    Ok(())
}

/// Text from a receiver made storable on both backends: PostgreSQL refuses NUL in text, and
/// no control character belongs in a log line (line breaks and tabs stay).
fn storable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// A transport error, without the URL (which may carry a receiver's own token).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    if causes.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", causes.join(": "))
    }
}

struct Outcome {
    status: Option<i32>,
    excerpt: Option<String>,
    error: Option<String>,
    retry_after: Option<Duration>,
}

impl Outcome {
    fn error(message: String) -> Outcome {
        Outcome {
            status: None,
            excerpt: None,
            error: Some(message),
            retry_after: None,
        }
    }
}

struct Verdict {
    state: DeliveryState,
    next_attempt_at: Option<NaiveDateTime>,
}

/// The delivery workers of one `tessera serve` process.
///
/// Idle workers take turns to look for due deliveries, one look every `poll` (so while one is
/// busy with a slow receiver, another looks); a worker that finds one wakes the others, and
/// every worker then claims and sends one delivery at a time until none is due. A slow
/// receiver holds one worker, not the queue. Stopping does not wait for a send in flight: its
/// claim lapses and another instance (or this one, restarted) sends it again.
pub(crate) struct Dispatcher {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// Wakes a [`Dispatcher`]'s workers, so that an event published by this instance goes out
/// at once rather than at the next poll.
#[derive(Clone)]
pub(crate) struct Waker(Arc<Shared>);

impl Waker {
    pub(crate) fn wake(&self) {
        self.0.raise();
    }
}

struct Shared {
    stop: AtomicBool,
    /// Raised when work may be due; workers wait on it.
    due: Mutex<bool>,
    signal: Condvar,
    /// When some worker last looked at the outbox: idle workers take turns, so that one look
    /// per poll interval is made however many wait, and whichever is free makes it.
    last_look: Mutex<Instant>,
}

impl Dispatcher {
    pub(crate) fn start(db: Db, sender: Arc<Sender>) -> std::io::Result<Dispatcher> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            due: Mutex::new(true),
            signal: Condvar::new(),
            last_look: Mutex::new(Instant::now()),
        });
        let workers = sender.settings.workers.max(1);
        let mut threads = Vec::new();
        for n in 0..workers {
            let (db, sender, shared) = (db.clone(), sender.clone(), shared.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("tessera-webhooks-{n}"))
                    .spawn(move || work(&db, &sender, &shared))?,
            );
        }
        Ok(Dispatcher { shared, threads })
    }

    /// A handle that wakes the workers: something was just published.
    pub(crate) fn waker(&self) -> Waker {
        Waker(self.shared.clone())
    }

    /// Asks the workers to stop after their current send, without waiting for it.
    pub(crate) fn stop(self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.signal.notify_all();
        drop(self.threads);
    }
}

impl Shared {
    fn raise(&self) {
        *self.due.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.signal.notify_all();
    }

    /// Waits until work may be due or `poll` passed; then whether to look at the outbox: when
    /// raised, or when no other worker has looked for a poll interval.
    fn wait(&self, poll: Duration) -> bool {
        let mut due = self.due.lock().unwrap_or_else(|p| p.into_inner());
        if !*due && !self.stop.load(Ordering::SeqCst) {
            due = match self.signal.wait_timeout(due, poll) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        let raised = std::mem::replace(&mut *due, false);
        drop(due);
        let mut last = self.last_look.lock().unwrap_or_else(|p| p.into_inner());
        if raised || last.elapsed() >= poll {
            *last = Instant::now();
            true
        } else {
            false
        }
    }
}

fn work(db: &Db, sender: &Sender, shared: &Shared) {
    let mut look = true;
    while !shared.stop.load(Ordering::SeqCst) {
        if look {
            match db.run_sync(|c| sender.claim(c, 1)) {
                Ok(claimed) if !claimed.is_empty() => {
                    // There may be more: let the others look too.
                    shared.raise();
                    for c in &claimed {
                        if let Err(e) = sender.send(db, c) {
                            tracing::warn!(cause = %e, delivery = c.delivery_id, "webhook attempt not recorded; it is retried when its claim lapses");
                        }
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(cause = %e, "webhook outbox not readable"),
            }
        }
        look = shared.wait(sender.settings.poll);
    }
}

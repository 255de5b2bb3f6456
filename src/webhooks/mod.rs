//! Webhooks: endpoints an organization registers to hear about its integrations and clients,
//! signed per Standard Webhooks (standardwebhooks.com) and delivered from a transactional
//! outbox ([`crate::store::webhooks`]).
//!
//! Management actions — shared by the CLI and the HTTP API, each in one transaction with its
//! audit event — live here; signing in [`signing`], where deliveries may go in [`egress`], and
//! sending in [`delivery`]. The signing secret (`whsec_…`) is returned by create and
//! rotate-secret only; listings, logs, errors and audit events never show it.

pub(crate) mod delivery;
pub(crate) mod egress;
pub(crate) mod signing;

use std::time::Duration;

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use self::delivery::AttemptView;
use self::egress::EgressPolicy;
use crate::admin::{AdminError, or_not_found};
use crate::clock;
use crate::config::Config;
use crate::events::EventType;
use crate::store::audit::{self, Actor};
use crate::store::orgs::Organization;
use crate::store::webhooks::{self as outbox, Endpoint, EndpointChanges};
use crate::store::{DbConn, transaction};
use crate::validate::{self, Invalid};

/// The longest a replaced signing secret keeps signing beside the new one.
pub(crate) const MAX_SECRET_GRACE: Duration = Duration::from_secs(7 * 86_400);
/// Endpoints per organization.
const MAX_ENDPOINTS: usize = 50;

#[derive(Debug, Clone)]
pub(crate) struct CreateWebhook {
    pub(crate) url: VettedUrl,
    pub(crate) description: Option<String>,
    pub(crate) events: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct UpdateWebhook {
    pub(crate) url: Option<VettedUrl>,
    pub(crate) description: Option<String>,
    pub(crate) events: Option<Vec<String>>,
}

/// An endpoint URL that passed the egress policy when [`vet_url`] resolved it. Vetting looks
/// the host up in DNS, which may take seconds: callers do it before they take a database
/// connection.
#[derive(Debug, Clone)]
pub(crate) struct VettedUrl(String);

/// An endpoint as listings show it: never a secret.
/// An organization's endpoints: the answer of `GET /v1/orgs/{org}/webhooks` and of
/// `tessera --json webhook list`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct WebhookView {
    pub(crate) id: String,
    pub(crate) org: String,
    pub(crate) url: String,
    pub(crate) description: String,
    pub(crate) events: Vec<String>,
    pub(crate) enabled: bool,
    /// Why it is disabled: by an admin, `410 Gone`, or failing too long.
    pub(crate) disabled_reason: Option<String>,
    /// Since when every delivery failed (`null` when the last one succeeded).
    #[serde(with = "clock::as_rfc3339_opt")]
    pub(crate) failing_since: Option<NaiveDateTime>,
    /// When the previous signing secret stops signing, during a rotation's grace period.
    #[serde(with = "clock::as_rfc3339_opt")]
    pub(crate) previous_secret_expires_at: Option<NaiveDateTime>,
    /// Deliveries waiting to be sent.
    pub(crate) pending_deliveries: i64,
    #[serde(with = "clock::as_rfc3339")]
    pub(crate) created_at: NaiveDateTime,
    #[serde(with = "clock::as_rfc3339")]
    pub(crate) updated_at: NaiveDateTime,
}

/// The answer to create: the only time the signing secret is shown.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedWebhook {
    pub(crate) secret: String,
    #[serde(flatten)]
    pub(crate) webhook: WebhookView,
}

impl std::fmt::Debug for CreatedWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedWebhook")
            .field("id", &self.webhook.id)
            .finish_non_exhaustive()
    }
}

/// The answer to rotate-secret: the new secret, shown once.
#[derive(Serialize, ToSchema)]
pub(crate) struct RotatedWebhookSecret {
    pub(crate) id: String,
    pub(crate) secret: String,
    /// When the previous secret stops signing (now, without a grace period).
    #[serde(with = "clock::as_rfc3339")]
    pub(crate) previous_expires_at: NaiveDateTime,
}

impl std::fmt::Debug for RotatedWebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatedWebhookSecret")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// One delivery of an event to an endpoint, with its attempts (oldest first).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    pub(crate) id: i64,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    /// `pending`, `delivered` or `failed` (every attempt of the schedule used).
    pub(crate) state: String,
    #[serde(with = "clock::as_rfc3339_opt")]
    pub(crate) next_attempt_at: Option<NaiveDateTime>,
    pub(crate) last_status: Option<i32>,
    pub(crate) last_error: Option<String>,
    #[serde(with = "clock::as_rfc3339")]
    pub(crate) created_at: NaiveDateTime,
    pub(crate) attempts: Vec<AttemptView>,
}

/// The egress policy of `config` (`TESSERA_WEBHOOK_ALLOW_*`).
pub(crate) fn egress_policy(config: &Config) -> EgressPolicy {
    EgressPolicy {
        allow_networks: config.webhook_allow_networks.clone(),
        allow_http: config.webhook_allow_http,
    }
}

/// The delivery sender `config` describes (`TESSERA_WEBHOOK_*`).
pub(crate) fn sender(config: &Config) -> Result<delivery::Sender, String> {
    delivery::Sender::new(
        egress_policy(config),
        delivery::DeliverySettings {
            timeout: config.webhook_timeout,
            retries: config.webhook_retries.clone(),
            disable_after: config.webhook_disable_after,
            workers: config.webhook_workers,
            poll: config.webhook_poll,
        },
    )
}

fn parse_events(raw: &[String]) -> Result<String, Invalid> {
    let mut events: Vec<&'static str> = Vec::new();
    for name in raw
        .iter()
        .flat_map(|r| r.split([' ', ',']))
        .filter(|s| !s.is_empty())
    {
        let t = EventType::parse(name).ok_or_else(|| Invalid {
            field: "events",
            message: format!(
                "{name:?} is not an event type; known: {}",
                EventType::ALL.map(EventType::as_str).join(", ")
            ),
        })?;
        if !events.contains(&t.as_str()) {
            events.push(t.as_str());
        }
    }
    if events.is_empty() {
        return Err(Invalid {
            field: "events",
            message: "subscribe to at least one event type".into(),
        });
    }
    Ok(events.join(" "))
}

/// The URL, checked for form and — resolving it now, a blocking DNS look-up — for where it
/// leads (422 naming why).
pub(crate) fn vet_url(policy: &EgressPolicy, raw: &str) -> Result<VettedUrl, AdminError> {
    let invalid = |e: egress::Refused| Invalid {
        field: "url",
        message: e.0,
    };
    let url = policy.parse_url(raw.trim()).map_err(invalid)?;
    policy.vet(&url).map_err(invalid)?;
    Ok(VettedUrl(url.to_string()))
}

/// An endpoint URL for the audit trail: scheme, host, port and path — not the query, which
/// may carry the receiver's own token.
fn shown_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            u.set_query(None);
            u.to_string()
        }
        Err(_) => String::new(),
    }
}

fn view(conn: &mut DbConn, e: &Endpoint, org: &str) -> Result<WebhookView, AdminError> {
    let secrets = outbox::signing_secrets(conn, &e.id, clock::now())?;
    Ok(WebhookView {
        id: e.id.clone(),
        org: org.to_string(),
        url: e.url.clone(),
        description: e.description.clone(),
        events: e
            .events
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        enabled: e.enabled,
        disabled_reason: e.disabled_reason.clone(),
        failing_since: e.failing_since,
        previous_secret_expires_at: secrets.iter().filter_map(|(_, until)| *until).max(),
        pending_deliveries: outbox::backlog(conn, &e.id)?,
        created_at: e.created_at,
        updated_at: e.updated_at,
    })
}

fn find(conn: &mut DbConn, org: &Organization, id: &str) -> Result<Endpoint, AdminError> {
    or_not_found(Endpoint::find_in_org(conn, org.id, id), || {
        format!("webhook {id:?}")
    })
}

/// The organization an endpoint belongs to (the CLI addresses endpoints by id alone).
pub(crate) fn org_of(conn: &mut DbConn, id: &str) -> Result<Organization, AdminError> {
    let e = or_not_found(Endpoint::find(conn, id), || format!("webhook {id:?}"))?;
    Ok(Organization::find(conn, e.org_id)?)
}

pub(crate) fn create(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    input: &CreateWebhook,
) -> Result<CreatedWebhook, AdminError> {
    let events = parse_events(&input.events)?;
    let description = validate::description(input.description.as_deref().unwrap_or(""))?;
    crate::admin::plans::entitled(conn, org, crate::plans::Feature::Webhooks)?;
    let url = &input.url.0;
    let id = format!("wh_{}", crate::tokens::secret::random_base62(16));
    let secret = signing::new_secret();
    transaction(conn, |conn| {
        // Counted under the organization's lock, so parallel creations cannot pass the cap.
        crate::store::lock_entity(conn, "webhooks-of", &org.id.to_string())?;
        if Endpoint::list_for_org(conn, org.id)?.len() >= MAX_ENDPOINTS {
            return Err(AdminError::Conflict(format!(
                "an organization has at most {MAX_ENDPOINTS} webhook endpoints"
            )));
        }
        Endpoint::insert(conn, &id, org.id, url, &description, &events)?;
        outbox::add_secret(conn, &id, &secret)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "webhook.create",
            Some(&id),
            Some(&format!(
                "url={} events={}",
                shown_url(url),
                events.replace(' ', ",")
            )),
        )?;
        let endpoint = Endpoint::find(conn, &id)?;
        Ok(CreatedWebhook {
            secret,
            webhook: view(conn, &endpoint, &org.slug)?,
        })
    })
}

pub(crate) fn list(conn: &mut DbConn, org: &Organization) -> Result<Vec<WebhookView>, AdminError> {
    Endpoint::list_for_org(conn, org.id)?
        .iter()
        .map(|e| view(conn, e, &org.slug))
        .collect()
}

pub(crate) fn show(
    conn: &mut DbConn,
    org: &Organization,
    id: &str,
) -> Result<WebhookView, AdminError> {
    let e = find(conn, org, id)?;
    view(conn, &e, &org.slug)
}

pub(crate) fn update(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    id: &str,
    input: &UpdateWebhook,
) -> Result<WebhookView, AdminError> {
    let e = find(conn, org, id)?;
    if input.url.is_some() {
        // A new destination is a new endpoint in all but name.
        crate::admin::plans::entitled(conn, org, crate::plans::Feature::Webhooks)?;
    }
    let mut changes = EndpointChanges {
        updated_at: Some(clock::now()),
        ..Default::default()
    };
    let mut what = Vec::new();
    if let Some(url) = &input.url {
        changes.url = Some(url.0.clone());
        what.push("url");
    }
    if let Some(d) = &input.description {
        changes.description = Some(validate::description(d)?);
        what.push("description");
    }
    if let Some(events) = &input.events {
        changes.events = Some(parse_events(events)?);
        what.push("events");
    }
    if what.is_empty() {
        return Err(Invalid {
            field: "body",
            message: "nothing to change: send url, description or events".into(),
        }
        .into());
    }
    transaction(conn, |conn| {
        Endpoint::update(conn, &e.id, &changes)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "webhook.update",
            Some(&e.id),
            Some(&format!("changed={}", what.join(","))),
        )?;
        let updated = Endpoint::find(conn, &e.id)?;
        view(conn, &updated, &org.slug)
    })
}

/// Enables (pending deliveries go out again, the failure streak starts afresh) or disables
/// (nothing is sent; events still queue for it, for about three days: housekeeping gives up
/// older ones) an endpoint.
pub(crate) fn set_enabled(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    id: &str,
    enabled: bool,
) -> Result<WebhookView, AdminError> {
    let e = find(conn, org, id)?;
    if enabled {
        // After a downgrade, endpoints may be stopped, not started again.
        crate::admin::plans::entitled(conn, org, crate::plans::Feature::Webhooks)?;
    }
    transaction(conn, |conn| {
        let reason = (!enabled).then(|| format!("disabled by {}", actor.label));
        if Endpoint::set_enabled(conn, &e.id, enabled, reason.as_deref())? {
            let action = if enabled {
                "webhook.enable"
            } else {
                "webhook.disable"
            };
            audit::record(conn, Some(org.id), actor, action, Some(&e.id), None)?;
        }
        let updated = Endpoint::find(conn, &e.id)?;
        view(conn, &updated, &org.slug)
    })
}

pub(crate) fn delete(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    id: &str,
) -> Result<(), AdminError> {
    let e = find(conn, org, id)?;
    transaction(conn, |conn| {
        // In turn with rotations and tests of this endpoint, which look it up again.
        crate::store::lock_entity(conn, "webhook", &e.id)?;
        if Endpoint::delete(conn, &e.id)? {
            audit::record(
                conn,
                Some(org.id),
                actor,
                "webhook.delete",
                Some(&e.id),
                Some(&format!("url={}", shown_url(&e.url))),
            )?;
        }
        Ok(())
    })
}

/// A new signing secret. The previous ones keep signing beside it for `grace` (at most 7
/// days; zero: they stop now), so receivers can switch without missing a delivery.
pub(crate) fn rotate_secret(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    id: &str,
    grace: Duration,
) -> Result<RotatedWebhookSecret, AdminError> {
    if grace > MAX_SECRET_GRACE {
        return Err(Invalid {
            field: "grace",
            message: "at most 7d".into(),
        }
        .into());
    }
    let e = find(conn, org, id)?;
    crate::admin::plans::entitled(conn, org, crate::plans::Feature::Webhooks)?;
    let secret = signing::new_secret();
    let previous_expires_at = clock::now() + crate::duration::to_chrono(grace);
    transaction(conn, |conn| {
        // Concurrent rotations take turns: afterwards only the last one's secret (and those in
        // their grace) sign. A deletion that went first leaves nothing to rotate (404).
        crate::store::lock_entity(conn, "webhook", &e.id)?;
        find(conn, org, &e.id)?;
        outbox::expire_secrets(conn, &e.id, previous_expires_at)?;
        outbox::add_secret(conn, &e.id, &secret)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "webhook.rotate_secret",
            Some(&e.id),
            Some(&format!("grace={}", crate::duration::format(grace))),
        )?;
        Ok::<(), AdminError>(())
    })?;
    Ok(RotatedWebhookSecret {
        id: e.id,
        secret,
        previous_expires_at,
    })
}

/// Writes a `webhook.test` event for this endpoint alone (enabled or not) and claims its
/// delivery for the caller, who sends it at once ([`delivery::Sender::send`]); a failed test
/// is retried on the schedule like any delivery.
pub(crate) fn queue_test(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    id: &str,
    sender: &delivery::Sender,
) -> Result<outbox::Claimed, AdminError> {
    let e = find(conn, org, id)?;
    transaction(conn, |conn| {
        // After a deletion that went first, there is nothing to test (404).
        crate::store::lock_entity(conn, "webhook", &e.id)?;
        find(conn, org, &e.id)?;
        let data = json!({ "webhook_id": e.id, "org": org.slug, "actor": actor.label });
        let event = outbox::publish(conn, org.id, EventType::WebhookTest, &data, Some(&e.id))?
            .ok_or_else(|| AdminError::NotFound(format!("webhook {id:?}")))?;
        audit::record(conn, Some(org.id), actor, "webhook.test", Some(&e.id), None)?;
        let delivery = outbox::delivery_of(conn, &event, &e.id)?;
        let (now, lease_until) = sender.lease_from_now();
        outbox::take(conn, &[delivery], now, lease_until)?
            .pop()
            .ok_or_else(|| AdminError::Internal("the test delivery was not claimed".into()))
    })
}

/// The endpoint's deliveries, newest first, with their attempts; `before` pages back by id.
pub(crate) fn deliveries(
    conn: &mut DbConn,
    org: &Organization,
    id: &str,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<DeliveryView>, AdminError> {
    if !(1..=200).contains(&limit) {
        return Err(Invalid {
            field: "limit",
            message: "must be from 1 to 200".into(),
        }
        .into());
    }
    let e = find(conn, org, id)?;
    let rows = outbox::deliveries(conn, &e.id, limit, before)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let attempts = outbox::attempts(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryView {
            attempts: attempts
                .iter()
                .filter(|a| a.delivery_id == r.id)
                .map(|a| AttemptView {
                    attempted_at: a.attempted_at,
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    response_excerpt: a.response_excerpt.clone(),
                    error: a.error.clone(),
                    next_attempt_at: a.next_attempt_at,
                    state: if a.status_code.is_some_and(|s| (200..300).contains(&s)) {
                        "delivered"
                    } else if a.next_attempt_at.is_some() {
                        "pending"
                    } else {
                        "failed"
                    },
                })
                .collect(),
            next_attempt_at: (r.state == "pending").then_some(r.next_attempt_at),
            id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            state: r.state,
            last_status: r.last_status,
            last_error: r.last_error,
            created_at: r.created_at,
        })
        .collect())
}

/// Queues delivery `delivery_id` of the endpoint again, now (same event, same `webhook-id`).
pub(crate) fn redeliver(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    id: &str,
    delivery_id: i64,
) -> Result<i64, AdminError> {
    let e = find(conn, org, id)?;
    transaction(conn, |conn| {
        let found = or_not_found(outbox::delivery(conn, &e.id, delivery_id), || {
            format!("delivery {delivery_id} of webhook {id:?}")
        })?;
        outbox::redeliver(conn, &e.id, found.id)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "webhook.redeliver",
            Some(&e.id),
            Some(&format!("delivery={} event={}", found.id, found.event_id)),
        )?;
        Ok(found.id)
    })
}

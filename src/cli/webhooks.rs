//! `tessera webhook …`: the same actions as `/v1/orgs/{org}/webhooks…` ([`crate::webhooks`]).

use serde_json::json;

use super::WebhookCommand;
use super::input::{parse_duration, words};
use super::output::{CliError, emit};
use crate::admin;
use crate::config::Config;
use crate::store::Db;
use crate::store::audit::Actor;
use crate::webhooks::{self, CreateWebhook, UpdateWebhook, WebhookView};

fn line(v: &WebhookView) -> String {
    format!(
        "{}\t{}\t{}\t{}",
        v.id,
        if v.enabled { "enabled" } else { "disabled" },
        v.url,
        v.events.join(" ")
    )
}

pub(super) fn run(
    db: &Db,
    config: &Config,
    actor: &Actor,
    json: bool,
    cmd: WebhookCommand,
) -> Result<(), CliError> {
    let mut conn = db.conn()?;
    let conn = &mut conn;
    let policy = webhooks::egress_policy(config);
    match cmd {
        WebhookCommand::Create {
            org,
            url,
            events,
            description,
        } => {
            let org = admin::orgs::find(conn, &org)?;
            let input = CreateWebhook {
                url: webhooks::vet_url(&policy, &url)?,
                description,
                events: words(events),
            };
            let created = webhooks::create(conn, actor, &org, &input)?;
            emit(json, &created, || {
                format!(
                    "{}\nsecret: {}\n(the signing secret is shown only now; store it in your secret manager)",
                    line(&created.webhook),
                    created.secret
                )
            })
        }
        WebhookCommand::List { org } => {
            let org = admin::orgs::find(conn, &org)?;
            let all = webhooks::WebhookList {
                webhooks: webhooks::list(conn, &org)?,
            };
            emit(json, &all, || {
                all.webhooks.iter().map(line).collect::<Vec<_>>().join("\n")
            })
        }
        WebhookCommand::Show { id } => {
            let org = webhooks::org_of(conn, &id)?;
            let one = webhooks::show(conn, &org, &id)?;
            emit(json, &one, || line(&one))
        }
        WebhookCommand::Update {
            id,
            url,
            events,
            description,
        } => {
            let org = webhooks::org_of(conn, &id)?;
            let input = UpdateWebhook {
                url: url.map(|u| webhooks::vet_url(&policy, &u)).transpose()?,
                description,
                events: (!events.is_empty()).then(|| words(events)),
            };
            let one = webhooks::update(conn, actor, &org, &id, &input)?;
            emit(json, &one, || line(&one))
        }
        WebhookCommand::Test { id } => {
            let org = webhooks::org_of(conn, &id)?;
            let sender = webhooks::sender(config).map_err(CliError::Failure)?;
            let claimed = webhooks::queue_test(conn, actor, &org, &id, &sender)?;
            let attempt = sender.send(db, &claimed)?;
            let out = json!({
                "delivery_id": claimed.delivery_id,
                "event_id": claimed.event_id,
                "attempt": attempt,
            });
            emit(json, &out, || {
                format!(
                    "delivery {} ({}): {}",
                    claimed.delivery_id,
                    attempt.state,
                    attempt_text(&attempt)
                )
            })?;
            if attempt.state == "delivered" {
                Ok(())
            } else {
                Err(CliError::Failure(format!(
                    "the test was not delivered; delivery {} is retried on the schedule",
                    claimed.delivery_id
                )))
            }
        }
        WebhookCommand::Deliveries { id, limit } => {
            let org = webhooks::org_of(conn, &id)?;
            let all = webhooks::deliveries(conn, &org, &id, limit, None)?;
            emit(json, &all, || {
                all.iter()
                    .map(|d| {
                        let mut text =
                            format!("{}\t{}\t{}\t{}", d.id, d.event_id, d.event_type, d.state);
                        for a in &d.attempts {
                            text.push_str(&format!(
                                "\n  {}  {}",
                                crate::clock::rfc3339(a.attempted_at),
                                attempt_text(a)
                            ));
                        }
                        text
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        WebhookCommand::Redeliver { id, delivery } => {
            let org = webhooks::org_of(conn, &id)?;
            let queued = webhooks::redeliver(conn, actor, &org, &id, delivery)?;
            emit(
                json,
                &json!({ "delivery_id": queued, "state": "pending" }),
                || format!("delivery {queued} queued; a running server sends it within a poll"),
            )
        }
        WebhookCommand::RotateSecret { id, grace } => {
            let org = webhooks::org_of(conn, &id)?;
            let grace = grace
                .as_deref()
                .map(parse_duration)
                .transpose()?
                .unwrap_or_default();
            let rotated = webhooks::rotate_secret(conn, actor, &org, &id, grace)?;
            emit(json, &rotated, || {
                format!(
                    "secret: {}\nthe previous secret signs until {}",
                    rotated.secret,
                    crate::clock::rfc3339(rotated.previous_expires_at)
                )
            })
        }
        WebhookCommand::Disable { id } => set_enabled(conn, actor, json, &id, false),
        WebhookCommand::Enable { id } => set_enabled(conn, actor, json, &id, true),
        WebhookCommand::Delete { id } => {
            let org = webhooks::org_of(conn, &id)?;
            webhooks::delete(conn, actor, &org, &id)?;
            emit(json, &json!({ "id": id, "deleted": true }), || {
                format!("webhook {id} deleted")
            })
        }
    }
}

/// One attempt in a line: status or error, latency, the answer's start, the next try.
fn attempt_text(a: &crate::webhooks::delivery::AttemptView) -> String {
    let mut text = match (a.status_code, &a.error) {
        (Some(s), None) => format!("HTTP {s}"),
        (Some(s), Some(e)) => format!("HTTP {s} — {e}"),
        (None, Some(e)) => e.clone(),
        (None, None) => "no answer".into(),
    };
    text.push_str(&format!(" in {} ms", a.latency_ms));
    if let Some(excerpt) = &a.response_excerpt {
        let short: String = excerpt
            .chars()
            .take(60)
            .filter(|c| !c.is_control())
            .collect();
        text.push_str(&format!(" ({short:?})"));
    }
    if let Some(next) = a.next_attempt_at {
        text.push_str(&format!("; next try {}", crate::clock::rfc3339(next)));
    }
    text
}

fn set_enabled(
    conn: &mut crate::store::DbConn,
    actor: &Actor,
    json: bool,
    id: &str,
    enabled: bool,
) -> Result<(), CliError> {
    let org = webhooks::org_of(conn, id)?;
    let one = webhooks::set_enabled(conn, actor, &org, id, enabled)?;
    emit(json, &one, || line(&one))
}

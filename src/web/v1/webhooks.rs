//! `/v1/orgs/{org}/webhooks…`: create, list, show, update, delete, enable, disable,
//! rotate-secret, test, deliveries and redeliver. Each handler: authorise
//! ([`super::caller::acting`], scope `webhooks:manage`, role `manager` or higher) → parse →
//! call [`crate::webhooks`] → answer. Durations are strings (`"24h"`) or whole seconds.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::caller;
use super::{DurationInput, Page};
use crate::access::caller::Acting;
use crate::roles::Role;
use crate::web::body::optional_json;
use crate::web::error::ApiError;
use crate::web::state::AppState;
use crate::webhooks::{self, CreateWebhook, UpdateWebhook, VettedUrl};

const SCOPE: &str = "webhooks:manage";

async fn acting(req: &HttpRequest, state: &AppState, org: &str) -> Result<Acting, ApiError> {
    caller::acting(req, state, org, SCOPE, Role::Manager).await
}

/// Checks an endpoint URL against the egress policy (a DNS look-up) on the blocking pool,
/// before any database connection is taken.
async fn vet(state: &AppState, raw: String) -> Result<VettedUrl, ApiError> {
    let policy = state.webhooks.policy().clone();
    tokio::task::spawn_blocking(move || webhooks::vet_url(&policy, &raw))
        .await
        .map_err(|_| ApiError::unavailable())?
        .map_err(ApiError::from)
}

/// Event types: an array of names, or one space-separated string (as the CLI takes them).
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub(crate) enum EventList {
    Many(Vec<String>),
    One(String),
}

impl EventList {
    fn into_vec(self) -> Vec<String> {
        match self {
            EventList::Many(v) => v,
            EventList::One(s) => vec![s],
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    url: String,
    description: Option<String>,
    events: EventList,
}

pub(crate) async fn create(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<CreateBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let acting = acting(&req, &state, &path).await?;
    let body = body.into_inner();
    let input = CreateWebhook {
        url: vet(&state, body.url).await?,
        description: body.description,
        events: body.events.into_vec(),
    };
    let created = state
        .db
        .run(move |conn| webhooks::create(conn, &acting.actor, &acting.org, &input))
        .await?;
    let location = format!(
        "/v1/orgs/{}/webhooks/{}",
        created.webhook.org, created.webhook.id
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(created))
}

pub(crate) async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let acting = acting(&req, &state, &path).await?;
    let all = state
        .db
        .run(move |conn| webhooks::list(conn, &acting.org))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "webhooks": all })))
}

pub(crate) async fn show(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let one = state
        .db
        .run(move |conn| webhooks::show(conn, &acting.org, &id))
        .await?;
    Ok(HttpResponse::Ok().json(one))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBody {
    url: Option<String>,
    description: Option<String>,
    events: Option<EventList>,
}

pub(crate) async fn update(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let body = body.into_inner();
    let url = match body.url {
        Some(raw) => Some(vet(&state, raw).await?),
        None => None,
    };
    let input = UpdateWebhook {
        url,
        description: body.description,
        events: body.events.map(EventList::into_vec),
    };
    let one = state
        .db
        .run(move |conn| webhooks::update(conn, &acting.actor, &acting.org, &id, &input))
        .await?;
    Ok(HttpResponse::Ok().json(one))
}

pub(crate) async fn delete(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    state
        .db
        .run(move |conn| webhooks::delete(conn, &acting.actor, &acting.org, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_enabled(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    enabled: bool,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let one = state
        .db
        .run(move |conn| webhooks::set_enabled(conn, &acting.actor, &acting.org, &id, enabled))
        .await?;
    if enabled {
        state.webhook_waker.wake();
    }
    Ok(HttpResponse::Ok().json(one))
}

pub(crate) async fn enable(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(req, path, state, true).await
}

pub(crate) async fn disable(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(req, path, state, false).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateBody {
    /// How long the previous secret keeps signing beside the new one (at most 7d).
    grace: Option<DurationInput>,
}

pub(crate) async fn rotate_secret(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let body: RotateBody = optional_json(&body)?;
    let grace = body
        .grace
        .map(|g| g.to_duration("grace"))
        .transpose()?
        .unwrap_or_default();
    let rotated = state
        .db
        .run(move |conn| webhooks::rotate_secret(conn, &acting.actor, &acting.org, &id, grace))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(rotated))
}

/// Sends a `webhook.test` event now and answers with the attempt (status, latency, excerpt).
/// The send runs on a thread of its own, not the blocking pool the database work shares: a
/// slow receiver holds it for up to the delivery timeout. At most a few run at once (429).
pub(crate) async fn test(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let slot = state.webhooks.test_slot().ok_or_else(|| {
        ApiError::too_many_requests("other test deliveries are being sent; try again shortly")
    })?;
    let sender = state.webhooks.clone();
    let claimed = state
        .db
        .run(move |conn| webhooks::queue_test(conn, &acting.actor, &acting.org, &id, &sender))
        .await?;
    let (db, sender) = (state.db.clone(), state.webhooks.clone());
    let (delivery_id, event_id) = (claimed.delivery_id, claimed.event_id.clone());
    let (done, attempt) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("tessera-webhook-test".into())
        .spawn(move || {
            let _slot = slot;
            let _ = done.send(sender.send(&db, &claimed));
        })
        .map_err(|_| ApiError::unavailable())?;
    // If the thread could not answer, the claim lapses and a worker sends it.
    let attempt = attempt.await.map_err(|_| ApiError::unavailable())??;
    Ok(HttpResponse::Ok().json(json!({
        "delivery_id": delivery_id,
        "event_id": event_id,
        "attempt": attempt,
    })))
}

pub(crate) async fn deliveries(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    page: web::Query<Page>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let limit = page.limit.unwrap_or(50);
    let before = page.before;
    let all = state
        .db
        .run(move |conn| webhooks::deliveries(conn, &acting.org, &id, limit, before))
        .await?;
    let next = (all.len() as i64 == limit)
        .then(|| all.last().map(|d| d.id))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "deliveries": all, "next_before": next })))
}

pub(crate) async fn redeliver(
    req: HttpRequest,
    path: web::Path<(String, String, i64)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id, delivery) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let queued = state
        .db
        .run(move |conn| webhooks::redeliver(conn, &acting.actor, &acting.org, &id, delivery))
        .await?;
    state.webhook_waker.wake();
    Ok(HttpResponse::Accepted().json(json!({ "delivery_id": queued, "state": "pending" })))
}

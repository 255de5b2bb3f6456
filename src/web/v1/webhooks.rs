//! `/v1/orgs/{org}/webhooks…`: create, list, show, update, delete, enable, disable,
//! rotate-secret, test, deliveries and redeliver. Each handler: authorise
//! ([`super::caller::acting`], scope `webhooks:manage`, role `manager` or higher) → parse →
//! call [`crate::webhooks`] → answer. Durations are strings (`"24h"`) or whole seconds.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller;
use super::{DurationInput, Page};
use crate::access::caller::Acting;
use crate::roles::Role;
use crate::web::body::optional_json;
use crate::web::error::ApiError;
use crate::web::state::AppState;
use crate::webhooks::delivery::AttemptView;
use crate::webhooks::{
    self, CreateWebhook, CreatedWebhook, DeliveryView, RotatedWebhookSecret, UpdateWebhook,
    VettedUrl, WebhookList, WebhookView,
};

const SCOPE: &str = "webhooks:manage";

/// A page of deliveries, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryList {
    deliveries: Vec<DeliveryView>,
    /// Pass as `before` for the next page; `null` when this page is the last.
    next_before: Option<i64>,
}

/// A test delivery's outcome.
#[derive(Serialize, ToSchema)]
pub(crate) struct TestDelivery {
    delivery_id: i64,
    event_id: String,
    attempt: AttemptView,
}

/// A delivery queued again.
#[derive(Serialize, ToSchema)]
pub(crate) struct Redelivery {
    /// The delivery's id.
    delivery_id: i64,
    /// `pending`.
    #[schema(value_type = String)]
    state: &'static str,
}

/// `limit` (1–200, default 50) and `before` (a delivery id) of the deliveries listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "the query's shape for the OpenAPI document; `Page` reads it"
)]
pub(crate) struct DeliveryPage {
    /// How many deliveries, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// Only deliveries older than this id.
    before: Option<i64>,
}

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

/// A new endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateWebhookBody)]
pub(crate) struct CreateBody {
    /// `https://…` (plain `http` only where the operator allows it); it must not resolve to a
    /// private or local address unless the operator allows that network.
    url: String,
    description: Option<String>,
    /// The event types to receive, an array of names (see the document's `webhooks`).
    events: Vec<String>,
}

/// Adds an endpoint; its signing secret is shown only in this answer.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/webhooks",
    operation_id = "create_webhook",
    tag = "webhooks",
    params(("org" = String, Path, description = "The organization's slug.")),
    request_body = CreateBody,
    security(("oauth2" = ["webhooks:manage"]), ("bearer" = [])),
    responses(
        (status = 201, description = "Created: the endpoint and its signing secret (shown only now).", body = CreatedWebhook, headers(("Location" = String, description = "The new endpoint's URL."))),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn create(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<CreateBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let acting = acting(&req, &state, &path).await?;
    let body = body.into_inner();
    // A plan without webhooks is refused before the URL is resolved (`webhooks::create`
    // checks again, in its transaction).
    let org = acting.org.clone();
    state
        .db
        .run(move |conn| crate::admin::plans::entitled(conn, &org, crate::plans::Feature::Webhooks))
        .await?;
    let input = CreateWebhook {
        url: vet(&state, body.url).await?,
        description: body.description,
        events: body.events,
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

/// The organization's endpoints (never a secret).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    params(("org" = String, Path, description = "The organization's slug.")),
    security(("oauth2" = ["webhooks:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The endpoints.", body = WebhookList),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
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
    Ok(HttpResponse::Ok().json(WebhookList { webhooks: all }))
}

/// One endpoint.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/webhooks/{id}",
    operation_id = "show_webhook",
    tag = "webhooks",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The webhook endpoint's id.")),
    security(("oauth2" = ["webhooks:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint.", body = WebhookView),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
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

/// What to change; members left out stay as they are.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateWebhookBody)]
pub(crate) struct UpdateBody {
    url: Option<String>,
    description: Option<String>,
    /// The event types to receive, an array of names; replaces the current ones.
    events: Option<Vec<String>>,
}

/// Changes an endpoint's URL, description or event types.
#[utoipa::path(
    patch,
    path = "/v1/orgs/{org}/webhooks/{id}",
    operation_id = "update_webhook",
    tag = "webhooks",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The webhook endpoint's id.")),
    request_body = UpdateBody,
    security(("oauth2" = ["webhooks:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint as changed.", body = WebhookView),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
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
        events: body.events,
    };
    let one = state
        .db
        .run(move |conn| webhooks::update(conn, &acting.actor, &acting.org, &id, &input))
        .await?;
    Ok(HttpResponse::Ok().json(one))
}

/// Deletes an endpoint and its pending deliveries.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/webhooks/{id}",
    operation_id = "delete_webhook",
    tag = "webhooks",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The webhook endpoint's id.")),
    security(("oauth2" = ["webhooks:manage"]), ("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
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

/// Enables an endpoint (and resumes its deliveries).
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/webhooks/{id}/enable",
    operation_id = "enable_webhook",
    tag = "webhooks",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The webhook endpoint's id.")),
    security(("oauth2" = ["webhooks:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint, enabled.", body = WebhookView),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn enable(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(req, path, state, true).await
}

/// Disables an endpoint: nothing is sent to it until it is enabled.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/webhooks/{id}/disable",
    operation_id = "disable_webhook",
    tag = "webhooks",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The webhook endpoint's id.")),
    security(("oauth2" = ["webhooks:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint, disabled.", body = WebhookView),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn disable(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(req, path, state, false).await
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RotateWebhookSecretBody)]
pub(crate) struct RotateBody {
    /// How long the previous secret keeps signing beside the new one, e.g. `"24h"` (at most
    /// `"7d"`; none: it stops now).
    #[schema(value_type = Option<String>, example = "24h")]
    grace: Option<DurationInput>,
}

#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/webhooks/{id}/rotate-secret",
    operation_id = "rotate_webhook_secret",
    tag = "webhooks",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The webhook endpoint's id.")),
    request_body(content = Option<RotateBody>, description = "Optional; an empty body ends the previous secret now."),
    security(("oauth2" = ["webhooks:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The new secret (shown only now) and when the previous one stops signing.", body = RotatedWebhookSecret),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
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
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/webhooks/{id}/test",
    operation_id = "test_webhook",
    tag = "webhooks",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The webhook endpoint's id.")),
    security(("oauth2" = ["webhooks:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The attempt: the receiver's status, latency and an excerpt of its answer.", body = TestDelivery),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
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
    Ok(HttpResponse::Ok().json(TestDelivery {
        delivery_id,
        event_id,
        attempt,
    }))
}

/// The endpoint's deliveries, newest first, with their attempts.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/webhooks/{id}/deliveries",
    operation_id = "list_webhook_deliveries",
    tag = "webhooks",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The webhook endpoint's id."), DeliveryPage),
    security(("oauth2" = ["webhooks:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries; `next_before` asks for the next one (`null` at the end).", body = DeliveryList),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
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
    Ok(HttpResponse::Ok().json(DeliveryList {
        deliveries: all,
        next_before: next,
    }))
}

/// Queues a delivery to be sent again.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/webhooks/{id}/deliveries/{delivery}/redeliver",
    operation_id = "redeliver_webhook",
    tag = "webhooks",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The webhook endpoint's id."), ("delivery" = i64, Path, description = "The delivery's id.")),
    security(("oauth2" = ["webhooks:manage"]), ("bearer" = [])),
    responses(
        (status = 202, description = "Queued: the new delivery's id.", body = Redelivery),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
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
    Ok(HttpResponse::Accepted().json(Redelivery {
        delivery_id: queued,
        state: "pending",
    }))
}

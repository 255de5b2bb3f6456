//! `/v1/orgs/{org}/integrations…`: create, list, show, update, rotate, expire, revoke.
//! Each handler: authorise ([`super::caller::acting`]) → parse → call
//! [`crate::integrations`] → answer.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::DurationInput;
use super::caller;
use crate::access::caller::Acting;
use crate::admin::AdminError;
use crate::integrations::{self, CreateIntegration, Creator, UpdateIntegration};
use crate::roles::Role;
use crate::store::DbConn;
use crate::web::body::optional_json;
use crate::web::error::ApiError;
use crate::web::state::AppState;

const SCOPE: &str = "integrations:manage";

/// Runs a change to an integration. Check decisions cached before it must not be served after.
async fn change<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut DbConn) -> Result<T, AdminError> + Send + 'static,
) -> Result<T, ApiError> {
    let changed = state.db.run(f).await?;
    state.checker.invalidate();
    state.webhook_waker.wake();
    Ok(changed)
}

async fn acting(req: &HttpRequest, state: &AppState, org: &str) -> Result<Acting, ApiError> {
    caller::acting(req, state, org, SCOPE, Role::Admin).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    name: String,
    description: Option<String>,
    env: Option<String>,
    scopes: Vec<String>,
    expires_in: Option<DurationInput>,
    allow_ips: Option<Vec<String>>,
    inactive_after: Option<DurationInput>,
}

pub(crate) async fn create(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<CreateBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let acting = acting(&req, &state, &path).await?;
    let body = body.into_inner();
    let input = CreateIntegration {
        name: body.name,
        description: body.description,
        env: body.env,
        scopes: body.scopes,
        expires_in: body
            .expires_in
            .map(|d| d.to_duration("expires_in"))
            .transpose()?,
        allow_ips: body.allow_ips.unwrap_or_default(),
        inactive_after: body
            .inactive_after
            .map(|d| d.to_duration("inactive_after"))
            .transpose()?,
    };
    let brand = state.config.token_brand.clone();
    let issued = state
        .db
        .run(move |conn| {
            let creator = Creator {
                user_id: Some(acting.user_id),
                role: acting.role,
            };
            integrations::create(conn, &acting.actor, &acting.org, &creator, &brand, &input)
        })
        .await?;
    state.webhook_waker.wake();
    let location = format!(
        "/v1/orgs/{}/integrations/{}",
        issued.integration.org, issued.integration.id
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued))
}

pub(crate) async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let acting = acting(&req, &state, &path).await?;
    let all = state
        .db
        .run(move |conn| integrations::list(conn, &acting.org))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "integrations": all })))
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
        .run(move |conn| integrations::show(conn, &acting.org, &id))
        .await?;
    Ok(HttpResponse::Ok().json(one))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBody {
    name: Option<String>,
    description: Option<String>,
    allow_ips: Option<Vec<String>>,
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
    let input = UpdateIntegration {
        name: body.name,
        description: body.description,
        allow_ips: body.allow_ips,
    };
    let one = change(&state, move |conn| {
        integrations::update(conn, &acting.actor, &acting.org, &id, &input)
    })
    .await?;
    Ok(HttpResponse::Ok().json(one))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateBody {
    grace_seconds: Option<i64>,
}

pub(crate) async fn rotate(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let body: RotateBody = optional_json(&body)?;
    let grace =
        DurationInput::Seconds(body.grace_seconds.unwrap_or(0)).to_duration("grace_seconds")?;
    let brand = state.config.token_brand.clone();
    let issued = change(&state, move |conn| {
        integrations::rotate(conn, &acting.actor, &acting.org, &id, grace, &brand)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpireBody {
    in_seconds: Option<i64>,
    #[serde(rename = "in")]
    after: Option<String>,
}

pub(crate) async fn expire(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let body: ExpireBody = optional_json(&body)?;
    let after = match (body.in_seconds, body.after) {
        (Some(_), Some(_)) => {
            return Err(ApiError::unprocessable("send in_seconds or in, not both"));
        }
        (Some(s), None) => DurationInput::Seconds(s).to_duration("in_seconds")?,
        (None, Some(t)) => DurationInput::Text(t).to_duration("in")?,
        (None, None) => std::time::Duration::ZERO,
    };
    let one = change(&state, move |conn| {
        integrations::expire(conn, &acting.actor, &acting.org, &id, after)
    })
    .await?;
    Ok(HttpResponse::Ok().json(one))
}

pub(crate) async fn revoke(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let one = change(&state, move |conn| {
        integrations::revoke(conn, &acting.actor, &acting.org, &id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(one))
}

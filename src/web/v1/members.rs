//! `/v1/orgs/{org}/members…`: list, add an existing user or create one, show, change a role,
//! remove. Each handler: authorise ([`super::caller::acting`], scope `members:manage`, role
//! `admin` or higher) → parse → call [`crate::admin::members`], which applies the owner rules
//! → answer.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::caller;
use crate::access::caller::Acting;
use crate::admin::members::{self, CreatedMember, MemberList, RemovedMember};
use crate::roles::Role;
use crate::store::users::Member;
use crate::web::error::ApiError;
use crate::web::state::AppState;

const SCOPE: &str = "members:manage";

async fn acting(req: &HttpRequest, state: &AppState, org: &str) -> Result<Acting, ApiError> {
    caller::acting(req, state, org, SCOPE, Role::Admin).await
}

/// Adds an existing user, or (with `create`) creates one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AddMemberBody)]
pub(crate) struct AddBody {
    username: String,
    /// `owner` (only an owner may grant it), `admin`, `manager` or `member`.
    role: String,
    /// Create the user, with a generated initial password shown once in the answer. Default
    /// `false`: the user must exist.
    #[serde(default)]
    create: bool,
}

/// A role change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetMemberRoleBody)]
pub(crate) struct RoleBody {
    /// `owner`, `admin`, `manager` or `member`.
    role: String,
}

/// The organization's members, by username.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/members",
    operation_id = "list_members",
    tag = "members",
    params(("org" = String, Path, description = "The organization's slug.")),
    security(("oauth2" = ["members:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The members.", body = MemberList),
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
        .run(move |conn| members::list(conn, &acting.org))
        .await?;
    Ok(HttpResponse::Ok().json(all))
}

/// Adds an existing user to the organization, or creates a user and adds them (`"create":
/// true`); a created user's initial password is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/members",
    operation_id = "add_member",
    tag = "members",
    params(("org" = String, Path, description = "The organization's slug.")),
    request_body = AddBody,
    security(("oauth2" = ["members:manage"]), ("bearer" = [])),
    responses(
        (status = 201, description = "Added: the member; for a created user also `initial_password` (shown only now).", body = CreatedMember, headers(("Location" = String, description = "The member's URL."))),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn add(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<AddBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let acting = acting(&req, &state, &path).await?;
    let body = body.into_inner();
    let role = members::parse_role(&body.role)?;
    let username = body.username;
    let answer = if body.create {
        // argon2 on the blocking pool, with no connection held.
        let password = tokio::task::spawn_blocking(|| members::initial_password(None))
            .await
            .map_err(|_| ApiError::unavailable())??;
        state
            .db
            .run(move |conn| {
                members::create(
                    conn,
                    &acting.actor,
                    acting.role,
                    &acting.org,
                    &username,
                    role,
                    password,
                )
            })
            .await?
    } else {
        let member = state
            .db
            .run(move |conn| {
                members::add(
                    conn,
                    &acting.actor,
                    acting.role,
                    &acting.org,
                    &username,
                    role,
                )
            })
            .await?;
        CreatedMember {
            member,
            initial_password: None,
        }
    };
    let location = format!(
        "/v1/orgs/{}/members/{}",
        path.as_str(),
        answer.member.username
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer))
}

/// One member.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/members/{username}",
    operation_id = "show_member",
    tag = "members",
    params(("org" = String, Path, description = "The organization's slug."), ("username" = String, Path, description = "The member's username.")),
    security(("oauth2" = ["members:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The member.", body = Member),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn show(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, username) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let member = state
        .db
        .run(move |conn| members::show(conn, &acting.org, &username))
        .await?;
    Ok(HttpResponse::Ok().json(member))
}

/// Changes a member's role. Only an owner may grant `owner` or change an owner's role; the
/// last owner cannot be demoted (409). A lower role ends the member's OAuth grants in this
/// organization at once (their tokens were issued for the higher one); an integration token
/// may not change members (403).
#[utoipa::path(
    patch,
    path = "/v1/orgs/{org}/members/{username}",
    operation_id = "set_member_role",
    tag = "members",
    params(("org" = String, Path, description = "The organization's slug."), ("username" = String, Path, description = "The member's username.")),
    request_body = RoleBody,
    security(("oauth2" = ["members:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The member with their new role.", body = Member),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn set_role(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<RoleBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, username) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let role = members::parse_role(&body.role)?;
    let member = state
        .run_change(move |conn| {
            members::set_role(
                conn,
                &acting.actor,
                acting.role,
                &acting.org,
                &username,
                role,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(member))
}

/// Removes a member: their OAuth grants bound to the organization are revoked (their tokens
/// stop working everywhere before this answers), their sessions reach it no more. Only an
/// owner may remove an owner; the last owner cannot be removed (409).
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/members/{username}",
    operation_id = "remove_member",
    tag = "members",
    params(("org" = String, Path, description = "The organization's slug."), ("username" = String, Path, description = "The member's username.")),
    security(("oauth2" = ["members:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "Removed: what was revoked with the membership.", body = RemovedMember),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn remove(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, username) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let removed = state
        .run_change(move |conn| {
            members::remove(conn, &acting.actor, acting.role, &acting.org, &username)
        })
        .await?;
    Ok(HttpResponse::Ok().json(removed))
}

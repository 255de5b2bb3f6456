//! `GET /openapi.json`: the OpenAPI 3.1 contract of every endpoint Tessera serves.
//!
//! Generated from the code by utoipa: each handler carries its `#[utoipa::path(…)]` (method,
//! path, parameters, request body, answers), each answered type its `ToSchema` derive where it is
//! defined — in the domain too, since utoipa knows no HTTP framework. This module gathers them
//! ([`ApiDoc`]), adds what no one handler owns — the security schemes, the error answers every
//! endpoint family shares ([`ApiErrors`], [`OAuthErrors`], [`PageErrors`]) and the shapes of the
//! answers written with `json!` — and serves the document.
//!
//! The route table ([`super::routes::operations`]) is held to the document by a test: a route
//! the document lacks fails it. The document is checked against the running server by
//! schemathesis (`tests/integration/contract.rs`): no server error, every status, content type,
//! header and body as documented.
//!
//! Security schemes: `oauth2` (authorization code with PKCE, RFC 6749 §4.1), `bearer` (RFC 6750:
//! a Tessera JWT access token, or an integration token `tsr_live_…`/`tsr_test_…` at
//! `/v1/check`), `api_key` (`/v1/check?api_key=`, discouraged) and `client_basic` (client
//! authentication, RFC 6749 §2.3.1, at the token, revocation and introspection endpoints).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, AuthorizationCode, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes,
    SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
};
use utoipa::{IntoParams, IntoResponses, OpenApi, ToSchema};

use super::paths::{
    AUTHORIZE_PATH, JWKS_PATH, LOGOUT_PATH, METADATA_PATH, REVOKE_PATH, TOKEN_PATH,
};
use super::state::AppState;
use crate::config::Config;

/// The document's skeleton: every operation and every named schema. [`document`] completes it.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera",
        description = "OAuth 2.0 authorization server with private-integration tokens: the \
            OAuth endpoints (RFC 6749, 7009, 7662, 8414), the gateway check, the management API \
            and GitHub secret-scanning reports.\n\nErrors: `/v1/…` and the operations endpoints \
            answer `{\"error\": {\"code\", \"message\"}}`; `/oauth/token`, `/oauth/revoke` and \
            `/oauth/introspect` answer RFC 6749 §5.2's `{\"error\", \"error_description\"}`; the \
            authorization pages answer HTML. Every 429 and 503 carries `Retry-After`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::health::healthz,
        super::health::readyz,
        document_handler,
        super::well_known::metadata,
        super::well_known::jwks,
        super::oauth::authorize::get,
        super::oauth::authorize::post,
        super::oauth::authorize::login,
        super::oauth::authorize::logout,
        super::oauth::token::token,
        super::oauth::revoke::revoke,
        super::oauth::introspect::introspect,
        super::v1::check::check,
        super::v1::secret_scanning::github,
        super::v1::integrations::list,
        super::v1::integrations::create,
        super::v1::integrations::show,
        super::v1::integrations::update,
        super::v1::integrations::rotate,
        super::v1::integrations::expire,
        super::v1::integrations::revoke,
        super::v1::webhooks::list,
        super::v1::webhooks::create,
        super::v1::webhooks::show,
        super::v1::webhooks::update,
        super::v1::webhooks::delete,
        super::v1::webhooks::enable,
        super::v1::webhooks::disable,
        super::v1::webhooks::rotate_secret,
        super::v1::webhooks::test,
        super::v1::webhooks::deliveries,
        super::v1::webhooks::redeliver,
        super::v1::audit::list,
    ),
    components(schemas(ApiErrorBody, ApiErrorObject, OAuthErrorBody, NotReady, WebhookEvent)),
    modifiers(&Preflights, &OptionalLogoutForm),
    tags(
        (name = "operations", description = "Liveness, readiness and this document."),
        (name = "discovery", description = "RFC 8414 metadata and the public signing keys."),
        (name = "oauth", description = "The authorization endpoint and its pages (HTML), the \
            token endpoint (RFC 6749), revocation (RFC 7009) and introspection (RFC 7662)."),
        (name = "gateway", description = "May this bearer do what it asks? For API gateways."),
        (name = "integrations", description = "An organization's private-integration tokens."),
        (name = "webhooks", description = "An organization's webhook endpoints (Standard Webhooks)."),
        (name = "audit", description = "An organization's audit trail."),
        (name = "leaks", description = "GitHub secret-scanning partner reports."),
    ),
)]
pub(crate) struct ApiDoc;

/// The whole document for a server configured by `config`: the skeleton, the security schemes
/// (whose OAuth URLs are absolute, built from the issuer) and the webhooks Tessera sends.
pub(crate) fn document(config: &Config) -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "oauth2",
        SecurityScheme::OAuth2(OAuth2::with_description(
            [Flow::AuthorizationCode(
                AuthorizationCode::with_refresh_url(
                    config.url(AUTHORIZE_PATH),
                    config.url(TOKEN_PATH),
                    Scopes::from_iter([
                        (
                            "integrations:manage",
                            "manage the organization's integrations",
                        ),
                        (
                            "webhooks:manage",
                            "manage the organization's webhook endpoints",
                        ),
                        ("audit:read", "read the organization's audit trail"),
                    ]),
                    config.url(TOKEN_PATH),
                ),
            )],
            "Authorization code with PKCE (S256), RFC 6749 §4.1 and RFC 7636; the access token \
             is then sent as a bearer token (RFC 6750).",
        )),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT access token, or integration token tsr_live_…/tsr_test_…")
                .description(Some(
                    "RFC 6750 §2.1. The management API takes a JWT access token of a member of \
                     the organization; `/v1/check` also takes integration tokens.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "api_key",
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
            "api_key",
            "`/v1/check` only, for integrations that cannot set headers. Discouraged: URLs end \
             up in logs.",
        ))),
    );
    components.add_security_scheme(
        "client_basic",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some(
                    "Client authentication, RFC 6749 §2.3.1: the client id and secret, each \
                     form-urlencoded. Clients may instead send `client_id` and `client_secret` \
                     in the body; public clients send only `client_id`.",
                ))
                .build(),
        ),
    );
    let mut value = serde_json::to_value(&doc).unwrap_or_default();
    unique_operation_ids(&mut value);
    // OpenAPI 3.1's `webhooks` (utoipa 5 has no field for it): one entry per event type, each
    // a POST of the Standard Webhooks envelope.
    let webhooks: serde_json::Map<String, serde_json::Value> = crate::events::EventType::ALL
        .into_iter()
        .map(|event| (event.as_str().to_string(), webhook_item(event)))
        .collect();
    value["webhooks"] = serde_json::Value::Object(webhooks);
    value
}

/// OpenAPI requires unique operation ids; one handler answering two methods (`/v1/check`'s GET
/// and POST) gets one from utoipa, so each repeat is suffixed with its method.
fn unique_operation_ids(doc: &mut serde_json::Value) {
    let mut seen = std::collections::HashSet::new();
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            let Some(id) = operation["operationId"].as_str().map(str::to_string) else {
                continue;
            };
            if !seen.insert(id.clone()) {
                let unique = format!("{id}_{method}");
                seen.insert(unique.clone());
                operation["operationId"] = serde_json::Value::String(unique);
            }
        }
    }
}

fn webhook_item(event: crate::events::EventType) -> serde_json::Value {
    serde_json::json!({
        "post": {
            "summary": format!("`{event}`"),
            "description": "Sent to every enabled endpoint of the organization that subscribes \
                to this event type, signed as Standard Webhooks says: headers `webhook-id`, \
                `webhook-timestamp` and `webhook-signature` (`v1,` and the base64 \
                HMAC-SHA256 of `id.timestamp.body` under the endpoint's secret). Retried on \
                any answer but 2xx; `410 Gone` disables the endpoint.",
            "tags": ["webhooks"],
            "requestBody": {
                "required": true,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookEvent"}}}
            },
            "responses": {"2XX": {"description": "Delivered."}}
        }
    })
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json",
            body = Object),
        BadInput,
    ),
)]
pub(crate) async fn document_handler(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(document(&state.config))
}

/// The `/v1` error envelope, as `web::error::ApiError` writes it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiErrorBody {
    pub(crate) error: ApiErrorObject,
}

/// The error object of the `/v1` envelope.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiErrorObject {
    /// A stable code: `invalid_request`, `unauthorized`, `forbidden`, `forbidden_scope`,
    /// `not_found`, `conflict`, `method_not_allowed`, `payload_too_large`,
    /// `unsupported_media_type`, `too_many_requests`, `unavailable` or `internal`.
    pub(crate) code: String,
    /// Written for a person; never a cause chain, a query or a secret.
    pub(crate) message: String,
    /// With `forbidden_scope`: the scope the token lacks.
    #[schema(nullable = false)]
    pub(crate) required_scope: Option<String>,
}

/// RFC 6749 §5.2's error answer (also RFC 7009 §2.2.1 and RFC 7662 §2.3).
#[derive(Serialize, ToSchema)]
pub(crate) struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `unsupported_token_type`,
    /// `too_many_requests`, `temporarily_unavailable` or `server_error`.
    pub(crate) error: String,
    pub(crate) error_description: String,
}

/// `/readyz` when the database does not answer: the probe's status beside the envelope.
#[derive(Serialize, ToSchema)]
pub(crate) struct NotReady {
    /// `unavailable`.
    pub(crate) status: String,
    pub(crate) error: ApiErrorObject,
}

/// What every webhook delivery carries (Standard Webhooks): the event type, when it happened,
/// and its data, which never holds a secret.
#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookEvent {
    /// The event type, e.g. `integration.revoked`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// RFC 3339.
    pub(crate) timestamp: String,
    /// The integration, client or endpoint concerned, as the management API shows it.
    pub(crate) data: serde_json::Value,
}

/// The CORS preflights (`OPTIONS`): one handler serves several paths, which one
/// `#[utoipa::path]` cannot say, so they are added here, from the paths the route table gives them.
struct Preflights;

impl utoipa::Modify for Preflights {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::HttpMethod;
        use utoipa::openapi::path::OperationBuilder;
        let preflights = [
            (
                METADATA_PATH,
                "discovery",
                "GET, HEAD",
                "Any origin may read discovery.",
            ),
            (
                JWKS_PATH,
                "discovery",
                "GET, HEAD",
                "Any origin may read the keys.",
            ),
            (
                TOKEN_PATH,
                "oauth",
                "POST",
                "Only an origin some client allows.",
            ),
            (
                REVOKE_PATH,
                "oauth",
                "POST",
                "Only an origin some client allows.",
            ),
        ];
        for (path, tag, methods, who) in preflights {
            let answer = ResponseBuilder::new()
                .description(format!(
                    "No body. For an allowed `Origin`: `Access-Control-Allow-Origin`, \
                     `Access-Control-Allow-Methods` ({methods}) and `Access-Control-Max-Age`."
                ))
                .header("Access-Control-Allow-Origin", header("The allowed origin."))
                .header(
                    "Access-Control-Allow-Methods",
                    header("The methods allowed."),
                )
                .header("Vary", header("`Origin`, where the answer depends on it."));
            let operation = OperationBuilder::new()
                .tag(tag)
                .summary(Some("CORS preflight (Fetch standard)."))
                .description(Some(who))
                .operation_id(Some(format!(
                    "preflight_{}",
                    path.trim_matches('/').replace(['/', '.', '-'], "_")
                )))
                .response("204", answer.build())
                .build();
            doc.paths
                .add_path_operation(path, vec![HttpMethod::Options], operation);
        }
    }
}

/// `POST /oauth/logout` without a body is an empty form: the browser has no session to end,
/// or ends none without the form's anti-forgery token (403). `#[utoipa::path]` marks every form
/// body required.
struct OptionalLogoutForm;

impl utoipa::Modify for OptionalLogoutForm {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let body = doc
            .paths
            .paths
            .get_mut(LOGOUT_PATH)
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut());
        if let Some(body) = body {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

fn header(description: &str) -> utoipa::openapi::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(description))
        .build()
}

fn json_error(description: &str, schema: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build(),
    )
}

fn html(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "text/html",
        ContentBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build(),
    )
}

const RETRY_AFTER: &str = "Seconds to wait before trying again.";

/// The answers of `statuses`, each with its description, built by `make`; 401, 429 and 503
/// get their headers.
fn answers(
    statuses: &[(u16, &str)],
    make: impl Fn(&str) -> ResponseBuilder,
    challenge: &str,
) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|&(status, description)| {
            let mut res = make(description);
            res = match status {
                401 => res.header("WWW-Authenticate", header(challenge)),
                429 | 503 => res.header("Retry-After", header(RETRY_AFTER)),
                _ => res,
            };
            (status.to_string(), RefOr::T(res.build()))
        })
        .collect()
}

/// The management API's errors, in the `/v1` envelope ([`ApiErrorBody`]).
pub(crate) struct ApiErrors;

impl IntoResponses for ApiErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers(
            &[
                (
                    400,
                    "Malformed request: unreadable JSON, a bad query string, a control character.",
                ),
                (
                    401,
                    "No bearer token, or one that is invalid, expired or revoked (RFC 6750 §3.1).",
                ),
                (
                    403,
                    "The token lacks the scope (`forbidden_scope`, with `required_scope`) or the role.",
                ),
                (404, "No such organization, or nothing with this id in it."),
                (
                    408,
                    "The request body did not arrive within `TESSERA_BODY_TIMEOUT` of its head.",
                ),
                (
                    409,
                    "Conflicts with the current state (e.g. already exists).",
                ),
                (413, "The body is over the limit."),
                (415, "The body is not `application/json`."),
                (422, "Well-formed, but a value is not acceptable."),
                (
                    429,
                    "Too many requests; `Retry-After` says when to come back.",
                ),
                (500, "An unexpected failure."),
                (
                    503,
                    "The database cannot answer right now; `Retry-After` says when to retry.",
                ),
            ],
            |d| json_error(d, "ApiErrorBody"),
            r#"Bearer realm="tessera", error="invalid_token""#,
        )
    }
}

/// The token, revocation and introspection endpoints' errors (RFC 6749 §5.2).
pub(crate) struct OAuthErrors;

impl IntoResponses for OAuthErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers(
            &[
                (
                    400,
                    "RFC 6749 §5.2: `invalid_request`, `invalid_grant`, `unsupported_grant_type`, \
                       `invalid_scope`, `unauthorized_client`, `unsupported_token_type`.",
                ),
                (
                    401,
                    "`invalid_client`: client authentication failed (with a Basic challenge).",
                ),
                (
                    408,
                    "The request body did not arrive in time (`invalid_request`).",
                ),
                (413, "The body is over the limit (`invalid_request`)."),
                (
                    429,
                    "`too_many_requests`; `Retry-After` says when to come back.",
                ),
                (500, "`server_error`."),
                (
                    503,
                    "`temporarily_unavailable`; `Retry-After` says when to retry.",
                ),
            ],
            |d| json_error(d, "OAuthErrorBody"),
            r#"Basic realm="tessera""#,
        )
    }
}

/// The authorization pages' errors: HTML, never redirected to the client.
pub(crate) struct PageErrors;

impl IntoResponses for PageErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers(
            &[
                (
                    400,
                    "An error page: the request or form cannot be read, or the client or its \
                       redirect URI is unknown (nothing is sent to the client).",
                ),
                (
                    403,
                    "An error page: the form expired (its anti-forgery token does not match).",
                ),
                (
                    503,
                    "An error page: the database cannot answer right now, or (signing in) too \
                       many password checks are waiting already.",
                ),
            ],
            html,
            "",
        )
    }
}

/// The sign-in form's extra answer once requests are rate limited.
pub(crate) struct PageTooMany;

impl IntoResponses for PageTooMany {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers(
            &[(
                429,
                "The sign-in page again: too many attempts from this address or for this \
                   account, or the account is locked; `Retry-After` says when to retry.",
            )],
            html,
            "",
        )
    }
}

/// What any endpoint answers to a request holding a control character (`web::input`), or a
/// query string it cannot read: 400 in the `/v1` envelope.
pub(crate) struct BadInput;

impl IntoResponses for BadInput {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers(
            &[(
                400,
                "The request holds a control character, or its query string cannot be read.",
            )],
            |d| json_error(d, "ApiErrorBody"),
            "",
        )
    }
}

/// The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3), in the query string. Each
/// parameter at most once; one without a value counts as omitted.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "a shape for the document; `oauth::authorize` reads the pairs"
)]
pub(crate) struct AuthorizeQuery {
    /// `code`.
    #[param(nullable = false)]
    response_type: Option<String>,
    #[param(nullable = false)]
    client_id: Option<String>,
    /// One of the client's registered redirect URIs (optional when it has only one).
    #[param(nullable = false)]
    redirect_uri: Option<String>,
    /// Space-separated scopes.
    #[param(nullable = false)]
    scope: Option<String>,
    /// Returned unchanged to the client.
    #[param(nullable = false)]
    state: Option<String>,
    /// PKCE: BASE64URL(SHA-256(code_verifier)).
    #[param(nullable = false)]
    code_challenge: Option<String>,
    /// `S256`.
    #[param(nullable = false)]
    code_challenge_method: Option<String>,
    /// Space-separated: `none`, `login`, `consent`.
    #[param(nullable = false)]
    prompt: Option<String>,
}

/// The consent form: the authorization request's parameters carried back beside the user's
/// decision.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "a shape for the document; `web::oauth::authorize` reads the pairs"
)]
pub(crate) struct ConsentForm {
    /// The consent page's anti-forgery token.
    csrf_token: String,
    /// The organization the user grants access in (slug).
    #[schema(nullable = false)]
    org: Option<String>,
    /// `approve`; anything else denies.
    decision: String,
    /// The authorization request's parameters, as in the query of `GET /oauth/authorize`.
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    response_type: Option<String>,
    #[schema(nullable = false)]
    redirect_uri: Option<String>,
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    state: Option<String>,
    #[schema(nullable = false)]
    code_challenge: Option<String>,
    #[schema(nullable = false)]
    code_challenge_method: Option<String>,
}

/// The sign-in form.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "a shape for the document; `web::oauth::authorize` reads it"
)]
pub(crate) struct LoginForm {
    username: String,
    #[schema(format = Password)]
    password: String,
    /// The sign-in page's anti-forgery token (also in its cookie).
    csrf_token: String,
    /// Where to go once signed in: `/oauth/authorize?…`, nothing else.
    return_to: String,
}

/// The sign-out form ("Not you?"): the session's anti-forgery token, and the authorization
/// request to return to, if any.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "a shape for the document; `web::oauth::authorize` reads the pairs"
)]
pub(crate) struct LogoutForm {
    /// The consent page's anti-forgery token: without it a live session is not ended (403).
    #[schema(nullable = false)]
    csrf_token: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    response_type: Option<String>,
    #[schema(nullable = false)]
    redirect_uri: Option<String>,
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    state: Option<String>,
}

/// The token request (RFC 6749 §4.1.3 and §6), as a form or a JSON object of strings. Client
/// credentials in HTTP Basic, or as `client_id` and `client_secret` here (§2.3.1).
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "a shape for the document; `oauth::params` reads the pairs"
)]
pub(crate) struct TokenRequest {
    grant_type: GrantType,
    /// With `authorization_code`.
    #[schema(nullable = false)]
    code: Option<String>,
    /// With `authorization_code`, when the authorization request had one.
    #[schema(nullable = false)]
    redirect_uri: Option<String>,
    /// PKCE (RFC 7636 §4.5), with `authorization_code`.
    #[schema(nullable = false)]
    code_verifier: Option<String>,
    /// With `refresh_token`.
    #[schema(nullable = false)]
    refresh_token: Option<String>,
    /// With `refresh_token`: a narrower set of the granted scopes.
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false, format = Password)]
    client_secret: Option<String>,
}

/// The grants the token endpoint supports.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) enum GrantType {
    AuthorizationCode,
    RefreshToken,
}

/// RFC 6749 §5.1's answer, as `web::oauth::token` writes it.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "a shape for the document; `web::oauth::token` writes the JSON"
)]
pub(crate) struct TokenResponse {
    /// A JWT (RFC 9068 profile).
    access_token: String,
    /// `Bearer`.
    token_type: String,
    /// Seconds.
    expires_in: u64,
    /// Space-separated granted scopes.
    scope: String,
    /// Present when the grant allows refreshing.
    #[schema(nullable = false)]
    refresh_token: Option<String>,
}

/// The revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1) request: the token, and
/// the client's credentials when they are not in `Authorization`.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "a shape for the document; `oauth::params` reads the pairs"
)]
pub(crate) struct PresentedTokenRequest {
    token: String,
    /// `access_token` or `refresh_token`; a hint only: the token's own shape says what it is.
    #[schema(nullable = false)]
    token_type_hint: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false, format = Password)]
    client_secret: Option<String>,
}

/// One match of a GitHub secret-scanning report.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "a shape for the document; `leaks::parse_report` reads it"
)]
pub(crate) struct ReportedSecret {
    /// The leaked text.
    token: String,
    /// The token pattern GitHub matched.
    #[schema(rename = "type", nullable = false)]
    token_type: Option<String>,
    /// Where it was found.
    #[schema(nullable = false)]
    url: Option<String>,
    /// e.g. `content`, `commit`, `gist`.
    #[schema(nullable = false)]
    source: Option<String>,
}

fn redirect(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .header("Location", header("Where to go."))
}

/// The authorization endpoint's answers but its errors.
pub(crate) struct AuthorizeAnswers;

impl IntoResponses for AuthorizeAnswers {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("200", html("The sign-in page, or the consent page.")),
            (
                "302",
                redirect(
                    "To the client's redirect URI with `code` and `state`, or with \
                an RFC 6749 §4.1.2.1 `error` (GET).",
                ),
            ),
            ("303", redirect("The same after the consent form (POST).")),
        ]
        .into_iter()
        .map(|(status, res)| (status.to_string(), RefOr::T(res.build())))
        .collect()
    }
}

/// The sign-in form's answers but its errors.
pub(crate) struct LoginAnswers;

impl IntoResponses for LoginAnswers {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            (
                "303",
                redirect("Signed in: back to the authorization request, with the session cookie."),
            ),
            (
                "401",
                html("The sign-in page again: the username or password is wrong."),
            ),
        ]
        .into_iter()
        .map(|(status, res)| (status.to_string(), RefOr::T(res.build())))
        .collect()
    }
}

/// The sign-out form's answers but its errors.
pub(crate) struct LogoutAnswers;

impl IntoResponses for LogoutAnswers {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("200", html("The \"Signed out\" page.")),
            (
                "303",
                redirect("Signed out: back to the authorization request the form carried."),
            ),
        ]
        .into_iter()
        .map(|(status, res)| (status.to_string(), RefOr::T(res.build())))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> serde_json::Value {
        // The defaults: nothing is connected to, the document only names the issuer.
        document(&Config::from_vars(&|_| None).unwrap())
    }

    #[test]
    fn every_route_of_the_table_is_in_the_document() {
        let doc = doc();
        let mut missing = Vec::new();
        let operations = super::super::routes::operations();
        assert!(operations.len() > 30, "{operations:?}");
        for (method, path) in operations {
            // HEAD is GET without the body (RFC 9110 §9.3.2): documented by the GET.
            let method = if method == "HEAD" { "GET" } else { method };
            if doc["paths"][&path][method.to_ascii_lowercase()].is_null() {
                missing.push(format!("{method} {path}"));
            }
        }
        assert!(missing.is_empty(), "routes the document lacks: {missing:?}");
    }

    #[test]
    fn the_document_has_no_operation_the_table_lacks() {
        let doc = doc();
        let table: Vec<(String, String)> = super::super::routes::operations()
            .into_iter()
            .map(|(m, p)| (m.to_ascii_lowercase(), p))
            .collect();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                assert!(
                    table.contains(&(method.clone(), path.clone())),
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_with_its_security_schemes_and_webhooks() {
        let doc = doc();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        for scheme in ["oauth2", "bearer", "api_key", "client_basic"] {
            assert!(
                doc["components"]["securitySchemes"][scheme].is_object(),
                "{scheme}"
            );
        }
        let flow = &doc["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"];
        assert!(
            flow["tokenUrl"].as_str().unwrap().ends_with("/oauth/token"),
            "{flow}"
        );
        assert!(doc["webhooks"]["integration.revoked"]["post"].is_object());
        // Found by schemathesis: a sign-out without a body is answered, so it is optional.
        assert_eq!(
            doc["paths"]["/oauth/logout"]["post"]["requestBody"]["required"],
            false
        );
        // Every reference resolves.
        let text = doc.to_string();
        for name in text
            .split("\"#/components/schemas/")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
        {
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling reference to {name}"
            );
        }
    }
}

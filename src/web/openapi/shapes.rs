//! The shapes the document names that no handler or domain type owns: the error envelopes and
//! answer sets each endpoint family shares, the OAuth forms (read as pairs by `oauth::params`),
//! and the answers written with `json!`. Handlers name them in their `#[utoipa::path]`; the
//! document (`super`) gathers them. Nothing here knows a handler.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
};
use utoipa::{IntoParams, IntoResponses, ToSchema};

/// The `/v1` error envelope, as `web::error::ApiError` writes it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiErrorBody {
    pub(crate) error: ApiErrorObject,
}

/// The error object of the `/v1` envelope.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiErrorObject {
    /// A stable code: `invalid_request`, `unauthorized`, `forbidden`, `forbidden_scope`, `plan_upgrade_required`,
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

pub(super) fn header(description: &str) -> utoipa::openapi::Header {
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
pub(super) fn answers(
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
                    "The token lacks the scope (`forbidden_scope`, with `required_scope`) or the role (`forbidden`), or the organization's plan lacks the feature (`plan_upgrade_required`, naming the plan that has it).",
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
        built([
            ("200", html("The sign-in page, or the consent page.")),
            (
                "302",
                redirect(
                    "To the client's redirect URI with `code` and `state`, or with \
                an RFC 6749 §4.1.2.1 `error` (GET).",
                ),
            ),
            ("303", redirect("The same after the consent form (POST).")),
        ])
    }
}

/// Answers whose builders differ by status, keyed by status.
fn built<const N: usize>(
    answers: [(&str, ResponseBuilder); N],
) -> BTreeMap<String, RefOr<Response>> {
    answers
        .into_iter()
        .map(|(status, res)| (status.to_string(), RefOr::T(res.build())))
        .collect()
}

/// The sign-in form's answers but its errors.
pub(crate) struct LoginAnswers;

impl IntoResponses for LoginAnswers {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        built([
            (
                "303",
                redirect("Signed in: back to the authorization request, with the session cookie."),
            ),
            (
                "401",
                html("The sign-in page again: the username or password is wrong."),
            ),
        ])
    }
}

/// The sign-out form's answers but its errors.
pub(crate) struct LogoutAnswers;

impl IntoResponses for LogoutAnswers {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        built([
            ("200", html("The \"Signed out\" page.")),
            (
                "303",
                redirect("Signed out: back to the authorization request the form carried."),
            ),
        ])
    }
}

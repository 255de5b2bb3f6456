//! `GET /openapi.json`: the OpenAPI 3.1 contract of every endpoint Tessera serves.
//!
//! Generated from the code by utoipa: each handler carries its `#[utoipa::path(…)]` (method,
//! path, parameters, request body, answers), each answered type its `ToSchema` derive where it is
//! defined — in the domain too, since utoipa knows no HTTP framework. This module gathers them
//! ([`ApiDoc`]), adds what no one handler owns — the security schemes, the error answers every
//! endpoint family shares and the shapes of the answers written with `json!` (both in [`shapes`],
//! which knows no handler, so that handlers and the document do not import each other) — and
//! serves the document.
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

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::ResponseBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, AuthorizationCode, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes,
    SecurityScheme,
};

use super::paths::{
    AUTHORIZE_PATH, JWKS_PATH, LOGOUT_PATH, METADATA_PATH, REVOKE_PATH, TOKEN_PATH,
};
use super::state::AppState;
use crate::config::Config;

pub(crate) mod shapes;

use shapes::{
    ApiErrorBody, ApiErrorObject, BadInput, NotReady, OAuthErrorBody, WebhookEvent, header,
};

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
        super::v1::clients::list,
        super::v1::clients::create,
        super::v1::clients::show,
        super::v1::clients::update,
        super::v1::clients::delete,
        super::v1::clients::rotate_secret,
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
        super::v1::members::list,
        super::v1::members::add,
        super::v1::members::show,
        super::v1::members::set_role,
        super::v1::members::remove,
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
        (name = "clients", description = "An organization's OAuth clients (the apps it registers)."),
        (name = "webhooks", description = "An organization's webhook endpoints (Standard Webhooks)."),
        (name = "members", description = "An organization's members and their roles."),
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
                        ("clients:manage", "manage the organization's OAuth clients"),
                        (
                            "webhooks:manage",
                            "manage the organization's webhook endpoints",
                        ),
                        ("audit:read", "read the organization's audit trail"),
                        (
                            "members:manage",
                            "manage the organization's members and their roles",
                        ),
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

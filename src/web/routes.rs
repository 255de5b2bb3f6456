//! Every route of Tessera, in one table: the whole HTTP surface at a glance. The OpenAPI
//! document (`web::openapi`) is held to it by a test — all but the console's HTML pages, which
//! are not the JSON API.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::{FromRequest, Handler, Responder, Route, web};

use super::paths::*;
use super::{body, console, cors, error, health, oauth, openapi, v1, well_known};

/// The whole HTTP surface of Tessera.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(body::JSON_LIMIT)
            .error_handler(error::json_error),
    )
    .app_data(web::FormConfig::default().limit(body::FORM_LIMIT))
    .app_data(web::PayloadConfig::default().limit(body::JSON_LIMIT))
    .app_data(web::PathConfig::default().error_handler(error::path_error))
    .app_data(web::QueryConfig::default().error_handler(error::query_error));
    let Table { top, org, console } = table();
    for resource in top.into_iter().chain(console) {
        cfg.service(resource);
    }
    let mut scope = web::scope(ORG_SCOPE);
    for resource in org {
        scope = scope.service(resource);
    }
    cfg.service(scope);
}

/// The resources: those at the top, the management API's under [`ORG_SCOPE`], and the
/// console's HTML pages (`web::console`).
struct Table {
    top: Vec<Methods>,
    org: Vec<Methods>,
    console: Vec<Methods>,
}

fn table() -> Table {
    let top = vec![
        // Operations, and the OpenAPI document of everything here (`web::openapi`).
        get(HEALTHZ_PATH).to(health::healthz),
        get(READYZ_PATH).to(health::readyz),
        get(OPENAPI_PATH).to(openapi::document_handler),
        // Discovery (RFC 8414) and the public keys.
        get(METADATA_PATH)
            .to(well_known::metadata)
            .also_options(cors::public_preflight),
        get(JWKS_PATH)
            .to(well_known::jwks)
            .also_options(cors::public_preflight),
        // OAuth 2.0 (RFC 6749, 7009, 7662).
        get(AUTHORIZE_PATH)
            .to(oauth::authorize::get)
            .also_post(oauth::authorize::post),
        post(LOGIN_PATH).to(oauth::authorize::login),
        post(LOGOUT_PATH).to(oauth::authorize::logout),
        post(TOKEN_PATH)
            .to(oauth::token::token)
            .also_options(cors::client_preflight),
        post(REVOKE_PATH)
            .to(oauth::revoke::revoke)
            .also_options(cors::client_preflight),
        post(INTROSPECT_PATH).to(oauth::introspect::introspect),
        // The gateway check.
        get(CHECK_PATH)
            .to(v1::check::check)
            .also_post(v1::check::check),
        // Leaked-token reports.
        post(SECRET_SCANNING_GITHUB_PATH).to(v1::secret_scanning::github),
    ];
    // The management API.
    let org = vec![
        get("/integrations")
            .to(v1::integrations::list)
            .also_post(v1::integrations::create),
        get("/integrations/{id}")
            .to(v1::integrations::show)
            .also_patch(v1::integrations::update),
        post("/integrations/{id}/rotate").to(v1::integrations::rotate),
        post("/integrations/{id}/expire").to(v1::integrations::expire),
        post("/integrations/{id}/revoke").to(v1::integrations::revoke),
        get("/clients")
            .to(v1::clients::list)
            .also_post(v1::clients::create),
        get("/clients/{client_id}")
            .to(v1::clients::show)
            .also_patch(v1::clients::update)
            .also_delete(v1::clients::delete),
        post("/clients/{client_id}/rotate-secret").to(v1::clients::rotate_secret),
        get("/webhooks")
            .to(v1::webhooks::list)
            .also_post(v1::webhooks::create),
        get("/webhooks/{id}")
            .to(v1::webhooks::show)
            .also_patch(v1::webhooks::update)
            .also_delete(v1::webhooks::delete),
        post("/webhooks/{id}/enable").to(v1::webhooks::enable),
        post("/webhooks/{id}/disable").to(v1::webhooks::disable),
        post("/webhooks/{id}/rotate-secret").to(v1::webhooks::rotate_secret),
        post("/webhooks/{id}/test").to(v1::webhooks::test),
        get("/webhooks/{id}/deliveries").to(v1::webhooks::deliveries),
        post("/webhooks/{id}/deliveries/{delivery}/redeliver").to(v1::webhooks::redeliver),
        get("/members")
            .to(v1::members::list)
            .also_post(v1::members::add),
        get("/members/{username}")
            .to(v1::members::show)
            .also_patch(v1::members::set_role)
            .also_delete(v1::members::remove),
        get("/audit").to(v1::audit::list),
    ];
    // The console: HTML pages for people, under `/console` (and `/`, which leads there).
    let console = vec![
        get(ROOT_PATH).to(console::sign_in::root),
        get(CONSOLE_PATH).to(console::sign_in::home),
        post(CONSOLE_SIGN_IN_PATH).to(console::sign_in::sign_in),
        post(CONSOLE_SIGN_OUT_PATH).to(console::sign_in::sign_out),
        get(CONSOLE_ACCOUNT_PATH).to(console::account::show),
        post("/console/account/password").to(console::account::change_password),
        post("/console/account/sign-out-everywhere").to(console::account::sign_out_everywhere),
        get(CONSOLE_ASSETS_SCRIPT_PATH).to(console::assets::script),
        get(CONSOLE_ASSETS_STYLE_PATH).to(console::assets::style),
        get(CONSOLE_ASSETS_ICON_PATH).to(console::assets::icon),
        get("/console/orgs/{org}").to(console::org_home),
        get("/console/orgs/{org}/integrations").to(console::integrations::list),
        // Before `{id}`, which would match it.
        get("/console/orgs/{org}/integrations/new")
            .to(console::integrations::new)
            .also_post(console::integrations::create),
        get("/console/orgs/{org}/integrations/{id}").to(console::integrations::show),
        get("/console/orgs/{org}/integrations/{id}/rotate")
            .to(console::integrations::rotate_page)
            .also_post(console::integrations::rotate),
        get("/console/orgs/{org}/integrations/{id}/expire")
            .to(console::integrations::expire_page)
            .also_post(console::integrations::expire),
        get("/console/orgs/{org}/integrations/{id}/revoke")
            .to(console::integrations::revoke_page)
            .also_post(console::integrations::revoke),
        get("/console/orgs/{org}/integrations/{id}/edit")
            .to(console::integrations::edit_page)
            .also_post(console::integrations::edit),
        get("/console/orgs/{org}/clients").to(console::clients::list),
        // Before `{client_id}`, which would match it.
        get("/console/orgs/{org}/clients/new")
            .to(console::clients::new)
            .also_post(console::clients::create),
        get("/console/orgs/{org}/clients/{client_id}").to(console::clients::show),
        get("/console/orgs/{org}/clients/{client_id}/rotate-secret")
            .to(console::clients::rotate_page)
            .also_post(console::clients::rotate),
        get("/console/orgs/{org}/clients/{client_id}/edit")
            .to(console::clients::edit_page)
            .also_post(console::clients::edit),
        get("/console/orgs/{org}/clients/{client_id}/delete")
            .to(console::clients::delete_page)
            .also_post(console::clients::delete),
        get("/console/orgs/{org}/members")
            .to(console::members::list)
            .also_post(console::members::add),
        post("/console/orgs/{org}/members/{username}/role").to(console::members::set_role),
        get("/console/orgs/{org}/members/{username}/remove")
            .to(console::members::remove_page)
            .also_post(console::members::remove),
        get("/console/orgs/{org}/audit").to(console::audit::list),
        // Last: any other console path is an HTML 404, not the API's JSON one.
        get("/console/{rest:.*}").to(console::not_found),
    ];
    Table { top, org, console }
}

/// Every route the table registers, as (method, full path template) — `HEAD` and `OPTIONS`
/// included — for the test that holds the OpenAPI document (`web::openapi`) to the table.
/// The console's routes are left out: they are HTML pages for people (`web::console`), not
/// the JSON API the document describes.
#[cfg(test)]
pub(crate) fn operations() -> Vec<(&'static str, String)> {
    let Table {
        top,
        org,
        console: _,
    } = table();
    let top = top.iter().map(|m| (m, m.path.to_string()));
    let org = org.iter().map(|m| (m, format!("{ORG_SCOPE}{}", m.path)));
    top.chain(org)
        .flat_map(|(m, path)| m.allow.iter().map(move |method| (*method, path.clone())))
        .collect()
}

/// A resource answered by `GET` — and `HEAD`, the same without the body (RFC 9110 §9.3.2).
fn get(path: &'static str) -> Methods {
    Methods {
        path,
        allow: vec!["GET", "HEAD"],
        routes: Vec::new(),
        main: Method::Get,
    }
}

/// A resource answered by `POST` only.
fn post(path: &'static str) -> Methods {
    Methods {
        path,
        allow: vec!["POST"],
        routes: Vec::new(),
        main: Method::Post,
    }
}

enum Method {
    Get,
    Post,
}

/// The methods of one resource. Any other method answers 405 with `Allow` (RFC 9110 §15.5.6).
struct Methods {
    path: &'static str,
    allow: Vec<&'static str>,
    routes: Vec<Route>,
    main: Method,
}

impl Methods {
    fn to<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        match self.main {
            Method::Get => {
                self.routes.push(web::get().to(handler.clone()));
                self.routes.push(web::head().to(handler));
            }
            Method::Post => self.routes.push(web::post().to(handler)),
        }
        self
    }

    fn also_post<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.push("POST");
        self.routes.push(web::post().to(handler));
        self
    }

    /// `OPTIONS`: the CORS preflight of a resource browsers call from other origins.
    fn also_options<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.push("OPTIONS");
        self.routes.push(
            web::route()
                .method(actix_web::http::Method::OPTIONS)
                .to(handler),
        );
        self
    }

    fn also_delete<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.push("DELETE");
        self.routes.push(web::delete().to(handler));
        self
    }

    fn also_patch<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.push("PATCH");
        self.routes.push(web::patch().to(handler));
        self
    }
}

impl HttpServiceFactory for Methods {
    fn register(self, config: &mut AppService) {
        let allow = self.allow.join(", ");
        let mut resource = web::resource(self.path);
        for route in self.routes {
            resource = resource.route(route);
        }
        resource
            .default_service(web::to(move || {
                let allow = allow.clone();
                async move { error::method_not_allowed(&allow) }
            }))
            .register(config);
    }
}

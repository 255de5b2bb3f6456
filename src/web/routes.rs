//! Every route of Tessera, in one table: the whole HTTP surface at a glance.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::{FromRequest, Handler, Responder, Route, web};

use super::paths::*;
use super::{body, cors, error, health, oauth, v1, well_known};

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
    .app_data(web::QueryConfig::default().error_handler(error::query_error))
    // Operations.
    .service(get(HEALTHZ_PATH).to(health::healthz))
    .service(get(READYZ_PATH).to(health::readyz))
    // Discovery (RFC 8414) and the public keys.
    .service(
        get(METADATA_PATH)
            .to(well_known::metadata)
            .also_options(cors::public_preflight),
    )
    .service(
        get(JWKS_PATH)
            .to(well_known::jwks)
            .also_options(cors::public_preflight),
    )
    // OAuth 2.0 (RFC 6749, 7009, 7662).
    .service(
        get(AUTHORIZE_PATH)
            .to(oauth::authorize::get)
            .also_post(oauth::authorize::post),
    )
    .service(post(LOGIN_PATH).to(oauth::authorize::login))
    .service(post(LOGOUT_PATH).to(oauth::authorize::logout))
    .service(
        post(TOKEN_PATH)
            .to(oauth::token::token)
            .also_options(cors::client_preflight),
    )
    .service(
        post(REVOKE_PATH)
            .to(oauth::revoke::revoke)
            .also_options(cors::client_preflight),
    )
    .service(post(INTROSPECT_PATH).to(oauth::introspect::introspect))
    // The gateway check.
    .service(
        get(CHECK_PATH)
            .to(v1::check::check)
            .also_post(v1::check::check),
    )
    // Leaked-token reports.
    .service(post(SECRET_SCANNING_GITHUB_PATH).to(v1::secret_scanning::github))
    // The management API.
    .service(
        web::scope(ORG_SCOPE)
            .service(
                get("/integrations")
                    .to(v1::integrations::list)
                    .also_post(v1::integrations::create),
            )
            .service(
                get("/integrations/{id}")
                    .to(v1::integrations::show)
                    .also_patch(v1::integrations::update),
            )
            .service(post("/integrations/{id}/rotate").to(v1::integrations::rotate))
            .service(post("/integrations/{id}/expire").to(v1::integrations::expire))
            .service(post("/integrations/{id}/revoke").to(v1::integrations::revoke))
            .service(
                get("/webhooks")
                    .to(v1::webhooks::list)
                    .also_post(v1::webhooks::create),
            )
            .service(
                get("/webhooks/{id}")
                    .to(v1::webhooks::show)
                    .also_patch(v1::webhooks::update)
                    .also_delete(v1::webhooks::delete),
            )
            .service(post("/webhooks/{id}/enable").to(v1::webhooks::enable))
            .service(post("/webhooks/{id}/disable").to(v1::webhooks::disable))
            .service(post("/webhooks/{id}/rotate-secret").to(v1::webhooks::rotate_secret))
            .service(post("/webhooks/{id}/test").to(v1::webhooks::test))
            .service(get("/webhooks/{id}/deliveries").to(v1::webhooks::deliveries))
            .service(
                post("/webhooks/{id}/deliveries/{delivery}/redeliver").to(v1::webhooks::redeliver),
            )
            .service(get("/audit").to(v1::audit::list)),
    );
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

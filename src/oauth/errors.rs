//! RFC 6749 §5.2 error answers (`{"error", "error_description"}`), with `Cache-Control:
//! no-store` on every token-endpoint answer (§5.1).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: &'static str,
    pub description: String,
    pub status: StatusCode,
}

impl Refusal {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Refusal {
            error,
            description: description.into(),
            status,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        self
    }

    pub fn unavailable() -> Self {
        Refusal::new(
            "temporarily_unavailable",
            "the database cannot answer right now; try again",
        )
    }

    pub fn response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        no_store(&mut res);
        // §5.2: a client that used Basic must get 401 with a Basic challenge; one that sent
        // its secret in the body gets the same, which tells it which scheme is supported
        // (a 401 always carries WWW-Authenticate, RFC 9110 §15.5.2).
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="tessera""#));
        }
        res.json(json!({ "error": self.error, "error_description": self.description }))
    }
}

/// Tokens and credentials must never be cached (RFC 6749 §5.1).
pub fn no_store(res: &mut actix_web::HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
}

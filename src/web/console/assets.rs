//! The console's script, stylesheet and icon, compiled into the binary. Pages link them with a
//! `?v=` of their content's digest, so they can be cached for a year and still change with
//! each release.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use sha2::{Digest, Sha256};

use crate::web::paths::{
    CONSOLE_ASSETS_ICON_PATH, CONSOLE_ASSETS_SCRIPT_PATH, CONSOLE_ASSETS_STYLE_PATH,
};

/// The console's Content-Security-Policy, on its pages and these files alike: its own script
/// and stylesheet only (no inline script), forms only to itself, never framed, no `<base>`.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");
const ICON: &str = include_str!("assets/favicon.svg");

/// The first 16 hex digits of the SHA-256 of `content`.
fn digest(content: &str) -> String {
    Sha256::digest(content.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

static SCRIPT_URL: LazyLock<String> =
    LazyLock::new(|| format!("{CONSOLE_ASSETS_SCRIPT_PATH}?v={}", digest(SCRIPT)));
static STYLE_URL: LazyLock<String> =
    LazyLock::new(|| format!("{CONSOLE_ASSETS_STYLE_PATH}?v={}", digest(STYLE)));
static ICON_URL: LazyLock<String> =
    LazyLock::new(|| format!("{CONSOLE_ASSETS_ICON_PATH}?v={}", digest(ICON)));

/// The script's URL as pages link it.
pub(crate) fn script_url() -> &'static str {
    &SCRIPT_URL
}

/// The stylesheet's URL as pages link it.
pub(crate) fn style_url() -> &'static str {
    &STYLE_URL
}

/// The icon's URL as pages link it.
pub(crate) fn icon_url() -> &'static str {
    &ICON_URL
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .body(body)
}

/// `GET /console/assets/console.js`: the copy button.
pub(crate) async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /console/assets/console.css`.
pub(crate) async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /console/assets/favicon.svg`.
pub(crate) async fn icon() -> HttpResponse {
    asset("image/svg+xml", ICON)
}

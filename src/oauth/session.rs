//! The sign-in session cookie and the anti-forgery tokens of the sign-in and consent forms.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::tokens::secret::{SecretHash, random_base62};

pub const SESSION_COOKIE: &str = "tessera_session";
/// Double-submit token for the sign-in form, which is shown before any session exists.
pub const LOGIN_CSRF_COOKIE: &str = "tessera_login_csrf";

/// The hash of the session cookie the browser sent, if any (the store keeps only hashes).
pub fn session_hash(req: &HttpRequest) -> Option<SecretHash> {
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(|v| SecretHash::of(&v))
}

/// A new random session id (shown to the browser) and its hash (stored).
pub fn new_session_id() -> (String, SecretHash) {
    let id = random_base62(43);
    let hash = SecretHash::of(&id);
    (id, hash)
}

pub fn new_csrf_token() -> String {
    random_base62(32)
}

/// Compares a submitted anti-forgery token with the expected one in constant time.
pub fn csrf_matches(expected: &str, submitted: Option<&str>) -> bool {
    match submitted {
        Some(s) if !expected.is_empty() => expected.as_bytes().ct_eq(s.as_bytes()).into(),
        _ => false,
    }
}

fn base_cookie<'c>(config: &Config, name: &'c str, value: String) -> Cookie<'c> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_secure(config.secure_cookies());
    c.set_path("/");
    c
}

/// `HttpOnly; SameSite=Lax` so that the top-level redirect from a client app carries it,
/// `Secure` whenever the issuer is https.
pub fn session_cookie(config: &Config, id: String) -> Cookie<'static> {
    let mut c = base_cookie(config, SESSION_COOKIE, id);
    c.set_same_site(SameSite::Lax);
    c.set_max_age(CookieDuration::seconds(config.session_ttl.as_secs() as i64));
    c
}

pub fn login_csrf_cookie(config: &Config, token: String) -> Cookie<'static> {
    let mut c = base_cookie(config, LOGIN_CSRF_COOKIE, token);
    c.set_same_site(SameSite::Strict);
    c.set_max_age(CookieDuration::hours(1));
    c
}

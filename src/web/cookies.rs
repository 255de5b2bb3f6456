//! The browser's cookies: the sign-in session (set at sign-in, cleared at sign-out) and the
//! sign-in form's anti-forgery token.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};

use crate::config::Config;
use crate::oauth::session;
use crate::tokens::secret::SecretHash;

pub(crate) const SESSION_COOKIE: &str = "tessera_session";
/// Double-submit token for the sign-in form, which is shown before any session exists.
pub(crate) const LOGIN_CSRF_COOKIE: &str = "tessera_login_csrf";

/// The hash of the session cookie the browser sent, if any (the store keeps only hashes).
pub(crate) fn session_hash(req: &HttpRequest) -> Option<SecretHash> {
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(|v| SecretHash::of(&v))
}

/// The sign-in form's anti-forgery token the browser holds, if it has a well-formed one.
pub(crate) fn login_csrf(req: &HttpRequest) -> Option<String> {
    req.cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| session::is_csrf_token(v))
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
pub(crate) fn session_cookie(config: &Config, id: String) -> Cookie<'static> {
    let mut c = base_cookie(config, SESSION_COOKIE, id);
    c.set_same_site(SameSite::Lax);
    c.set_max_age(CookieDuration::seconds(config.session_ttl.as_secs() as i64));
    c
}

pub(crate) fn login_csrf_cookie(config: &Config, token: String) -> Cookie<'static> {
    let mut c = base_cookie(config, LOGIN_CSRF_COOKIE, token);
    c.set_same_site(SameSite::Strict);
    c.set_max_age(CookieDuration::hours(1));
    c
}

/// The session cookie's removal: the same name, path and flags, no value, `Max-Age=0` (and an
/// `Expires` in the past for older browsers).
pub(crate) fn cleared_session_cookie(config: &Config) -> Cookie<'static> {
    let mut c = base_cookie(config, SESSION_COOKIE, String::new());
    c.set_same_site(SameSite::Lax);
    c.make_removal();
    c
}

//! The paths of Tessera's HTTP surface, which the route table, discovery metadata, the pages'
//! forms and the log filter share.

/// The front page: it leads to the console.
pub(crate) const ROOT_PATH: &str = "/";
pub(crate) const HEALTHZ_PATH: &str = "/healthz";
pub(crate) const READYZ_PATH: &str = "/readyz";
/// The OpenAPI 3.1 document of this surface (`web::openapi`).
pub(crate) const OPENAPI_PATH: &str = "/openapi.json";
pub(crate) const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
pub(crate) const JWKS_PATH: &str = "/.well-known/jwks.json";
pub(crate) const AUTHORIZE_PATH: &str = "/oauth/authorize";
pub(crate) const LOGIN_PATH: &str = "/oauth/login";
/// Signing out of the authorization pages (the session ends; see `web::oauth::authorize`).
pub(crate) const LOGOUT_PATH: &str = "/oauth/logout";
pub(crate) const TOKEN_PATH: &str = "/oauth/token";
pub(crate) const REVOKE_PATH: &str = "/oauth/revoke";
pub(crate) const INTROSPECT_PATH: &str = "/oauth/introspect";
pub(crate) const CHECK_PATH: &str = "/v1/check";
/// GitHub secret-scanning partner reports of leaked tokens (`crate::leaks`).
pub(crate) const SECRET_SCANNING_GITHUB_PATH: &str = "/v1/secret-scanning/github";
/// The management API: one organization's integrations, webhooks and audit trail.
pub(crate) const ORG_SCOPE: &str = "/v1/orgs/{org}";
/// The console: organization admins' pages in the browser (`web::console`).
pub(crate) const CONSOLE_PATH: &str = "/console";
pub(crate) const CONSOLE_SIGN_IN_PATH: &str = "/console/sign-in";
/// Ends the sign-in session, which the console and the authorization pages share.
pub(crate) const CONSOLE_SIGN_OUT_PATH: &str = "/console/sign-out";
pub(crate) const CONSOLE_ACCOUNT_PATH: &str = "/console/account";
pub(crate) const CONSOLE_ASSETS_SCRIPT_PATH: &str = "/console/assets/console.js";
pub(crate) const CONSOLE_ASSETS_STYLE_PATH: &str = "/console/assets/console.css";
pub(crate) const CONSOLE_ASSETS_ICON_PATH: &str = "/console/assets/favicon.svg";

//! The authorization endpoint's decision (RFC 6749 §4.1.1–4.1.2) with sign-in and consent.
//!
//! [`decide`] takes every request, GET or the consent form's POST, through these steps:
//! 1. [`validate`]: oxide-auth's authorization state machine checks the request; Tessera answers
//!    its steps — the client and its redirect URI (exact match, RFC 9700 §4.1.3), PKCE
//!    (RFC 7636 §4.4, [`super::pkce`]), the scope registered for the client. An unknown client or
//!    URI gets an error page and is never redirected to (§4.1.2.1: that would make Tessera an
//!    open redirector); any other error redirects with `error`, `state` and `iss` (RFC 9207).
//! 2. [`signed_in`]: no live session means the sign-in page (`prompt=none`: `login_required`);
//!    so does a session whose password was typed longer ago than `TESSERA_REAUTH_WINDOW` when
//!    a management scope is asked for.
//! 3. [`what_each_org_allows`]: the requested scopes, capped by the user's role in each of
//!    their organizations.
//! 4. [`consent`]: a remembered consent covering the scopes (and no `prompt=consent`) goes on at
//!    once; otherwise the consent page, whose POST approves (remembering it) or denies.
//! 5. [`issue_code`]: the code, bound to client, redirect URI, PKCE challenge, user,
//!    organization and capped scope, and the redirect that carries it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use oxide_auth::code_grant::authorization::{self as az, Authorization, Input, Output};
use oxide_auth::code_grant::error::AuthorizationErrorType;
use oxide_auth::primitives::grant::Extensions;
use oxide_auth::primitives::registrar::{BoundClient, ExactUrl, PreGrant, RegisteredUrl};
use oxide_auth::primitives::scope::Scope;
use url::Url;

use super::clients::KnownClient;
use super::errors::OAuthError;
use super::{CODE_TTL, OAuthContext, canonical_scope, pkce};
use crate::clock;
use crate::store::clients::Client;
use crate::store::consents;
use crate::store::grants::{AuthorizationCode, NewCode};
use crate::store::scopes::ScopeDef;
use crate::store::sessions::Session;
use crate::store::users::{Membership, User};
use crate::store::{DbConn, StoreError, write};
use crate::tokens::secret::{self, SecretHash};

const MAX_PARAMS: usize = 32;
const MAX_VALUE_LEN: usize = 2048;
const MAX_NAME_LEN: usize = 64;
/// The consent and sign-out forms' own fields, which no authorization request may carry.
pub(crate) const FORM_FIELDS: [&str; 3] = ["csrf_token", "org", "decision"];

/// The parameters of an authorization request, each at most once (RFC 6749 §3.1).
pub(crate) struct AuthorizeParams {
    pairs: Vec<(String, String)>,
    map: HashMap<String, String>,
}

impl AuthorizeParams {
    /// The request's parameters, in order. Parameters without a value count as omitted
    /// (§3.1); one given twice is an error.
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, String> {
        if pairs.len() > MAX_PARAMS {
            return Err("too many parameters".into());
        }
        let mut map = HashMap::new();
        let mut kept = Vec::new();
        for (k, v) in pairs {
            if v.len() > MAX_VALUE_LEN || k.len() > MAX_NAME_LEN {
                return Err(format!("parameter {k:?} is too long"));
            }
            // RFC 6749 Appendix A: no parameter holds a control character.
            if super::params::has_control(&k) || super::params::has_control(&v) {
                return Err("a parameter holds a control character".into());
            }
            // The consent and sign-out forms carry the request back beside their own fields;
            // a request that named one of them would decide for the user (a hidden
            // decision=approve before the Deny button, another organization's org).
            if FORM_FIELDS.contains(&k.as_str()) {
                return Err(format!("parameter {k:?} is not an authorization parameter"));
            }
            if map.contains_key(&k) {
                return Err(format!("parameter {k:?} appears more than once"));
            }
            if v.is_empty() {
                continue;
            }
            map.insert(k.clone(), v.clone());
            kept.push((k, v));
        }
        Ok(AuthorizeParams { pairs: kept, map })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// Whether `prompt` (a space-separated list, as in OpenID Connect) holds `value`.
    fn prompts(&self, value: &str) -> bool {
        self.get("prompt")
            .is_some_and(|p| p.split(' ').any(|v| v == value))
    }

    /// The parameters with `login` dropped from `prompt`: once signed in, asking to sign in
    /// again would loop. `consent` stays: the user must still see the consent page.
    fn without_login_prompt(&self) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .filter_map(|(k, v)| {
                if k != "prompt" {
                    return Some((k.clone(), v.clone()));
                }
                let rest: Vec<&str> = v
                    .split(' ')
                    .filter(|p| *p != "login" && !p.is_empty())
                    .collect();
                (!rest.is_empty()).then(|| (k.clone(), rest.join(" ")))
            })
            .collect()
    }

    /// The request again as a query string, to return to after signing in or out.
    pub(crate) fn return_query(&self) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.extend_pairs(self.without_login_prompt());
        ser.finish()
    }
}

impl az::Request for AuthorizeParams {
    fn valid(&self) -> bool {
        true
    }

    fn client_id(&self) -> Option<Cow<'_, str>> {
        self.get("client_id").map(Into::into)
    }

    fn scope(&self) -> Option<Cow<'_, str>> {
        self.get("scope").map(Into::into)
    }

    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        self.get("redirect_uri").map(Into::into)
    }

    fn state(&self) -> Option<Cow<'_, str>> {
        self.get("state").map(Into::into)
    }

    fn response_type(&self) -> Option<Cow<'_, str>> {
        self.get("response_type").map(Into::into)
    }

    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.get(key).map(Into::into)
    }
}

/// The consent form's answer.
pub(crate) struct Submission {
    pub(crate) csrf_token: Option<String>,
    pub(crate) org: Option<String>,
    pub(crate) approve: bool,
}

/// Why the endpoint shows an error page instead of redirecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Unknown client or unregistered redirect URI: nothing may be sent back (§4.1.2.1).
    UnknownClientOrRedirect,
    /// The consent form's anti-forgery token does not match the session.
    ConsentFormExpired,
    /// The consent form named an organization the user is not in.
    InvalidOrganization,
}

/// What the endpoint answers.
pub(crate) enum Answer {
    /// Back to the client, with a code or an error.
    Redirect(Url),
    ErrorPage(Stop),
    /// The sign-in page, returning to the authorization request `return_query`.
    Login {
        client_name: String,
        return_query: String,
    },
    Consent(ConsentData),
}

/// The consent page's content.
pub(crate) struct ConsentData {
    pub(crate) client_name: String,
    pub(crate) client_org: String,
    pub(crate) username: String,
    pub(crate) orgs: Vec<OrgChoice>,
    /// The authorization request, re-submitted with the decision.
    pub(crate) params: Vec<(String, String)>,
    pub(crate) csrf: String,
}

pub(crate) struct ScopeLine {
    pub(crate) name: String,
    pub(crate) description: String,
}

/// What the app would get in one of the user's organizations.
pub(crate) struct OrgChoice {
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) grantable: Vec<ScopeLine>,
    /// Requested scopes the user's role in this organization does not allow.
    pub(crate) withheld: Vec<String>,
}

/// A request that passed step 1.
struct Valid {
    client: Arc<KnownClient>,
    /// Where the response goes: the request's `redirect_uri` exactly as sent (a registered
    /// one, or a loopback one with another port), or the sole registered one.
    redirect_uri: String,
    /// Whether the request carried `redirect_uri` (§4.1.3: the token request must repeat it).
    redirect_uri_given: bool,
    pre_grant: PreGrant,
    state: Option<String>,
    /// The PKCE challenge to store with the code.
    challenge: Option<String>,
}

impl Valid {
    /// An error redirect back to the client with `state` and `iss` (§4.1.2.1, RFC 9207).
    fn refuse(&self, ctx: &OAuthContext, error: OAuthError, description: &str) -> Answer {
        error_redirect(
            ctx,
            &self.redirect_uri,
            self.state.as_deref(),
            error,
            description,
        )
    }
}

/// RFC 9207: every authorization response names its issuer.
fn with_iss(mut url: Url, issuer: &str) -> Url {
    url.query_pairs_mut().append_pair("iss", issuer);
    url
}

/// Runs the authorization request through steps 1–5.
pub(crate) fn decide(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    params: &AuthorizeParams,
    session_hash: Option<SecretHash>,
    submission: Option<Submission>,
) -> Result<Answer, StoreError> {
    let valid = match validate(conn, ctx, params)? {
        Ok(valid) => valid,
        Err(answer) => return Ok(answer),
    };
    let session = match signed_in(
        conn,
        ctx,
        params,
        &valid,
        session_hash,
        submission.is_some(),
    )? {
        Ok(session) => session,
        Err(answer) => return Ok(answer),
    };
    let choices = what_each_org_allows(conn, &valid, &session)?;
    if choices.iter().all(|(_, c)| c.grantable.is_empty()) {
        return Ok(valid.refuse(
            ctx,
            OAuthError::AccessDenied,
            "the user's role does not allow any of the requested scopes",
        ));
    }
    let (org_id, scopes) = match consent(conn, ctx, params, &valid, &session, choices, submission)?
    {
        Ok(chosen) => chosen,
        Err(answer) => return Ok(answer),
    };
    issue_code(conn, ctx, &valid, session.user_id, org_id, &scopes)
}

/// Step 1: oxide-auth's state machine, each of its questions answered here.
fn validate(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    params: &AuthorizeParams,
) -> Result<Result<Valid, Answer>, StoreError> {
    let mut machine = Authorization::new(params);
    let mut input = Input::None;
    let mut bound: Option<(Arc<KnownClient>, String)> = None;
    let mut challenge = None;
    loop {
        input = match machine.advance(input) {
            // §3.1.2.3: the client, and its redirect URI matched exactly.
            Output::Bind {
                client_id,
                redirect_uri: _,
            } => {
                let Some(client) = ctx.clients.find(conn, &client_id)? else {
                    return Ok(Err(Answer::ErrorPage(Stop::UnknownClientOrRedirect)));
                };
                let Some(registered) =
                    registered_redirect(&client.client, params.get("redirect_uri"))
                else {
                    return Ok(Err(Answer::ErrorPage(Stop::UnknownClientOrRedirect)));
                };
                let Ok(exact) = ExactUrl::new(registered.clone()) else {
                    return Ok(Err(Answer::ErrorPage(Stop::UnknownClientOrRedirect)));
                };
                bound = Some((client, registered));
                Input::Bound {
                    request: params,
                    bound_client: BoundClient {
                        client_id: Cow::Owned(client_id),
                        redirect_uri: Cow::Owned(RegisteredUrl::Exact(exact)),
                    },
                }
            }
            // RFC 7636 §4.4: the PKCE challenge, required of public clients.
            Output::Extend => {
                let Some((client, registered)) = &bound else {
                    return Err(StoreError::Unavailable("no client bound".into()));
                };
                match pkce::challenge(
                    client.client.kind,
                    params.get("code_challenge_method"),
                    params.get("code_challenge"),
                ) {
                    Ok(c) => challenge = c,
                    Err(()) => {
                        return Ok(Err(error_redirect(
                            ctx,
                            registered,
                            params.get("state"),
                            OAuthError::InvalidRequest,
                            "PKCE: send a code_challenge of 43 base64url characters with code_challenge_method=S256 (RFC 7636 §4.2–4.3); public clients must",
                        )));
                    }
                }
                Input::Extended(Extensions::new())
            }
            // §3.3: the scope, which must be registered for the client.
            Output::Negotiate {
                bound_client,
                scope,
            } => {
                let pre_grant_uri = bound_client.redirect_uri.clone().into_owned();
                let Some((client, registered)) = &bound else {
                    return Err(StoreError::Unavailable("no client bound".into()));
                };
                let Some(scope) = negotiate(&client.client, scope) else {
                    return Ok(Err(error_redirect(
                        ctx,
                        registered,
                        params.get("state"),
                        OAuthError::InvalidScope,
                        "the scope is unknown or not registered for this client",
                    )));
                };
                Input::Negotiated {
                    pre_grant: PreGrant {
                        client_id: client.client.client_id.clone(),
                        redirect_uri: pre_grant_uri,
                        scope,
                    },
                    state: params.get("state").map(str::to_string),
                }
            }
            Output::Ok {
                pre_grant, state, ..
            } => {
                let Some((client, redirect_uri)) = bound else {
                    return Err(StoreError::Unavailable("no client bound".into()));
                };
                return Ok(Ok(Valid {
                    client,
                    redirect_uri,
                    redirect_uri_given: params.get("redirect_uri").is_some(),
                    pre_grant,
                    state,
                    challenge,
                }));
            }
            // A request oxide-auth cannot even read (no client_id, unparsable redirect_uri).
            Output::Err(az::Error::Ignore) => {
                return Ok(Err(Answer::ErrorPage(Stop::UnknownClientOrRedirect)));
            }
            // `response_type` other than `code`, or a scope that is not a scope.
            // Redirected with our own parameters: oxide-auth's error URL would name the
            // description `description`, where §4.1.2.1 says `error_description`.
            Output::Err(az::Error::Redirect(mut e)) => {
                let Some((_, registered)) = &bound else {
                    return Ok(Err(Answer::ErrorPage(Stop::UnknownClientOrRedirect)));
                };
                let (error, description) = match e.description().kind() {
                    AuthorizationErrorType::UnsupportedResponseType => (
                        OAuthError::UnsupportedResponseType,
                        "response_type must be code",
                    ),
                    AuthorizationErrorType::InvalidScope => (
                        OAuthError::InvalidScope,
                        "the scope is unknown or not registered for this client",
                    ),
                    _ => (
                        OAuthError::InvalidRequest,
                        "the authorization request is malformed",
                    ),
                };
                return Ok(Err(error_redirect(
                    ctx,
                    registered,
                    params.get("state"),
                    error,
                    description,
                )));
            }
            Output::Err(az::Error::PrimitiveError) => {
                return Err(StoreError::Unavailable("authorization flow failed".into()));
            }
        };
    }
}

/// An error redirect to `redirect_uri` (the bound one) with `error`, `error_description`,
/// `state` and `iss` (§4.1.2.1, RFC 9207): the one way every refusal is sent back.
fn error_redirect(
    ctx: &OAuthContext,
    redirect_uri: &str,
    state: Option<&str>,
    error: OAuthError,
    description: &str,
) -> Answer {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return Answer::ErrorPage(Stop::UnknownClientOrRedirect);
    };
    url.query_pairs_mut()
        .append_pair("error", error.as_str())
        .append_pair("error_description", description);
    if let Some(s) = state {
        url.query_pairs_mut().append_pair("state", s);
    }
    Answer::Redirect(with_iss(url, &ctx.config.issuer))
}

/// RFC 6749 §3.1.2.3 with exact string matching (RFC 9700 §4.1.3) of the request's
/// `redirect_uri` as sent — except the port of an `http` loopback IP literal, which a native
/// app picks when it starts listening (RFC 8252 §7.3, §8.4; `localhost` gets no such
/// exception). Without a `redirect_uri`, only an unambiguous registration may be used. The
/// answer is the URI to send the response to.
fn registered_redirect(client: &Client, given: Option<&str>) -> Option<String> {
    let Some(given) = given else {
        return match client.redirect_uris.as_slice() {
            [only] => registered_redirect(client, Some(only)),
            _ => None,
        };
    };
    // A URI registered before such queries were refused would get a parameter twice: it is
    // not used.
    let usable =
        url::Url::parse(given).is_ok_and(|u| crate::validate::response_parameter_in(&u).is_none());
    let matches = |registered: &String| {
        registered == given
            || loopback_without_port(registered)
                .is_some_and(|r| loopback_without_port(given).is_some_and(|g| r == g))
    };
    (usable && client.redirect_uris.iter().any(matches)).then(|| given.to_string())
}

/// An `http` URI on a loopback IP literal, with its port left out; `None` for any other URI.
fn loopback_without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let host = ["127.0.0.1", "[::1]"]
        .into_iter()
        .find(|h| rest.starts_with(h))?;
    let after_host = &rest[host.len()..];
    let after_port = match after_host.strip_prefix(':') {
        Some(port) => {
            let digits = port.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            &port[digits..]
        }
        None => after_host,
    };
    // The host must end here: `http://127.0.0.1.example.com/` is not loopback.
    if !(after_port.is_empty() || after_port.starts_with(['/', '?'])) {
        return None;
    }
    Some(format!("http://{host}{after_port}"))
}

/// Without `scope`, the client's registered scopes; with it, only scopes registered for the
/// client. Role caps come later, at consent.
fn negotiate(client: &Client, requested: Option<Scope>) -> Option<Scope> {
    let scope = match requested {
        None => canonical_scope(client.scopes.iter().map(String::as_str)),
        Some(requested) => {
            if requested.iter().next().is_none()
                || !requested
                    .iter()
                    .all(|s| client.scopes.iter().any(|c| c == s))
            {
                return None;
            }
            canonical_scope(requested.iter())
        }
    };
    scope.parse().ok()
}

/// Step 2: the signed-in user, unless the request asks to sign in again (`prompt=login`, on
/// the first pass only) — or the sign-in page.
fn signed_in(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    params: &AuthorizeParams,
    valid: &Valid,
    session_hash: Option<SecretHash>,
    submitted: bool,
) -> Result<Result<Session, Answer>, StoreError> {
    let session = match &session_hash {
        Some(hash) => Session::find_live(conn, &hash.0)?,
        None => None,
    };
    // A token that may manage the organization (keys, clients, members, audit) is a secret
    // as much as the console's are: it needs a password typed within the re-authentication
    // window, as the console asks before it shows one.
    let manages = valid
        .pre_grant
        .scope
        .iter()
        .any(|s| crate::access::caller::MANAGEMENT_SCOPES.contains(&s));
    // In whole seconds, so that the sign-in that answers this request is never stale itself.
    let window = i64::try_from(ctx.config.reauth_window.as_secs()).unwrap_or(i64::MAX);
    let stale =
        |s: &Session| manages && (crate::clock::now() - s.authenticated_at).num_seconds() > window;
    match session {
        Some(s) if !stale(&s) && (submitted || !params.prompts("login")) => Ok(Ok(s)),
        _ if params.prompts("none") => Ok(Err(valid.refuse(
            ctx,
            OAuthError::LoginRequired,
            "the user is not signed in",
        ))),
        _ => Ok(Err(Answer::Login {
            client_name: valid.client.client.name.clone(),
            return_query: params.return_query(),
        })),
    }
}

/// Step 3: per organization of the user, the requested scopes their role there allows.
fn what_each_org_allows(
    conn: &mut DbConn,
    valid: &Valid,
    session: &Session,
) -> Result<Vec<(Membership, OrgChoice)>, StoreError> {
    let memberships = User::memberships(conn, session.user_id)?;
    // In a stable order for the consent page (a scope is a set).
    let mut requested: Vec<String> = valid.pre_grant.scope.iter().map(str::to_string).collect();
    requested.sort();
    let defs = ScopeDef::find_many(conn, &requested)?;
    Ok(memberships
        .into_iter()
        .map(|m| {
            let choice = org_choice(&m, &requested, &defs);
            (m, choice)
        })
        .collect())
}

/// Splits the requested scopes into those the member's role allows and those it does not.
fn org_choice(m: &Membership, requested: &[String], defs: &[ScopeDef]) -> OrgChoice {
    let mut grantable = Vec::new();
    let mut withheld = Vec::new();
    for name in requested {
        match defs.iter().find(|d| &d.name == name) {
            Some(d) if m.role.allows(d.min_role) => grantable.push(ScopeLine {
                name: d.name.clone(),
                description: d.description.clone(),
            }),
            _ => withheld.push(name.clone()),
        }
    }
    OrgChoice {
        slug: m.org_slug.clone(),
        name: m.org_name.clone(),
        grantable,
        withheld,
    }
}

fn grantable_names(choice: &OrgChoice) -> Vec<String> {
    choice.grantable.iter().map(|s| s.name.clone()).collect()
}

/// Step 4: the organization and scopes the user approved — now in the submitted form, or
/// before in a remembered consent that covers them — or the page to answer with.
fn consent(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    params: &AuthorizeParams,
    valid: &Valid,
    session: &Session,
    choices: Vec<(Membership, OrgChoice)>,
    submission: Option<Submission>,
) -> Result<Result<(i64, Vec<String>), Answer>, StoreError> {
    if let Some(form) = submission {
        return approved_now(conn, ctx, valid, session, &choices, form);
    }
    let remembered = if params.prompts("consent") {
        None
    } else {
        let consents =
            consents::for_user_and_client(conn, session.user_id, valid.client.client.id)?;
        consents.into_iter().find_map(|consent| {
            let (m, c) = choices.iter().find(|(m, _)| m.org_id == consent.org_id)?;
            let covered = !c.grantable.is_empty()
                && c.grantable.iter().all(|s| consent.scopes.contains(&s.name));
            covered.then(|| (m.org_id, grantable_names(c)))
        })
    };
    Ok(match remembered {
        Some(found) => Ok(found),
        None if params.prompts("none") => Err(valid.refuse(
            ctx,
            OAuthError::ConsentRequired,
            "the user has not approved this application",
        )),
        None => Err(Answer::Consent(ConsentData {
            client_name: valid.client.client.name.clone(),
            client_org: valid.client.client.org.clone(),
            username: session.username.clone(),
            orgs: choices
                .into_iter()
                .map(|(_, c)| c)
                .filter(|c| !c.grantable.is_empty())
                .collect(),
            params: params.without_login_prompt(),
            csrf: session.csrf_token.clone(),
        })),
    })
}

/// The consent form's POST: checks its anti-forgery token, then remembers an approval.
fn approved_now(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    valid: &Valid,
    session: &Session,
    choices: &[(Membership, OrgChoice)],
    form: Submission,
) -> Result<Result<(i64, Vec<String>), Answer>, StoreError> {
    if !super::session::csrf_matches(&session.csrf_token, form.csrf_token.as_deref()) {
        return Ok(Err(Answer::ErrorPage(Stop::ConsentFormExpired)));
    }
    if !form.approve {
        return Ok(Err(valid.refuse(
            ctx,
            OAuthError::AccessDenied,
            "the user denied the request",
        )));
    }
    let Some((m, c)) = choices
        .iter()
        .find(|(m, _)| Some(&m.org_slug) == form.org.as_ref())
    else {
        return Ok(Err(Answer::ErrorPage(Stop::InvalidOrganization)));
    };
    if c.grantable.is_empty() {
        return Ok(Err(valid.refuse(
            ctx,
            OAuthError::AccessDenied,
            "the user's role in this organization does not allow any of the requested scopes",
        )));
    }
    let scopes = grantable_names(c);
    let (user_id, client_pk, org_id, remembered) = (
        session.user_id,
        valid.client.client.id,
        m.org_id,
        scopes.clone(),
    );
    write(conn, move |conn| {
        consents::remember(conn, user_id, client_pk, org_id, &remembered)
    })?;
    Ok(Ok((m.org_id, scopes)))
}

/// Step 5: stores the code (hashed), valid for [`CODE_TTL`], and redirects with it, `state`
/// and `iss` (§4.1.2).
fn issue_code(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    valid: &Valid,
    user_id: i64,
    org_id: i64,
    approved: &[String],
) -> Result<Answer, StoreError> {
    // Consent may have narrowed the requested scope (role caps); never widen it.
    let scope = canonical_scope(
        approved
            .iter()
            .map(String::as_str)
            .filter(|s| valid.pre_grant.scope.iter().any(|g| g == *s)),
    );
    let code = secret::random_base62(43);
    let hash = SecretHash::of(&code).0;
    let (client_pk, redirect_uri, redirect_uri_given, challenge) = (
        valid.client.client.id,
        valid.redirect_uri.clone(),
        valid.redirect_uri_given,
        valid.challenge.clone(),
    );
    write(conn, move |conn| {
        AuthorizationCode::insert(
            conn,
            &NewCode {
                hash: &hash,
                client_pk,
                user_id,
                org_id,
                scope: &scope,
                redirect_uri: &redirect_uri,
                redirect_uri_given,
                code_challenge: challenge.as_deref(),
                expires_at: clock::now() + CODE_TTL,
            },
        )
    })?;
    let mut url = valid.pre_grant.redirect_uri.to_url();
    url.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = &valid.state {
        url.query_pairs_mut().append_pair("state", s);
    }
    Ok(Answer::Redirect(with_iss(url, &ctx.config.issuer)))
}

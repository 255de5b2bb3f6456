//! Signing in and out on the authorization pages.
//!
//! Signing in: a username and password checked with argon2, then a session. A wrong username
//! or password gets the same answer in the same time (a decoy hash is checked when the user
//! does not exist). Steps, each holding a pooled connection only while it needs one: find the
//! user → verify the password (no connection held: argon2 takes tens of milliseconds and
//! 19 MiB) → start the session.
//!
//! Signing out ([`sign_out`]): the form must carry the session's own anti-forgery token (the
//! one the consent page embeds); then the session's row is deleted, so the cookie, even if a
//! copy survives, no longer signs anyone in.

use crate::config::Config;
use crate::store::clients::Client;
use crate::store::sessions::Session;
use crate::store::users::User;
use crate::store::{Db, DbConn, StoreError, write};
use crate::tokens::secret::SecretHash;
use crate::{clock, duration, passwords, validate};

use super::session;

/// Passwords longer than this are refused without hashing (argon2 cost grows with length).
const MAX_PASSWORD_LEN: usize = 1024;

/// What a sign-in attempt led to.
pub(crate) enum SignIn {
    /// A new session; `session_id` goes to the browser, only its hash was stored.
    SignedIn { session_id: String },
    /// Wrong username or password; the sign-in page names the application again.
    Refused { client_name: String },
}

/// Checks `username` and `password` and starts a session. `authorization_query` is the query
/// of the authorization request the user returns to (it names the client). Blocking (argon2
/// and the store): run it on the blocking pool.
pub(crate) fn sign_in(
    db: &Db,
    config: &Config,
    username: &str,
    password: &str,
    authorization_query: &str,
) -> Result<SignIn, StoreError> {
    let user = match validate::username(username) {
        Ok(name) if password.len() <= MAX_PASSWORD_LEN => {
            db.run_sync(|conn| match User::find_by_username(conn, &name) {
                Ok(u) => Ok(Some(u)),
                Err(StoreError::NotFound) => Ok(None),
                Err(e) => Err(e),
            })?
        }
        _ => None,
    };
    let verified = match &user {
        Some(u) => passwords::verify(password, &u.password_hash),
        None => {
            passwords::verify(password, passwords::decoy_hash());
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        let client_name =
            db.run_sync(|conn| Ok::<_, StoreError>(client_name_for(conn, authorization_query)))?;
        return Ok(SignIn::Refused { client_name });
    };
    let (session_id, hash) = session::new_session_id();
    let expires_at = clock::now() + duration::to_chrono(config.session_ttl);
    let user_id = user.id;
    db.run_sync(|conn| {
        write(conn, move |conn| {
            Session::create(
                conn,
                &hash.0,
                user_id,
                &session::new_csrf_token(),
                expires_at,
            )
        })
    })?;
    tracing::info!(user = %user.username, "signed in");
    Ok(SignIn::SignedIn { session_id })
}

/// What a sign-out form led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignOut {
    /// The session ended: its row is gone.
    SignedOut,
    /// No live session behind the cookie (none sent, expired, or already ended): nothing to end.
    NoSession,
    /// The form's anti-forgery token is not the session's: the session goes on.
    Forged,
}

/// Ends the session behind the cookie whose hash is `session_hash`, if `csrf_token` is the
/// session's own anti-forgery token (a cross-site form cannot know it). Logs who signed out,
/// never a token.
pub(crate) fn sign_out(
    conn: &mut DbConn,
    session_hash: Option<SecretHash>,
    csrf_token: Option<&str>,
) -> Result<SignOut, StoreError> {
    let Some(hash) = session_hash else {
        return Ok(SignOut::NoSession);
    };
    let Some(live) = Session::find_live(conn, &hash.0)? else {
        return Ok(SignOut::NoSession);
    };
    if !session::csrf_matches(&live.csrf_token, csrf_token) {
        tracing::info!(user = %live.username, "sign-out refused: not the session's anti-forgery token");
        return Ok(SignOut::Forged);
    }
    let digest = hash.0;
    write(conn, move |conn| Session::delete(conn, &digest))?;
    tracing::info!(user = %live.username, "signed out");
    Ok(SignOut::SignedOut)
}

/// The application's name for the sign-in page, from the `client_id` in the query.
fn client_name_for(conn: &mut DbConn, authorization_query: &str) -> String {
    let client_id = url::form_urlencoded::parse(authorization_query.as_bytes())
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned());
    client_id
        .and_then(|id| Client::find(conn, &id).ok())
        .map(|c| c.name)
        .unwrap_or_else(|| "the application".into())
}

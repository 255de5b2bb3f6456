//! Leaked tokens, reported by GitHub secret scanning (the secret-scanning partner program:
//! docs.github.com, "Secret scanning partner program"), revoked at once.
//!
//! GitHub POSTs a JSON array of matches `{"token", "type", "url", "source"}`, signed with
//! ECDSA P-256 / SHA-256 over the raw body: `Github-Public-Key-Identifier` names the key,
//! `Github-Public-Key-Signature` holds the base64 DER signature. The public keys come from the
//! file the operator configures (`TESSERA_GITHUB_SECRET_SCANNING_KEYS`, GitHub's
//! `{"public_keys": [{"key_identifier", "key", "is_current"}]}` from
//! `https://api.github.com/meta/public_keys/secret_scanning`); the file is read again whenever
//! it changed (its modification time), so adding or removing a key needs no restart.
//!
//! Every reported Tessera secret is treated as public: an integration token is revoked (its
//! integration's other tokens keep working) with `integration.leaked`; a refresh token's grant
//! is revoked; a client secret ends now, with `client.secret_leaked`. All of one report in one
//! transaction, each with an audit event naming where it was found. The answer is GitHub's
//! feedback format with `token_hash` (SHA-256, hex) — never the token: `true_positive` for a
//! Tessera secret we issued, `false_positive` for one we do not know. Other vendors' tokens are
//! not ours to judge and are left out.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::admin::AdminError;
use crate::events::EventType;
use crate::store::audit::{self, Actor};
use crate::store::clients::Client;
use crate::store::grants::{Grant, RefreshToken};
use crate::store::integrations::IntegrationToken;
use crate::store::{DbConn, transaction, webhooks};
use crate::tokens::secret::{self, SecretKind};

/// The largest report accepted (GitHub batches matches).
pub(crate) const REPORT_LIMIT: usize = 1024 * 1024;
/// Matches in one report.
const MAX_MATCHES: usize = 1000;

/// Why a report is refused before anything is looked at (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Unverified(pub(crate) String);

#[derive(Deserialize)]
struct KeysFile {
    public_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_identifier: String,
    key: String,
}

/// Public keys by identifier, as SubjectPublicKeyInfo DER.
type Keys = Vec<(String, Vec<u8>)>;

/// GitHub's secret-scanning public keys, and the modification time of the file they came from.
pub(crate) struct ScanningKeys {
    path: Option<PathBuf>,
    loaded: Mutex<(Option<SystemTime>, Keys)>,
}

impl ScanningKeys {
    /// Reads the key file (none configured: every report is refused). A file that cannot be
    /// read or parsed stops start-up with the reason.
    pub(crate) fn load(path: Option<PathBuf>) -> Result<ScanningKeys, String> {
        let loaded = match &path {
            Some(p) => (modified(p), read_keys(p)?),
            None => (None, Vec::new()),
        };
        Ok(ScanningKeys {
            path,
            loaded: Mutex::new(loaded),
        })
    }

    /// Checks the signature of `body` by key `key_id`. Blocking: it may read the key file.
    pub(crate) fn verify(
        &self,
        key_id: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), Unverified> {
        let (Some(key_id), Some(signature)) = (key_id, signature) else {
            return Err(Unverified(
                "Github-Public-Key-Identifier and Github-Public-Key-Signature are required".into(),
            ));
        };
        let signature = STANDARD
            .decode(signature.trim())
            .map_err(|_| Unverified("Github-Public-Key-Signature is not base64".into()))?;
        let key = self
            .key(key_id)
            .ok_or_else(|| Unverified(format!("no public key {key_id:?} is configured")))?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &key)
            .verify(body, &signature)
            .map_err(|_| Unverified("the signature does not verify".into()))
    }

    fn key(&self, id: &str) -> Option<Vec<u8>> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(path) = &self.path {
            let now = modified(path);
            if now != loaded.0 {
                // Changed (or gone): what the file says now is what is trusted. A file that
                // cannot be read trusts nothing until it can.
                loaded.0 = now;
                loaded.1 = read_keys(path).unwrap_or_else(|e| {
                    tracing::warn!(cause = %e, "GitHub secret-scanning keys unreadable; reports are refused");
                    Vec::new()
                });
            }
        }
        loaded
            .1
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, der)| der.clone())
    }
}

fn modified(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read_keys(path: &PathBuf) -> Result<Keys, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let file: KeysFile = serde_json::from_str(&text)
        .map_err(|e| format!("{shown}: not GitHub's key format: {e}"))?;
    file.public_keys
        .into_iter()
        .map(|k| {
            let der = pem::parse(k.key.trim())
                .map_err(|e| format!("{shown}: key {:?} is not PEM: {e}", k.key_identifier))?;
            Ok((k.key_identifier, der.into_contents()))
        })
        .collect()
}

/// One match GitHub reports; `url` (at most 500 characters) and `source` (50) without
/// control characters.
#[derive(Debug)]
pub(crate) struct ReportedMatch {
    token: String,
    token_type: String,
    url: String,
    source: String,
}

/// GitHub's feedback for one match.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct Feedback {
    /// SHA-256 of the token, in hex.
    pub(crate) token_hash: String,
    pub(crate) token_type: String,
    /// `true_positive` or `false_positive`.
    #[schema(value_type = String)]
    pub(crate) label: &'static str,
}

/// Parses a verified report (422 text when it is not a JSON array). A match without a string
/// `token` is skipped, not the whole report: the others are still revoked.
pub(crate) fn parse_report(body: &[u8]) -> Result<Vec<ReportedMatch>, String> {
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| format!("not a JSON array of matches: {e}"))?;
    if items.len() > MAX_MATCHES {
        return Err(format!("at most {MAX_MATCHES} matches per report"));
    }
    let text = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    // Where it was found goes to the audit trail and to webhooks: bounded, one line.
    let shown = |v: &serde_json::Value, key: &str, at_most: usize| -> String {
        text(v, key)
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(at_most)
            .collect()
    };
    Ok(items
        .iter()
        .filter_map(|item| {
            Some(ReportedMatch {
                token: text(item, "token")?,
                token_type: text(item, "type").unwrap_or_default(),
                url: shown(item, "url", 500),
                source: shown(item, "source", 50),
            })
        })
        .collect())
}

/// Revokes every Tessera secret of the report, in one transaction; returns the feedback.
pub(crate) fn process(
    conn: &mut DbConn,
    brand: &str,
    reporter: &Actor,
    matches: &[ReportedMatch],
) -> Result<Vec<Feedback>, AdminError> {
    transaction(conn, |conn| {
        let mut feedback = Vec::new();
        for m in matches {
            let Some(parsed) = secret::parse(brand, &m.token) else {
                // Of this deployment's shape but not its checksum: a lookalike, which GitHub
                // wants to hear is one. Anything else is another vendor's to judge.
                if m.token.starts_with(&format!("{brand}_")) {
                    feedback.push(Feedback {
                        token_hash: hex(&secret::SecretHash::of(&m.token).0),
                        token_type: m.token_type.clone(),
                        label: "false_positive",
                    });
                }
                continue;
            };
            let known = revoke(conn, reporter, parsed.kind, &parsed.hash.0, m)?;
            feedback.push(Feedback {
                token_hash: hex(&parsed.hash.0),
                token_type: m.token_type.clone(),
                label: if known {
                    "true_positive"
                } else {
                    "false_positive"
                },
            });
        }
        Ok(feedback)
    })
}

/// Revokes one reported secret; whether Tessera issued it.
fn revoke(
    conn: &mut DbConn,
    reporter: &Actor,
    kind: SecretKind,
    hash: &[u8; 32],
    m: &ReportedMatch,
) -> Result<bool, AdminError> {
    let detail = format!("source={} url={}", m.source, m.url);
    let now = crate::clock::now();
    match kind {
        SecretKind::Live | SecretKind::Test => {
            let Some((token, integration, org)) = IntegrationToken::find_by_hash(conn, hash)?
            else {
                return Ok(false);
            };
            // Revoked now only if it still worked: a token already past its end is marked
            // revoked all the same, but nobody needs telling.
            let was_live = crate::integrations::token_status(&token, &integration, now)
                == crate::integrations::Status::Active;
            let revoked_now =
                IntegrationToken::revoke_one(conn, token.id, &integration.id)? && was_live;
            audit::record(
                conn,
                Some(integration.org_id),
                reporter,
                "integration.leaked",
                Some(&integration.id),
                Some(&format!(
                    "prefix={} revoked_now={revoked_now} {detail}",
                    token.prefix
                )),
            )?;
            let data = json!({
                "id": integration.id,
                "org": org,
                "name": integration.name,
                "env": integration.env,
                "prefix": token.prefix,
                "last4": token.last4,
                "revoked_now": revoked_now,
                "reporter": reporter.label,
                "url": m.url,
                "source": m.source,
            });
            // A report of a token already dead (a replay, a second report) tells nobody
            // anything new.
            if revoked_now {
                webhooks::publish(
                    conn,
                    integration.org_id,
                    EventType::IntegrationLeaked,
                    &data,
                    None,
                )?;
            }
            Ok(true)
        }
        SecretKind::RefreshToken => {
            let Some((_, grant, names)) = RefreshToken::find(conn, hash)? else {
                return Ok(false);
            };
            let revoked_now = Grant::revoke(conn, &grant.id, "leaked")?;
            audit::record(
                conn,
                Some(grant.org_id),
                reporter,
                "refresh_token.leaked",
                Some(&grant.id),
                Some(&format!(
                    "client={} revoked_now={revoked_now} {detail}",
                    names.client_id
                )),
            )?;
            Ok(true)
        }
        SecretKind::ClientSecret => {
            let Some((client, ended_now)) = Client::end_secret_by_hash(conn, hash)? else {
                return Ok(false);
            };
            audit::record(
                conn,
                Some(client.org_id),
                reporter,
                "client.secret_leaked",
                Some(&client.client_id),
                Some(&format!("revoked_now={ended_now} {detail}")),
            )?;
            let data = json!({
                "client_id": client.client_id,
                "org": client.org,
                "name": client.name,
                "revoked_now": ended_now,
                "reporter": reporter.label,
                "url": m.url,
                "source": m.source,
            });
            // A report of a token already dead (a replay, a second report) tells nobody
            // anything new.
            if ended_now {
                webhooks::publish(
                    conn,
                    client.org_id,
                    EventType::ClientSecretLeaked,
                    &data,
                    None,
                )?;
            }
            Ok(true)
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    #[test]
    fn verifies_githubs_signature_shape_and_refuses_tampering() {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let spki = pair.public_key().as_der().unwrap();
        let pem = pem::encode(&pem::Pem::new("PUBLIC KEY", spki.as_ref().to_vec()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        std::fs::write(
            &path,
            json!({"public_keys": [{"key_identifier": "k1", "key": pem, "is_current": true}]})
                .to_string(),
        )
        .unwrap();
        let keys = ScanningKeys::load(Some(path.clone())).unwrap();
        let body = br#"[{"token":"x","type":"t","url":"","source":"content"}]"#;
        let sig = pair.sign(&SystemRandom::new(), body).unwrap();
        let sig = STANDARD.encode(sig.as_ref());
        assert_eq!(keys.verify(Some("k1"), Some(&sig), body), Ok(()));
        assert!(keys.verify(Some("k1"), Some(&sig), b"[]").is_err());
        assert!(keys.verify(Some("k2"), Some(&sig), body).is_err());
        assert!(keys.verify(Some("k1"), None, body).is_err());
        assert!(keys.verify(Some("k1"), Some("%%%"), body).is_err());
        assert!(
            ScanningKeys::load(None)
                .unwrap()
                .verify(Some("k1"), Some(&sig), body)
                .is_err()
        );
    }
}

//! JWT access tokens (RFC 9068): signing and verifying from key material, and the JWKS.
//!
//! Pure: this module never touches storage. Key pairs are generated here (aws-lc-rs) as
//! PKCS#8; the `keys` module above stores them, loads them and hands them to
//! [`AccessTokenSigner::new`] / [`AccessTokenSigner::replace_keys`]. A retired key stays
//! published — and accepted — until every token it signed has expired.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The claims of every access token Tessera issues (RFC 9068 §2.2), plus `org` (the
/// organization the grant is bound to) and `gid` (the grant, so that revoking a grant
/// revokes its access tokens on the check path).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub org: String,
    pub gid: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    Es256,
    EdDsa,
}

impl SigningAlg {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "ES256" => Ok(SigningAlg::Es256),
            "EdDSA" => Ok(SigningAlg::EdDsa),
            other => Err(format!(
                "{other:?} is not a supported signing algorithm (ES256 or EdDSA)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::EdDsa => Algorithm::EdDSA,
        }
    }

    /// A new key pair of this algorithm, as the PKCS#8 document [`KeyMaterial`] carries.
    pub fn generate_pkcs8(self) -> Result<Vec<u8>, JwtError> {
        let rng = SystemRandom::new();
        let doc = match self {
            SigningAlg::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            }
            // jsonwebtoken reads the 48-byte PKCS#8 v1 form of Ed25519 keys.
            SigningAlg::EdDsa => Ed25519KeyPair::generate_pkcs8v1(&rng),
        }
        .map_err(|_| JwtError::Key("key generation failed".into()))?;
        Ok(doc.as_ref().to_vec())
    }
}

/// A key that cannot be generated, read or used.
#[derive(Debug, Error)]
pub enum JwtError {
    #[error("signing key: {0}")]
    Key(String),
}

/// One signing key as stored: its `kid`, algorithm name (`ES256` or `EdDSA`), PKCS#8 private
/// key, and whether it is retired (still published and accepted, never used to sign).
pub struct KeyMaterial<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    pub pkcs8: &'a [u8],
    pub retired: bool,
}

/// Why a presented JWT is not a valid access token. Only for logs and tests: callers answer
/// every variant the same way (`invalid_token`).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Rejection {
    #[error("not a JWT")]
    Malformed,
    #[error("not an access token (typ)")]
    WrongType,
    #[error("unknown key id")]
    UnknownKey,
    #[error("bad signature or claims: {0}")]
    Invalid(String),
    #[error("expired")]
    Expired,
}

struct VerifyKey {
    alg: Algorithm,
    key: DecodingKey,
}

/// The keys in force at one moment: the one to sign with and every one to accept.
/// The current private key, parsed once. (jsonwebtoken re-parses its PKCS#8 on every
/// signature, which cost as much as the signature itself.)
enum SigningKey {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

impl SigningKey {
    fn parse(alg: Algorithm, pkcs8: &[u8]) -> Result<SigningKey, JwtError> {
        let bad = |_| JwtError::Key("stored signing key cannot be read".into());
        Ok(match alg {
            Algorithm::EdDSA => {
                SigningKey::EdDsa(Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(bad)?)
            }
            _ => SigningKey::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(bad)?,
            ),
        })
    }

    /// The JWS signature (RFC 7518 §3.4: ES256 is the fixed-size r || s).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JwtError> {
        match self {
            SigningKey::Es256(k) => k
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| JwtError::Key("ES256 signing failed".into())),
            SigningKey::EdDsa(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}

struct KeyRing {
    signing: SigningKey,
    /// `base64url(header)` of every token this key signs: `alg`, `typ: at+jwt`, `kid`.
    header_b64: String,
    verify: HashMap<String, VerifyKey>,
    jwks: Arc<String>,
}

impl KeyRing {
    /// `keys` newest first: the first unretired one signs.
    fn build(keys_in: &[KeyMaterial<'_>]) -> Result<KeyRing, JwtError> {
        let mut verify = HashMap::new();
        let mut keys = Vec::new();
        let mut current: Option<(String, Algorithm, SigningKey)> = None;
        for k in keys_in {
            let alg = SigningAlg::parse(k.alg).map_err(JwtError::Key)?.algorithm();
            let encoding = match alg {
                Algorithm::EdDSA => EncodingKey::from_ed_der(k.pkcs8),
                _ => EncodingKey::from_ec_der(k.pkcs8),
            };
            let mut jwk =
                Jwk::from_encoding_key(&encoding, alg).map_err(|e| JwtError::Key(e.to_string()))?;
            jwk.common.key_id = Some(k.kid.to_string());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            jwk.common.key_algorithm = Some(match alg {
                Algorithm::EdDSA => KeyAlgorithm::EdDSA,
                _ => KeyAlgorithm::ES256,
            });
            let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| JwtError::Key(e.to_string()))?;
            verify.insert(k.kid.to_string(), VerifyKey { alg, key: decoding });
            keys.push(jwk);
            if current.is_none() && !k.retired {
                current = Some((k.kid.to_string(), alg, SigningKey::parse(alg, k.pkcs8)?));
            }
        }
        let (kid, alg, signing) =
            current.ok_or_else(|| JwtError::Key("no current signing key".into()))?;
        let jwks =
            serde_json::to_string(&JwkSet { keys }).map_err(|e| JwtError::Key(e.to_string()))?;
        let mut header = Header::new(alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid);
        let header_json = serde_json::to_vec(&header).map_err(|e| JwtError::Key(e.to_string()))?;
        Ok(KeyRing {
            signing,
            header_b64: URL_SAFE_NO_PAD.encode(header_json),
            verify,
            jwks: Arc::new(jwks),
        })
    }
}

/// Signs and verifies access tokens with a set of keys; the set can be replaced while in use.
pub struct AccessTokenSigner {
    ring: RwLock<Arc<KeyRing>>,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl AccessTokenSigner {
    /// A signer for tokens of `issuer` meant for `audience`, living `ttl`. `keys` newest first;
    /// at least one must be unretired.
    pub fn new(
        keys: &[KeyMaterial<'_>],
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Result<AccessTokenSigner, JwtError> {
        Ok(AccessTokenSigner {
            ring: RwLock::new(Arc::new(KeyRing::build(keys)?)),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl,
        })
    }

    /// Swaps in a new key set (after a rotation by the CLI or another instance).
    pub fn replace_keys(&self, keys: &[KeyMaterial<'_>]) -> Result<(), JwtError> {
        let ring = Arc::new(KeyRing::build(keys)?);
        if let Ok(mut guard) = self.ring.write() {
            *guard = ring;
        }
        Ok(())
    }

    fn ring(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(guard) => guard.clone(),
            // A panic while holding the lock cannot leave a half-written Arc behind.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn jwks(&self) -> Arc<String> {
        self.ring().jwks.clone()
    }

    /// Claims for a new token: `iat` now, `exp` one lifetime later, a fresh `jti`.
    pub fn claims(
        &self,
        sub: String,
        client_id: String,
        scope: String,
        org: String,
        gid: String,
    ) -> AccessClaims {
        let iat = chrono::Utc::now().timestamp();
        AccessClaims {
            iss: self.issuer.clone(),
            sub,
            aud: self.audience.clone(),
            client_id,
            scope,
            iat,
            exp: iat + self.ttl.as_secs() as i64,
            jti: super::secret::random_base62(22),
            org,
            gid,
        }
    }

    /// A compact JWS (RFC 7515 §7.1): the ring's header, the claims, the signature.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, JwtError> {
        let ring = self.ring();
        let payload = serde_json::to_vec(claims).map_err(|e| JwtError::Key(e.to_string()))?;
        let mut token = String::with_capacity(ring.header_b64.len() + payload.len() * 4 / 3 + 100);
        token.push_str(&ring.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = ring.signing.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    /// Verifies signature, `typ`, `iss`, `aud` and `exp` (no leeway: the same clock issued it).
    pub fn verify(&self, token: &str) -> Result<AccessClaims, Rejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
        {
            return Err(Rejection::WrongType);
        }
        let kid = header.kid.ok_or(Rejection::UnknownKey)?;
        let ring = self.ring();
        let key = ring.verify.get(&kid).ok_or(Rejection::UnknownKey)?;
        if header.alg != key.alg {
            return Err(Rejection::Invalid(
                "algorithm does not match the key".into(),
            ));
        }
        let mut validation = Validation::new(key.alg);
        validation.leeway = 0;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        match jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(Rejection::Expired)
            }
            Err(e) => Err(Rejection::Invalid(e.to_string())),
        }
    }
}

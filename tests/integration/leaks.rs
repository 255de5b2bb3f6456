//! Leaked tokens reported by GitHub secret scanning: a report signed with the configured key
//! revokes every Tessera secret in it at once (the very next check refuses it); an unsigned or
//! badly signed report changes nothing.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::oauth_support::World;
use crate::on_both_backends;
use crate::webhooks::{LOCAL_RECEIVERS, Receiver, webhook_cli};

/// GitHub's side: a P-256 key pair, published in GitHub's key-file format.
struct Github {
    pair: EcdsaKeyPair,
    _dir: tempfile::TempDir,
    keys_file: String,
}

impl Github {
    fn new() -> Github {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let spki = pair.public_key().as_der().unwrap();
        let pem = pem::encode(&pem::Pem::new("PUBLIC KEY", spki.as_ref().to_vec()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret_scanning.json");
        let file = json!({"public_keys": [
            {"key_identifier": "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a",
             "key": pem, "is_current": true}
        ]});
        std::fs::write(&path, file.to_string()).unwrap();
        Github {
            pair,
            _dir: dir,
            keys_file: path.display().to_string(),
        }
    }

    fn report(&self, w: &World, body: &str, key_id: &str, signed: &[u8]) -> (u16, Value) {
        let sig = self.pair.sign(&SystemRandom::new(), signed).unwrap();
        let res = Client::new()
            .post(w.server.url("/v1/secret-scanning/github"))
            .header("content-type", "application/json")
            .header("Github-Public-Key-Identifier", key_id)
            .header("Github-Public-Key-Signature", STANDARD.encode(sig.as_ref()))
            .body(body.to_string())
            .send()
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().unwrap_or(Value::Null))
    }
}

const KEY_ID: &str = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";

fn check(w: &World, token: &str) -> u16 {
    crate::instances::check_status(&w.server.base, token)
}

fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

on_both_backends! {
    fn a_signed_report_revokes_leaked_tokens_and_a_bad_one_changes_nothing(db: TestDb) {
        let rx = Receiver::start();
        let github = Github::new();
        let settings = [
            LOCAL_RECEIVERS.as_slice(),
            &[("TESSERA_GITHUB_SECRET_SCANNING_KEYS", github.keys_file.as_str())],
        ]
        .concat();
        let w = World::with_config(db, &settings);
        let hook = rx.as_ref().map(|rx| {
            webhook_cli(&w.db, &[
                "--json", "webhook", "create", "--org", "acme", "--url", &rx.url("/ok"),
                "--events", "integration.leaked client.secret_leaked",
            ])
        });
        if let (Some(rx), Some(hook)) = (&rx, &hook) {
            rx.verify_with(&json!({ "s": hook["secret"] }));
        }
        let (integration, token) = w.create_integration("Leaky", &[]);
        let (_, spare) = w.create_integration("Careful", &[]);
        let refresh = w.tokens_for(&w.browser(), "alice", "claims:read")["refresh_token"]
            .as_str()
            .unwrap()
            .to_string();
        let unknown = tessera::tokens::secret::mint("tsr", tessera::tokens::secret::SecretKind::Live).plaintext;
        // Our shape, a wrong checksum: a lookalike.
        let lookalike = format!("{}AAAAAA", &unknown[..unknown.len() - 6]);
        let introspect = |token: &str| -> Value {
            let (id, secret) = &w.console;
            Client::new()
                .post(w.server.url("/oauth/introspect"))
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .unwrap()
                .json()
                .unwrap()
        };
        assert_eq!(introspect(&refresh)["active"], true);
        // Both decisions cached before the report.
        assert_eq!(check(&w, &token), 200);
        assert_eq!(check(&w, &token), 200);
        let url = "https://github.com/acme/app/blob/abc123/config.yml";
        let body = json!([
            {"token": token, "type": "tessera_integration_token", "url": url, "source": "content"},
            {"token": refresh, "type": "tessera_refresh_token", "url": url, "source": "commit"},
            {"token": w.client_secret, "type": "tessera_client_secret", "url": "", "source": "npm"},
            {"token": unknown, "type": "tessera_integration_token", "url": url, "source": "content"},
            {"token": "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "type": "github_pat", "url": url, "source": "content"},
            {"token": lookalike, "type": "tessera_integration_token", "url": url, "source": "content"},
            {"type": "tessera_integration_token", "url": url, "source": "content"},
        ])
        .to_string();

        // Unsigned, wrongly signed, signed by an unknown key: 401, and nothing changes.
        let unsigned = Client::new()
            .post(w.server.url("/v1/secret-scanning/github"))
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(unsigned.status(), 401);
        let (status, refused) = github.report(&w, &body, KEY_ID, b"[]");
        assert_eq!(status, 401, "{refused}");
        assert_eq!(refused["error"]["code"], "unauthorized");
        let (status, _) = github.report(&w, &body, "another-key", body.as_bytes());
        assert_eq!(status, 401);
        assert_eq!(check(&w, &token), 200, "a bad report changed nothing");
        let audit = w.db.cli(&["--json", "audit", "list", "--org", "acme"]).json()["events"].clone();
        let leak_actions = |audit: &Value| -> usize {
            audit.as_array().unwrap().iter().filter(|e| e["action"].as_str().unwrap().ends_with("leaked")).count()
        };
        assert_eq!(leak_actions(&audit), 0, "{audit}");

        let (status, feedback) = github.report(&w, &body, KEY_ID, body.as_bytes());
        assert_eq!(status, 200, "{feedback}");
        assert_eq!(
            feedback,
            json!([
                {"token_hash": sha256_hex(&token), "token_type": "tessera_integration_token", "label": "true_positive"},
                {"token_hash": sha256_hex(&refresh), "token_type": "tessera_refresh_token", "label": "true_positive"},
                {"token_hash": sha256_hex(&w.client_secret), "token_type": "tessera_client_secret", "label": "true_positive"},
                {"token_hash": sha256_hex(&unknown), "token_type": "tessera_integration_token", "label": "false_positive"},
                {"token_hash": sha256_hex(&lookalike), "token_type": "tessera_integration_token", "label": "false_positive"},
            ]),
            "other vendors' tokens and matches without a token are left out; no token is echoed"
        );
        // Dead at once, everywhere: the cached decision is gone with the report's answer.
        assert_eq!(check(&w, &token), 401);
        assert_eq!(check(&w, &spare), 200, "only the reported token dies");
        assert_eq!(introspect(&refresh)["active"], false, "the refresh token's grant is revoked");
        let (status, body2, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
        assert_eq!(status, 401, "the leaked client secret no longer authenticates: {body2}");
        assert_eq!(body2["error"], "invalid_client");
        let shown = w.db.cli(&["--json", "integration", "show", &integration]).json();
        assert_eq!(shown["tokens"][0]["status"], "revoked", "{shown}");
        assert_eq!(shown["status"], "revoked", "no token works: the integration shows why");
        let audit = w.db.cli(&["--json", "audit", "list", "--org", "acme"]).json()["events"].clone();
        let leaked: Vec<&Value> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"].as_str().unwrap().ends_with("leaked"))
            .collect();
        assert_eq!(leaked.len(), 3, "{audit}");
        assert!(leaked.iter().all(|e| e["actor"] == "github-secret-scanning"));
        let integration_event = leaked.iter().find(|e| e["action"] == "integration.leaked").unwrap();
        assert!(integration_event["detail"].as_str().unwrap().contains(url));
        assert!(!audit.to_string().contains(&token));

        // Reported again: still a true positive, nothing more to revoke, and no new event (the
        // outbox is written in the report's transaction, so it can be counted at once).
        let (status, again) = github.report(&w, &body, KEY_ID, body.as_bytes());
        assert_eq!(status, 200);
        assert_eq!(again[0]["label"], "true_positive");
        if let Some(hook) = &hook {
            let log = w.db.cli(&["--json", "webhook", "deliveries", hook["id"].as_str().unwrap()]).json();
            let count = |t: &str| log.as_array().unwrap().iter().filter(|d| d["event_type"] == t).count();
            assert_eq!((count("integration.leaked"), count("client.secret_leaked")), (1, 1), "{log}");
        }

        if let Some(rx) = &rx {
            let got = rx.wait_for("integration.leaked and client.secret_leaked", |g| {
                g.iter().any(|r| r["type"] == "integration.leaked")
                    && g.iter().any(|r| r["type"] == "client.secret_leaked")
            });
            let event = got.iter().find(|r| r["type"] == "integration.leaked").unwrap();
            assert_eq!(event["verified"]["s"], true);
            let data: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
            assert_eq!(data["data"]["id"], integration);
            assert_eq!(data["data"]["url"], url);
            assert_eq!(data["data"]["revoked_now"], true);
        }

        // Not an array of matches (but signed): 422, nothing changes.
        let (status, _) = github.report(&w, "{\"token\":1}", KEY_ID, b"{\"token\":1}");
        assert_eq!(status, 422);
    }
}

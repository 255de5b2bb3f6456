//! Settings read from the environment (`TESSERA_*`), with defaults that run with no setup.
//!
//! Every variable is parsed once at start-up; a bad value stops the process with a message that
//! names the variable, so an operator never has to guess which setting was wrong.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use thiserror::Error;

use crate::store::DatabaseUrl;
use crate::tokens::jwt::SigningAlg;

#[derive(Debug, Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub bind: SocketAddr,
    /// The issuer identifier (RFC 8414 §2): scheme, host and optional port, no trailing slash.
    pub issuer: String,
    pub token_brand: String,
    pub trusted_proxies: Vec<IpNet>,
    pub bootstrap_admin_password: Option<String>,
    pub access_token_ttl: Duration,
    /// `aud` of access tokens (RFC 9068 §2.2): the API they are for.
    pub access_token_audience: String,
    pub signing_alg: SigningAlg,
    pub refresh_token_ttl: Duration,
    /// When set, a refresh token also stops working after this long without use.
    pub refresh_token_idle_ttl: Option<Duration>,
    pub session_ttl: Duration,
    /// How long after typing their password a console user may create or rotate a secret
    /// without typing it again (`TESSERA_REAUTH_WINDOW`, 10m).
    pub reauth_window: Duration,
    /// The plan of organizations created from now on (`TESSERA_DEFAULT_PLAN`, `enterprise`:
    /// every feature, as before plans existed).
    pub default_plan: crate::plans::Plan,
    /// The longest a resource-server decision is served from memory. Revocations reach the
    /// cache sooner, through the revocation feed (`revocation::feed`); this bounds everything else.
    pub check_cache_ttl: Duration,
    pub db_pool_size: u32,
    /// How long `tessera serve` keeps retrying a PostgreSQL that does not answer at start-up
    /// (zero: give up at once).
    pub db_startup_wait: Duration,
    pub workers: Option<usize>,
    /// Networks webhook deliveries may reach although they are not public (loopback, private,
    /// …): `TESSERA_WEBHOOK_ALLOW_NETWORKS`, a CIDR list. Empty by default.
    pub webhook_allow_networks: Vec<IpNet>,
    /// Whether `http://` webhook endpoints are accepted (`TESSERA_WEBHOOK_ALLOW_HTTP`; for
    /// development, default false).
    pub webhook_allow_http: bool,
    /// A webhook request's whole time, connection included (`TESSERA_WEBHOOK_TIMEOUT`, 15s).
    pub webhook_timeout: Duration,
    /// The pauses before each retry of a failed delivery (`TESSERA_WEBHOOK_RETRY_SCHEDULE`;
    /// Standard Webhooks' example: 5s 5m 30m 2h 5h 10h 14h 20h 24h).
    pub webhook_retries: Vec<Duration>,
    /// An endpoint whose every delivery failed this long is disabled
    /// (`TESSERA_WEBHOOK_DISABLE_AFTER`, 5d).
    pub webhook_disable_after: Duration,
    /// Deliveries one instance sends at once (`TESSERA_WEBHOOK_WORKERS`, 4).
    pub webhook_workers: usize,
    /// How often an idle instance looks for due deliveries (`TESSERA_WEBHOOK_POLL`, 500ms).
    pub webhook_poll: Duration,
    /// GitHub secret-scanning public keys, a file in GitHub's `{"public_keys": [...]}`
    /// format (`TESSERA_GITHUB_SECRET_SCANNING_KEYS`). Unset: leak reports are refused (401).
    pub github_scanning_keys: Option<std::path::PathBuf>,
    /// Brute-force limits, request rates, and bounds on password hashing and request bodies.
    pub limits: Limits,
    /// Where Prometheus metrics are served (`GET /metrics`), on a listener of its own so that
    /// they are never exposed with the public API (`TESSERA_METRICS_BIND`, `127.0.0.1:9464`,
    /// the exporters' customary port on loopback); `off`: no listener, nothing recorded.
    pub metrics_bind: Option<SocketAddr>,
    /// Whether the issuer (and audience) were derived from the bind address, and so follow
    /// it when the port is chosen by the OS (`:0`).
    derived_issuer: bool,
    derived_audience: bool,
}

/// Brute-force limits and resource bounds (`TESSERA_SIGN_IN_*`, `TESSERA_*_RATE_LIMIT`, …).
/// Defaults follow NIST SP 800-63B §5.2.2 (at most 100 consecutive failed attempts on an
/// account) and leave a legitimate user or client untouched.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Failed sign-ins an account may have before each further attempt must wait
    /// (`TESSERA_SIGN_IN_FREE_FAILURES`, 5).
    pub sign_in_free_failures: u32,
    /// The wait after the first failure past the free ones; it doubles with each further one
    /// (`TESSERA_SIGN_IN_FIRST_DELAY`, 1s).
    pub sign_in_first_delay: Duration,
    /// The longest wait between attempts (`TESSERA_SIGN_IN_MAX_DELAY`, 15m).
    pub sign_in_max_delay: Duration,
    /// Consecutive refused attempts that lock the account (`TESSERA_SIGN_IN_LOCKOUT_AFTER`,
    /// 50; at most 100).
    pub sign_in_lockout_after: u32,
    /// How long a lockout lasts unless `tessera user unlock` ends it
    /// (`TESSERA_SIGN_IN_LOCKOUT_DURATION`, 1h).
    pub sign_in_lockout: Duration,
    /// Sign-in attempts per source address (an IPv6 address counts as its /64), across
    /// accounts (`TESSERA_SIGN_IN_IP_LIMIT`, 100/10m; `off`).
    pub sign_in_per_ip: Option<crate::limits::Rate>,
    /// Failed client authentications at the token, revocation and introspection endpoints per
    /// source address and per client, and failed bearer authentications at the management API
    /// per source address (`TESSERA_CLIENT_AUTH_LIMIT`, 30/1m; `off`).
    pub client_auth_failures: Option<crate::limits::Rate>,
    /// Management API requests per signed-in user (`TESSERA_MANAGEMENT_RATE_LIMIT`, 600/1m;
    /// `off`).
    pub management_rate: Option<crate::limits::Rate>,
    /// Leak reports whose signature does not verify, per source address
    /// (`TESSERA_SECRET_SCANNING_FAILURE_LIMIT`, 30/1m; `off`). Verified reports are never
    /// limited: they revoke leaked tokens.
    pub secret_scanning_failures: Option<crate::limits::Rate>,
    /// Password hashes computed at once (`TESSERA_PASSWORD_CONCURRENCY`; default half the
    /// CPUs, at least 1). Each argon2 verification takes 19 MiB while it runs.
    pub password_concurrency: usize,
    /// A request body must arrive within this long of its head (`TESSERA_BODY_TIMEOUT`, 10s).
    pub body_timeout: Duration,
}

impl Limits {
    fn from_vars(vars: &Vars<'_>) -> Result<Limits, ConfigError> {
        use crate::limits::Rate;
        let count = |name: &'static str, default: u32, max: u32| {
            vars.parse(name, default, |raw| match raw.parse() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(format!("{raw:?} is not a number from 1 to {max}")),
            })
        };
        let rate = |name: &'static str, default: Rate| vars.parse(name, Some(default), Rate::parse);
        let duration = |name: &'static str, default: Duration, (min, max): (Duration, Duration)| {
            vars.parse(name, default, move |raw| {
                let d = parse_duration(raw)?;
                if d < min || d > max {
                    return Err(format!(
                        "must be from {} to {}",
                        humantime::format_duration(min),
                        humantime::format_duration(max)
                    ));
                }
                Ok(d)
            })
        };
        let minute = Duration::from_secs(60);
        Ok(Limits {
            sign_in_free_failures: count("TESSERA_SIGN_IN_FREE_FAILURES", 5, 99)?,
            sign_in_first_delay: duration(
                "TESSERA_SIGN_IN_FIRST_DELAY",
                Duration::from_secs(1),
                (Duration::from_millis(100), Duration::from_secs(3600)),
            )?,
            sign_in_max_delay: duration(
                "TESSERA_SIGN_IN_MAX_DELAY",
                Duration::from_secs(15 * 60),
                (Duration::from_secs(1), Duration::from_secs(86_400)),
            )?,
            sign_in_lockout_after: count("TESSERA_SIGN_IN_LOCKOUT_AFTER", 50, 100)?,
            sign_in_lockout: duration(
                "TESSERA_SIGN_IN_LOCKOUT_DURATION",
                Duration::from_secs(3600),
                (Duration::from_secs(1), Duration::from_secs(365 * 86_400)),
            )?,
            sign_in_per_ip: rate("TESSERA_SIGN_IN_IP_LIMIT", Rate::new(100, 10 * minute))?,
            client_auth_failures: rate("TESSERA_CLIENT_AUTH_LIMIT", Rate::new(30, minute))?,
            management_rate: rate("TESSERA_MANAGEMENT_RATE_LIMIT", Rate::new(600, minute))?,
            secret_scanning_failures: rate(
                "TESSERA_SECRET_SCANNING_FAILURE_LIMIT",
                Rate::new(30, minute),
            )?,
            password_concurrency: vars.parse(
                "TESSERA_PASSWORD_CONCURRENCY",
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
                |raw| match raw.parse() {
                    Ok(n) if (1..=256).contains(&n) => Ok(n),
                    _ => Err(format!("{raw:?} is not a number from 1 to 256")),
                },
            )?,
            body_timeout: duration(
                "TESSERA_BODY_TIMEOUT",
                Duration::from_secs(10),
                (Duration::from_millis(100), Duration::from_secs(300)),
            )?,
        })
    }
}

/// Where settings come from: the process environment, or a map in tests.
struct Vars<'a>(&'a dyn Fn(&'static str) -> Option<String>);

impl Vars<'_> {
    /// A variable's value, treating an empty value like an absent one.
    fn get(&self, name: &'static str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn parse<T>(
        &self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => parse(raw.trim()).map_err(|message| ConfigError { var: name, message }),
        }
    }
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    crate::duration::parse(raw).map_err(|e| e.to_string())
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        for (name, value) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("TESSERA_")) && value.to_str().is_none()
            {
                return Err(ConfigError {
                    var: "TESSERA_*",
                    message: format!("{} is not valid UTF-8", name.to_string_lossy()),
                });
            }
        }
        Self::from_vars(&|name| std::env::var(name).ok())
    }

    /// Builds the settings from any source of variables (tests pass a map).
    pub fn from_vars(lookup: &dyn Fn(&'static str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);
        let database_url = vars.parse(
            "TESSERA_DATABASE_URL",
            DatabaseUrl::Sqlite("tessera.db".into()),
            |raw| DatabaseUrl::parse(raw).map_err(|e| e.to_string()),
        )?;
        let bind: SocketAddr =
            vars.parse("TESSERA_BIND", ([127, 0, 0, 1], 8080).into(), |raw| {
                raw.parse()
                    .map_err(|_| format!("{raw:?} is not an address such as 127.0.0.1:8080"))
            })?;
        let derived_issuer = vars.get("TESSERA_ISSUER").is_none();
        let derived_audience = vars.get("TESSERA_ACCESS_TOKEN_AUDIENCE").is_none();
        let issuer = vars.parse("TESSERA_ISSUER", format!("http://{bind}"), parse_issuer)?;
        let token_brand = vars.parse("TESSERA_TOKEN_BRAND", "tsr".to_string(), |raw| {
            crate::tokens::secret::validate_brand(raw).map(|()| raw.to_string())
        })?;
        let trusted_proxies = vars.parse(
            "TESSERA_TRUSTED_PROXIES",
            default_trusted_proxies(),
            parse_networks,
        )?;
        let bootstrap_admin_password = vars.get("TESSERA_BOOTSTRAP_ADMIN_PASSWORD");
        if let Some(p) = &bootstrap_admin_password {
            crate::validate::password(p).map_err(|e| ConfigError {
                var: "TESSERA_BOOTSTRAP_ADMIN_PASSWORD",
                message: e.to_string(),
            })?;
        }
        let access_token_ttl = vars.parse(
            "TESSERA_ACCESS_TOKEN_TTL",
            Duration::from_secs(3600),
            parse_duration,
        )?;
        let access_token_audience =
            vars.parse("TESSERA_ACCESS_TOKEN_AUDIENCE", issuer.clone(), |raw| {
                if raw.len() > 512 || raw.chars().any(char::is_control) {
                    Err(format!("{raw:?} is not a usable audience"))
                } else {
                    Ok(raw.to_string())
                }
            })?;
        let signing_alg =
            vars.parse("TESSERA_SIGNING_ALG", SigningAlg::Es256, SigningAlg::parse)?;
        let refresh_token_ttl = vars.parse(
            "TESSERA_REFRESH_TOKEN_TTL",
            Duration::from_secs(30 * 86400),
            parse_duration,
        )?;
        let refresh_token_idle_ttl = vars.parse("TESSERA_REFRESH_TOKEN_IDLE_TTL", None, |raw| {
            parse_duration(raw).map(Some)
        })?;
        let session_ttl = vars.parse(
            "TESSERA_SESSION_TTL",
            Duration::from_secs(12 * 3600),
            parse_duration,
        )?;
        let reauth_window = vars.parse(
            "TESSERA_REAUTH_WINDOW",
            Duration::from_secs(600),
            parse_duration,
        )?;
        let default_plan = vars.parse(
            "TESSERA_DEFAULT_PLAN",
            crate::plans::Plan::Enterprise,
            |raw| {
                raw.parse()
                    .map_err(|e: crate::plans::UnknownPlan| e.to_string())
            },
        )?;
        let check_cache_ttl =
            vars.parse("TESSERA_CHECK_CACHE_TTL", Duration::from_secs(30), |raw| {
                let d = parse_duration(raw)?;
                if d > Duration::from_secs(300) {
                    return Err("must be at most 5m".into());
                }
                Ok(d)
            })?;
        let db_pool_size = vars.parse("TESSERA_DB_POOL_SIZE", 8, |raw| match raw.parse() {
            Ok(n) if (1..=256).contains(&n) => Ok(n),
            _ => Err(format!("{raw:?} is not a number from 1 to 256")),
        })?;
        let db_startup_wait = vars.parse(
            "TESSERA_DB_STARTUP_WAIT",
            Duration::from_secs(60),
            parse_duration,
        )?;
        let workers = vars.parse("TESSERA_WORKERS", None, |raw| match raw.parse() {
            Ok(n) if (1..=1024).contains(&n) => Ok(Some(n)),
            _ => Err(format!("{raw:?} is not a number from 1 to 1024")),
        })?;
        let webhook_allow_networks =
            vars.parse("TESSERA_WEBHOOK_ALLOW_NETWORKS", Vec::new(), parse_networks)?;
        let webhook_allow_http =
            vars.parse("TESSERA_WEBHOOK_ALLOW_HTTP", false, |raw| match raw {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(format!("{raw:?} is not true or false")),
            })?;
        let webhook_timeout =
            vars.parse("TESSERA_WEBHOOK_TIMEOUT", Duration::from_secs(15), |raw| {
                let d = parse_duration(raw)?;
                if d.is_zero() || d > Duration::from_secs(60) {
                    return Err("must be more than zero and at most 60s".into());
                }
                Ok(d)
            })?;
        let webhook_retries = vars.parse(
            "TESSERA_WEBHOOK_RETRY_SCHEDULE",
            [5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            |raw| {
                let pauses: Vec<Duration> = raw
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(parse_duration)
                    .collect::<Result<_, _>>()?;
                if pauses.len() > 30 {
                    return Err("at most 30 retries".into());
                }
                Ok(pauses)
            },
        )?;
        let webhook_disable_after = vars.parse(
            "TESSERA_WEBHOOK_DISABLE_AFTER",
            Duration::from_secs(5 * 86_400),
            parse_duration,
        )?;
        let webhook_workers =
            vars.parse("TESSERA_WEBHOOK_WORKERS", 4, |raw| match raw.parse() {
                Ok(n) if (1..=64).contains(&n) => Ok(n),
                _ => Err(format!("{raw:?} is not a number from 1 to 64")),
            })?;
        let webhook_poll =
            vars.parse("TESSERA_WEBHOOK_POLL", Duration::from_millis(500), |raw| {
                let d = parse_duration(raw)?;
                if d < Duration::from_millis(10) || d > Duration::from_secs(60) {
                    return Err("must be from 10ms to 60s".into());
                }
                Ok(d)
            })?;
        let github_scanning_keys = vars
            .get("TESSERA_GITHUB_SECRET_SCANNING_KEYS")
            .map(std::path::PathBuf::from);
        let limits = Limits::from_vars(&vars)?;
        let metrics_bind = vars.parse(
            "TESSERA_METRICS_BIND",
            Some(([127, 0, 0, 1], 9464).into()),
            parse_metrics_bind,
        )?;
        Ok(Config {
            limits,
            metrics_bind,
            webhook_allow_networks,
            webhook_allow_http,
            webhook_timeout,
            webhook_retries,
            webhook_disable_after,
            webhook_workers,
            webhook_poll,
            github_scanning_keys,
            database_url,
            bind,
            issuer,
            token_brand,
            trusted_proxies,
            bootstrap_admin_password,
            access_token_ttl,
            access_token_audience,
            signing_alg,
            refresh_token_ttl,
            refresh_token_idle_ttl,
            session_ttl,
            reauth_window,
            default_plan,
            check_cache_ttl,
            db_pool_size,
            db_startup_wait,
            workers,
            derived_issuer,
            derived_audience,
        })
    }

    /// Records the address actually bound (port 0 picks one), updating what derives from it.
    pub fn bound_to(&mut self, addr: SocketAddr) {
        self.bind = addr;
        if self.derived_issuer {
            self.issuer = format!("http://{addr}");
            if self.derived_audience {
                self.access_token_audience = self.issuer.clone();
            }
        }
    }

    /// Cookies get `Secure` only when the issuer is served over https, so that the
    /// zero-setup `http://127.0.0.1:8080` still works in a browser.
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
}

fn parse_metrics_bind(raw: &str) -> Result<Option<SocketAddr>, String> {
    if raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| format!("{raw:?} is not an address such as 127.0.0.1:9464, nor off"))
}

fn default_trusted_proxies() -> Vec<IpNet> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    vec![
        IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
        IpNet::new_assert(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
    ]
}

fn parse_networks(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(crate::validate::network)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

fn parse_issuer(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw:?} must be an http or https URL"));
    }
    // RFC 8414 §2: the issuer has no query or fragment.
    if url.query().is_some() || url.fragment().is_some() || url.host_str().is_none() {
        return Err(format!("{raw:?} must have a host and no query or fragment"));
    }
    Ok(raw.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(&|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_run_without_setup() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DatabaseUrl::Sqlite("tessera.db".into()));
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.token_brand, "tsr");
        assert_eq!(c.db_startup_wait, Duration::from_secs(60));
        assert!(!c.secure_cookies());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (var, value) in [
            ("TESSERA_DATABASE_URL", "mysql://x"),
            ("TESSERA_BIND", "localhost"),
            ("TESSERA_ISSUER", "ftp://x"),
            ("TESSERA_TOKEN_BRAND", "Bad_Brand"),
            ("TESSERA_TRUSTED_PROXIES", "10.0.0.0/99"),
            ("TESSERA_ACCESS_TOKEN_TTL", "forever"),
            ("TESSERA_DB_STARTUP_WAIT", "60"),
            ("TESSERA_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/33"),
            ("TESSERA_WEBHOOK_ALLOW_HTTP", "maybe"),
            ("TESSERA_WEBHOOK_TIMEOUT", "5m"),
            ("TESSERA_WEBHOOK_RETRY_SCHEDULE", "5s soon"),
            ("TESSERA_SIGN_IN_LOCKOUT_AFTER", "101"),
            ("TESSERA_SIGN_IN_IP_LIMIT", "100"),
            ("TESSERA_BODY_TIMEOUT", "1h"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().starts_with(var), "{err}");
        }
    }

    #[test]
    fn a_zero_startup_wait_means_fail_at_once() {
        let c = config(&[("TESSERA_DB_STARTUP_WAIT", "0s")]).unwrap();
        assert_eq!(c.db_startup_wait, Duration::ZERO);
    }

    #[test]
    fn metrics_listen_on_loopback_unless_turned_off() {
        let c = config(&[]).unwrap();
        assert_eq!(c.metrics_bind, Some(([127, 0, 0, 1], 9464).into()));
        let c = config(&[("TESSERA_METRICS_BIND", "0.0.0.0:9100")]).unwrap();
        assert_eq!(c.metrics_bind, Some(([0, 0, 0, 0], 9100).into()));
        let c = config(&[("TESSERA_METRICS_BIND", "off")]).unwrap();
        assert_eq!(c.metrics_bind, None);
        let err = config(&[("TESSERA_METRICS_BIND", "localhost:9464")]).unwrap_err();
        assert_eq!(err.var, "TESSERA_METRICS_BIND");
    }

    #[test]
    fn issuer_follows_bind_and_drops_a_trailing_slash() {
        let c = config(&[("TESSERA_BIND", "0.0.0.0:9000")]).unwrap();
        assert_eq!(c.issuer, "http://0.0.0.0:9000");
        let c = config(&[("TESSERA_ISSUER", "https://auth.example.com/")]).unwrap();
        assert_eq!(c.issuer, "https://auth.example.com");
        assert!(c.secure_cookies());
    }
}

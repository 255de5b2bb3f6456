//! What an operator sees of a running Tessera: structured logs via `tracing`, filtered by
//! `RUST_LOG` (default `info`), and Prometheus [`metrics`].
//!
//! Nothing secret is ever passed to a log macro: request logs carry method, path (never the
//! query string, which may hold `code` or `api_key`), status and timing, never headers.

pub(crate) mod metrics;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub(crate) fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr so that `--json` output on stdout stays one clean JSON value.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

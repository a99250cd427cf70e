//! Logging: to stderr (stdout is reserved for command results), text or JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `RUST_LOG` filters (default `info`, with sqlx's per-query lines off);
/// `POSTPROXY_LOG_FORMAT=json` switches to one JSON object per line.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let json = std::env::var("POSTPROXY_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    // try_init: a second call (tests) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

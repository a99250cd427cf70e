//! Command line: every option is also an environment variable.

use clap::{Args, Parser, Subcommand};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://postproxy.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What `--help` says beyond the flags: how a platform is switched on.
const AFTER_HELP: &str = "\
Platforms (connecting profiles and publishing) are switched on by their OAuth app:
  POSTPROXY_<PLATFORM>_CLIENT_ID and POSTPROXY_<PLATFORM>_CLIENT_SECRET
  with <PLATFORM> one of FACEBOOK, INSTAGRAM, TIKTOK, LINKEDIN, YOUTUBE, TWITTER, THREADS.
  Optional: POSTPROXY_<PLATFORM>_AUTHORIZE_URL, _TOKEN_URL, _API_URL, _SCOPES (overrides).
Other settings: POSTPROXY_DB_MAX_CONNECTIONS (default 8), RUST_LOG, POSTPROXY_LOG_FORMAT=json.
The README lists every setting and each platform's app set-up.";

#[derive(Debug, Parser)]
#[command(name = "postproxy", version, about = "Self-hosted Postproxy API server")]
#[command(after_help = AFTER_HELP)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Database URL: a SQLite file (`sqlite://path.db`, created when missing) or `postgres://…`.
    #[arg(long, env = "POSTPROXY_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,

    /// Key that encrypts OAuth tokens at rest: 32 bytes as base64 or hex. Required with
    /// PostgreSQL; on SQLite it defaults to a generated key file beside the database.
    #[arg(long, env = "POSTPROXY_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// `serve` options, so that `postproxy` alone runs the server.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts and API keys.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "POSTPROXY_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// Base of the URLs the server hands out (default: `http://<listen address>`).
    #[arg(long, env = "POSTPROXY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Requests per minute allowed per API key, counted in each server process; 0 disables.
    #[arg(long, env = "POSTPROXY_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,
    /// Where media is stored: a directory, `file:///…`, or `s3://bucket/prefix` (with the
    /// usual AWS_* variables). Default: a `media` folder beside the SQLite file, or `./media`.
    #[arg(long, env = "POSTPROXY_MEDIA_URL")]
    pub media_url: Option<String>,
    /// Let media downloads reach private, loopback and link-local addresses.
    #[arg(long, env = "POSTPROXY_ALLOW_PRIVATE_URLS", default_value_t = false)]
    pub allow_private_urls: bool,
    /// Jobs (publishes, downloads, refreshes) one process runs at once. One platform may use up
    /// to three quarters of them, so a slow platform never starves the others.
    #[arg(long, env = "POSTPROXY_WORKER_CONCURRENCY", default_value_t = 96,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_concurrency: u16,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account with a "Default" profile group and a full-access key; prints JSON.
    CreateAccount {
        /// The account's name (1 to 255 characters; `--account` accepts it later).
        #[arg(long)]
        name: String,
    },
    /// List the accounts (id, name, created_at, working key count); prints JSON.
    ListAccounts,
    /// Create an API key (full access, or scoped to one profile group); prints JSON.
    CreateKey {
        /// Account id (as printed by create-account or list-accounts) or the account's name.
        #[arg(long)]
        account: String,
        /// Scope the key to this profile group of the account.
        #[arg(long)]
        profile_group: Option<String>,
        /// A label for the key.
        #[arg(long)]
        name: Option<String>,
    },
    /// List an account's API keys (no secrets); prints JSON.
    ListKeys {
        /// Account id or name.
        #[arg(long)]
        account: String,
    },
    /// Revoke an API key; it stops working at once, on every replica.
    RevokeKey {
        /// Key id (as printed by create-key or list-keys).
        key_id: String,
    },
}

use std::process::ExitCode;

use clap::Parser;
use postproxy::cli::{Cli, Command};
use postproxy::{admin, startup, telemetry};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line, not clap's multi-line usage block.
            let msg = e.to_string();
            eprintln!("{}", msg.lines().next().unwrap_or("invalid arguments"));
            return ExitCode::from(2);
        }
    };
    telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn rand_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(&postproxy::crypto::hash_secret(&postproxy::crypto::random_token()));
    key
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => startup::serve(&cli.database_url, cli.secret_key.as_deref(), &cli.serve).await,
        Some(Command::Serve(args)) => startup::serve(&cli.database_url, cli.secret_key.as_deref(), &args).await,
        Some(Command::Migrate) => {
            startup::open_db(&cli.database_url).await?.close().await;
            println!("{}", serde_json::json!({"migrated": true}));
            Ok(())
        }
        Some(Command::Admin(cmd)) => {
            let db = startup::open_db(&cli.database_url).await?;
            // Admin commands print no URLs and touch no OAuth tokens: the public URL, the
            // platforms and the sealing key are irrelevant here (an ephemeral key is never used).
            let sealer = postproxy::sealing::Sealer::new(&rand_key());
            let state = startup::build_state(db.clone(), "http://localhost", Default::default(), sealer).await?;
            let out = admin::run(&state, cmd).await;
            db.close().await;
            println!("{}", serde_json::to_string_pretty(&out?)?);
            Ok(())
        }
    }
}

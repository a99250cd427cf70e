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

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => startup::serve(&cli.database_url, &cli.serve).await,
        Some(Command::Serve(args)) => startup::serve(&cli.database_url, &args).await,
        Some(Command::Migrate) => {
            startup::open_db(&cli.database_url).await?.close().await;
            println!("{}", serde_json::json!({"migrated": true}));
            Ok(())
        }
        Some(Command::Admin(cmd)) => {
            let db = startup::open_db(&cli.database_url).await?;
            // Admin commands print no URLs; the public URL is irrelevant here.
            let state = startup::build_state(db.clone(), "http://localhost").await?;
            let out = admin::run(&state, cmd).await;
            db.close().await;
            println!("{}", serde_json::to_string_pretty(&out?)?);
            Ok(())
        }
    }
}

//! `tiejun up | serve <svc> | migrate <svc> | token | leads import | bench <scenario>`.

use clap::Parser as _;
use tiejun::{
    cli::{Cli, Command, LeadsCommand},
    commands,
};
use tiejun_platform::telemetry;

/// A failure to start (a flag that breaks its rule, a port in use) is one
/// line on stderr, `error: ` and the cause with its context, and exit code
/// 1; never a backtrace, whatever `RUST_BACKTRACE` says. Clap reports a
/// value it rejects while parsing itself (exit code 2).
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Token(args) => {
            println!("{}", commands::token(args)?);
            Ok(())
        }
        Command::Up(args) => {
            let telemetry = telemetry::init("tiejun")?;
            commands::up(args, telemetry.registry()).await
        }
        Command::Serve { target } => {
            let telemetry = telemetry::init(target_name(&target))?;
            commands::serve(target, telemetry.registry()).await
        }
        Command::Bench { scenario } => {
            let _telemetry = telemetry::init("bench")?;
            tiejun::bench::run(scenario).await
        }
        Command::Leads {
            command: LeadsCommand::Import(args),
        } => {
            let summary = tiejun::import::run(&args).await?;
            println!("imported {}: {summary}", args.file.display());
            Ok(())
        }
        Command::Migrate { service, database } => {
            let _telemetry = telemetry::init("migrate")?;
            commands::migrate(service, database).await
        }
    }
}

fn target_name(target: &tiejun::cli::ServeTarget) -> &'static str {
    use tiejun::cli::ServeTarget as T;
    match target {
        T::Gateway(_) => "gateway",
        T::Leads(_) => "leads",
        T::Billing(_) => "billing",
        T::Training(_) => "training",
    }
}

use std::process::ExitCode;

use clap::Parser as _;
use patchbay::{
    commands,
    config::{Cli, Command},
    error::ErrorChain,
    telemetry,
};

// glibc malloc showed up at 10-18% of server CPU under load; mimalloc's
// per-thread free lists suit a runtime that allocates per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, &cli.log);
    let result = match cli.command {
        Command::Serve(args) => commands::serve(args).await,
        Command::Migrate(args) => commands::migrate(args).await,
        Command::Token(args) => commands::token(args),
        Command::RotateKeys(args) => commands::rotate_keys(args).await,
        Command::Doctor(args) => patchbay::doctor::run(args).await,
        Command::Watch(args) => patchbay::watcher::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("patchbay: {}", ErrorChain(&e));
            ExitCode::FAILURE
        }
    }
}

use std::process::ExitCode;

use clap::Parser as _;
use patchbay::{
    commands,
    config::{Cli, Command},
    error::ErrorChain,
    telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, &cli.log);
    let result = match cli.command {
        Command::Serve(args) => commands::serve(args).await,
        Command::Migrate(args) => commands::migrate(args).await,
        Command::Token(args) => commands::token(args),
        Command::RotateKeys(args) => commands::rotate_keys(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("patchbay: {}", ErrorChain(&e));
            ExitCode::FAILURE
        }
    }
}

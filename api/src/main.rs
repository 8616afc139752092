use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let config = api::config::Config::parse();
    api::telemetry::init(&config.settings);
    match api::app::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "clientele failed");
            ExitCode::FAILURE
        }
    }
}

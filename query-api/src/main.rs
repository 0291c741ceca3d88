//! The query-api binary: serves Catalog's read API and web console until a shutdown signal. It
//! has no subcommands and reads no arguments, only its environment (see `Config`).

use std::process::ExitCode;

use catalog_support::config;
use catalog_support::shutdown::Shutdown;
use query_api::{Application, Config};

#[tokio::main]
async fn main() -> ExitCode {
    catalog_support::telemetry::init();
    let config = match Config::from_env(&config::from_process()) {
        Ok(config) => config,
        Err(err) => return err.exit("query-api"),
    };
    let stop = Shutdown::on_signals();
    let result = async {
        Application::build(config)
            .await?
            .run_until_stopped(stop)
            .await
    };
    match result.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "query-api failed");
            ExitCode::FAILURE
        }
    }
}

//! The query-api binary: serves Catalog's read API and web console until a shutdown signal. It
//! has no subcommands; its settings come from the environment (see `Config`). `--help` and
//! `--version` answer without any.

use std::process::ExitCode;

use catalog_support::config;
use catalog_support::shutdown::Shutdown;
use clap::Parser;
use query_api::{Application, Config};

/// Catalog's query API: products, lists and search, history and past versions, image
/// renditions and the web console. Configured by environment variables (docs/OPERATIONS.md).
#[derive(Parser)]
#[command(version)]
struct Cli {}

#[tokio::main]
async fn main() -> ExitCode {
    Cli::parse();
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

//! `catalog`: a whole catalog in and out of Catalog over its HTTP API, for people at a
//! terminal. `catalog import products.ndjson` uploads a file (NDJSON, or CSV with `--csv`) to
//! `POST /imports` and follows the job with a progress bar; `catalog export > catalog.ndjson`
//! writes `GET /export` to standard output.
//!
//! Exit codes: 0 when every line was imported (or the export is whole), 1 when some lines
//! failed, 2 when the import or the export could not be done at all.

mod csv_file;
mod export;
mod import;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "catalog",
    about = "Import products into Catalog and export the catalog"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Imports a file of products: one JSON object per line (`POST /products`' fields plus
    /// `variants`), or CSV with `--csv`. Follows the job until it ends.
    Import {
        /// The file to import.
        file: PathBuf,
        /// The file is CSV, one row per variant (see docs/OPERATIONS.md for its header).
        #[arg(long)]
        csv: bool,
        /// Check and count every line; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// command-api's base URL.
        #[arg(long, env = "CATALOG_API", default_value = "http://127.0.0.1:8080")]
        api: String,
        /// A bearer token with the scope `catalog:write`.
        #[arg(long, env = "CATALOG_TOKEN", hide_env_values = true)]
        token: String,
        /// How many failed lines to print at the end (the job keeps the first 1000).
        #[arg(long, default_value_t = 20)]
        errors: usize,
    },
    /// Writes the whole catalog to standard output, one product per line, all at one event
    /// position (printed on standard error).
    Export {
        /// query-api's base URL.
        #[arg(
            long,
            env = "CATALOG_QUERY_API",
            default_value = "http://127.0.0.1:8081"
        )]
        query_api: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import {
            file,
            csv,
            dry_run,
            api,
            token,
            errors,
        } => {
            import::run(import::Import {
                file,
                csv,
                dry_run,
                api,
                token,
                errors_shown: errors,
            })
            .await
        }
        Command::Export { query_api } => export::run(&query_api).await,
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("catalog: {err:#}");
            ExitCode::from(2)
        }
    }
}

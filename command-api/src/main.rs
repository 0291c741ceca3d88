//! The command-api binary: serves Catalog's write API (`serve`, the default), applies pending
//! database migrations (`migrate`), prints a signed development token (`token`), or keeps the
//! people who sign in to the console (`user add|remove|list`).

use std::process::ExitCode;
use std::time::Duration;

use catalog_support::auth::Authenticator;
use catalog_support::config::{self, ConfigError};
use catalog_support::secret::Secret;
use catalog_support::shutdown::Shutdown;
use clap::{Parser, Subcommand};
use command_api::{Application, Config};

/// Catalog's command API.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a signed development token.
    Token {
        /// The actor recorded on every event the token's holder causes.
        #[arg(long, default_value = "dev")]
        sub: String,
        /// Space-separated scopes.
        #[arg(long, default_value = "catalog:write catalog:audit")]
        scope: String,
        /// Validity in hours.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
    },
    /// Add, remove or list the people who sign in to the console.
    User {
        #[command(subcommand)]
        command: command_api::people::UserCommand,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    catalog_support::telemetry::init();
    let env = config::from_process();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Token {
            sub,
            scope,
            ttl_hours,
        } => {
            // Development tokens are HS256: the keys of a JWKS are public, they only verify.
            let Some(secret) = env.get("JWT_SECRET").map(Secret::new) else {
                return ConfigError::new(
                    "JWT_SECRET",
                    "is required to sign tokens (a JWKS only verifies them)",
                )
                .exit("command-api");
            };
            // With the audience and issuer the services expect, when they expect them.
            let (audience, issuer) = (env.get("JWT_AUDIENCE"), env.get("JWT_ISSUER"));
            let auth = Authenticator::new(&secret, Duration::ZERO)
                .expecting(audience.as_deref(), issuer.as_deref());
            println!(
                "{}",
                auth.issue(&sub, &scope, Duration::from_secs(ttl_hours * 3600))
            );
            ExitCode::SUCCESS
        }
        Command::User { command } => command_api::people::run(&env, command).await,
        Command::Migrate => {
            let url = match env.url(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/catalog",
                &["postgres", "postgresql"],
            ) {
                Ok(url) => url,
                Err(err) => return err.exit("command-api"),
            };
            match run_migrations(url.expose()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(error = format!("{err:#}"), "migration failed");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve => {
            let config = match Config::from_env(&env) {
                Ok(config) => config,
                Err(err) => return err.exit("command-api"),
            };
            match serve(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(error = format!("{err:#}"), "command-api failed");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run_migrations(url: &str) -> anyhow::Result<()> {
    let pool = catalog_support::db::pool(url, 2)?;
    catalog_support::db::migrate(&pool).await
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run_until_stopped(Shutdown::on_signals()).await
}

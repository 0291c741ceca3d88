use std::process::ExitCode;
use std::sync::Arc;

use catalog_support::amqp::Topology;
use catalog_support::config;
use catalog_support::redis_model::RedisReadModel;
use catalog_support::shutdown::{self, Shutdown};
use clap::{Parser, Subcommand};
use projector::config::Config;
use projector::consumer::{report_status, Projector, Stats};
use projector::postgres::PgReadModel;
use projector::rebuild::{rebuild, Target};
use projector::verify::verify;

/// Catalog's read-model projector.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume events and keep the read models up to date (the default).
    Run,
    /// Drop the read models and rebuild them from the event store.
    Rebuild {
        #[arg(long, value_enum, default_value = "all")]
        target: Target,
    },
    /// Replay every product and compare with both read models; exit 1 on any mismatch.
    Verify,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    catalog_support::telemetry::init();
    let config = match Config::from_env(&config::from_process()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("projector: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    match run(cli.command.unwrap_or(Command::Run), config).await {
        Ok(code) => code,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "projector failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let pool = catalog_support::db::pool(config.database_url.expose(), 8)?;
    let redis = RedisReadModel::connect(config.redis_url.expose(), &config.namespace).await?;
    match command {
        Command::Run => {
            let stop = Shutdown::default();
            let trigger = stop.clone();
            tokio::spawn(async move {
                shutdown::signal().await;
                trigger.trigger();
            });
            let listener = tokio::net::TcpListener::bind(config.http_addr).await?;
            let router = catalog_support::health::router(pool.clone())
                .merge(catalog_support::metrics::router());
            let http_stop = stop.clone();
            tokio::spawn(async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(async move { http_stop.wait().await })
                    .await;
                if let Err(err) = served {
                    tracing::error!(error = %err, "metrics listener failed");
                }
            });
            tracing::info!(addr = %config.http_addr, "projector metrics and health listening");
            let stats = Arc::new(Stats::default());
            tokio::spawn(report_status(
                stats.clone(),
                config.status_every,
                stop.clone(),
            ));
            let projector = Projector {
                postgres: PgReadModel::new(pool.clone()),
                redis,
                topology: Topology::new(&config.namespace),
                stats,
            };
            projector
                .run(config.amqp_url.expose(), config.prefetch, &stop)
                .await;
            pool.close().await;
            tracing::info!("projector stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Rebuild { target } => {
            let rebuilt = rebuild(&pool, &redis, target, true).await?;
            println!(
                "rebuilt {} products from {} events in {:.2?} ({:.0} events/s)",
                rebuilt.products,
                rebuilt.events,
                rebuilt.elapsed,
                rebuilt.events_per_sec()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify => {
            let report = verify(&pool, &redis).await?;
            for mismatch in &report.mismatches {
                println!("{mismatch}");
            }
            println!(
                "verified {} products ({} events): {} mismatches",
                report.products,
                report.events,
                report.mismatches.len()
            );
            Ok(if report.mismatches.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

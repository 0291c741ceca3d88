//! The `projector` binary: `run` (the default) keeps the read models, `images` runs the image
//! worker, `webhooks` delivers the change feed to webhook subscriptions, and the one-shot
//! `rebuild`, `verify` and `retire` rebuild and check the read models and drop older
//! generations.

use std::process::ExitCode;

use catalog_read_model::redis::RedisReadModel;
use catalog_store::broker::Topology;
use catalog_support::config;
use catalog_support::shutdown::Shutdown;
use clap::{Parser, Subcommand};
use projector::app::{own_generation, ImagesProcess, ReadModelsProcess, WebhooksProcess};
use projector::config::Config;
use projector::generation::retire;
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
    /// Run the image worker: renditions for attached images, blob deletion for removed ones.
    Images,
    /// Deliver the change feed to webhook subscriptions.
    Webhooks,
    /// Drop the read models and rebuild them from the event store.
    Rebuild {
        #[arg(long, value_enum, default_value = "all")]
        target: Target,
    },
    /// Replay every product and compare with both read models, and recompute every event's hash
    /// chain; exit 1 on any mismatch or broken link.
    Verify,
    /// Drop what older read-model generations left (tables, documents, queues) once a newer
    /// one is live; run when no process of the previous release is left.
    Retire,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    catalog_support::telemetry::init();
    let config = match Config::from_env(&config::from_process()) {
        Ok(config) => config,
        Err(err) => return err.exit("projector"),
    };
    match run(cli.command.unwrap_or(Command::Run), config).await {
        Ok(code) => code,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "projector failed");
            ExitCode::FAILURE
        }
    }
}

/// How stored events are read: upcast, v1's plain texts in the configured default locale.
fn schema(config: &Config) -> catalog_domain::Schema {
    catalog_domain::Schema::new(config.default_locale.clone())
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run => {
            let process = ReadModelsProcess::build(config).await?;
            process.run_until_stopped(Shutdown::on_signals()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Images => {
            let process = ImagesProcess::build(config).await?;
            process.run_until_stopped(Shutdown::on_signals()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Webhooks => {
            let process = WebhooksProcess::build(config).await?;
            process.run_until_stopped(Shutdown::on_signals()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rebuild { target } => {
            let (pool, redis) = connect(&config).await?;
            let rebuilt = rebuild(&pool, &redis, &schema(&config), target, true).await?;
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
            let (pool, redis) = connect(&config).await?;
            let report = verify(&pool, &redis, &schema(&config)).await?;
            for mismatch in &report.mismatches {
                println!("{mismatch}");
            }
            let breaks = catalog_store::audit::verify_chains(&pool).await?;
            for broken in &breaks {
                println!("{broken}");
            }
            println!("audited the hash chains: {} broken links", breaks.len());
            println!(
                "verified {} products ({} events): {} mismatches",
                report.products,
                report.events,
                report.mismatches.len()
            );
            Ok(if report.mismatches.is_empty() && breaks.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Retire => {
            let pool = catalog_support::db::pool(config.database_url.expose(), 2)?;
            let topology = Topology::new(&config.namespace).with_shards(config.shards);
            let retired = retire(
                &pool,
                &config.redis,
                &config.namespace,
                &topology,
                config.amqp_url.expose(),
            )
            .await?;
            println!("retired read-model generations: {retired:?}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The one-shot commands connect eagerly: they cannot do their work without either.
async fn connect(config: &Config) -> anyhow::Result<(sqlx::PgPool, RedisReadModel)> {
    let pool = own_generation(catalog_support::db::pool(config.database_url.expose(), 8)?);
    let redis = RedisReadModel::connect(&config.redis, &config.namespace).await?;
    Ok((pool, redis))
}

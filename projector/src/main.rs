use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use catalog_read_model::redis::RedisReadModel;
use catalog_store::broker::Topology;
use catalog_support::config;
use catalog_support::shutdown::{self, Shutdown};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;

use anyhow::Context;
use catalog_read_model::postgres::PgReadModel;
use catalog_renditions::Limits;
use catalog_store::blobs::BlobStore;
use catalog_store::event_store::ProductStore;
use catalog_support::health::{Dependency, Need};
use projector::config::Config;
use projector::consumer::{report_status, Stats};
use projector::images::{ImageConsumer, ImageWorker};
use projector::read_models::{Projector, ReadModels};
use projector::rebuild::{rebuild, Target};
use projector::verify::verify;
use tokio::sync::Semaphore;

/// How long a Redis call may take before the consumer counts it as failed and retries.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the projector checks that Redis still holds the read model (it refills it when
/// Redis restarted empty or was flushed).
const REFILL_CHECK_EVERY: Duration = Duration::from_secs(2);

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
    /// Drop the read models and rebuild them from the event store.
    Rebuild {
        #[arg(long, value_enum, default_value = "all")]
        target: Target,
    },
    /// Replay every product and compare with both read models, and recompute every event's hash
    /// chain; exit 1 on any mismatch or broken link.
    Verify,
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

fn stop_on_signal() -> Shutdown {
    let stop = Shutdown::default();
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown::signal().await;
        trigger.trigger();
    });
    stop
}

/// `/metrics` and `/health/*` for a process that has no HTTP API of its own.
async fn serve_http(
    addr: SocketAddr,
    dependencies: Vec<Dependency>,
    stop: Shutdown,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let router = catalog_support::health::router_with(dependencies)
        .merge(catalog_support::metrics::router())
        .fallback(catalog_support::http::not_found);
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.wait().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "metrics listener failed");
        }
    });
    tracing::info!(%addr, "metrics and health listening");
    Ok(())
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let pool = catalog_support::db::pool(config.database_url.expose(), 8)?;
    // Lazily for the long-running consumer, which must start and wait while Redis is away;
    // eagerly for the one-shot commands, which cannot do their work without it.
    let redis_url = config.redis_url.expose();
    let lazy_redis = || RedisReadModel::new(redis_url, &config.namespace, REDIS_TIMEOUT);
    let redis = || RedisReadModel::connect(redis_url, &config.namespace);
    match command {
        Command::Run => {
            let redis = lazy_redis()?;
            let stop = stop_on_signal();
            let stats = Arc::new(Stats::default());
            // Every event goes to both read models: without any of the three, no progress.
            let dependencies = vec![
                Dependency::postgres(pool.clone()),
                redis.clone().dependency(Need::Required),
                Dependency::link("rabbitmq", Need::Required, stats.link.clone()),
            ];
            serve_http(config.http_addr, dependencies, stop.clone()).await?;
            tokio::spawn(report_status(
                stats.clone(),
                config.status_every,
                stop.clone(),
            ));
            tokio::spawn(projector::refill::keep_redis_filled(
                pool.clone(),
                redis.clone(),
                REFILL_CHECK_EVERY,
                stop.clone(),
            ));
            let projector = Projector {
                handler: Arc::new(ReadModels {
                    postgres: PgReadModel::new(pool.clone()),
                    redis,
                    stats: Arc::clone(&stats),
                }),
                topology: Topology::new(&config.namespace).with_shards(config.shards),
                placement: config.placement,
                stats,
                concurrency: 1,
            };
            projector
                .run(config.amqp_url.expose(), config.prefetch, &stop)
                .await;
            pool.close().await;
            tracing::info!("projector stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Images => {
            let stop = stop_on_signal();
            let stats = Arc::new(Stats::default());
            let blobs = BlobStore::from_url(&config.blob_store)?;
            let dependencies = vec![
                Dependency::postgres(pool.clone()),
                Dependency::link("rabbitmq", Need::Required, stats.link.clone()),
                blobs.clone().dependency(Need::Required),
            ];
            serve_http(config.image_http_addr, dependencies, stop.clone()).await?;
            tokio::spawn(report_status(
                stats.clone(),
                config.status_every,
                stop.clone(),
            ));
            tokio::spawn(
                projector::sweep::Sweep {
                    pool: pool.clone(),
                    blobs: blobs.clone(),
                    every: config.upload_sweep_every,
                    abandoned_after: config.upload_abandoned_after,
                }
                .run(stop.clone()),
            );
            let limits = Limits {
                max_pixels: config.image_max_pixels,
                ..Limits::default()
            };
            let worker = ImageConsumer {
                handler: Arc::new(ImageWorker {
                    store: ProductStore::new(pool.clone(), 50),
                    blobs,
                    limits,
                    cpu: Arc::new(Semaphore::new(config.image_concurrency)),
                    stats: Arc::clone(&stats),
                }),
                topology: Topology::new(&config.namespace),
                placement: Default::default(),
                stats,
                concurrency: config.image_concurrency,
            };
            // Prefetch a little beyond what is being rendered, so the next image is at hand.
            let prefetch = (config.image_concurrency * 2).min(u16::MAX as usize) as u16;
            worker.run(config.amqp_url.expose(), prefetch, &stop).await;
            pool.close().await;
            tracing::info!("image worker stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Rebuild { target } => {
            let rebuilt = rebuild(&pool, &redis().await?, target, true).await?;
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
            let report = verify(&pool, &redis().await?).await?;
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
    }
}

//! `scripts/chaos`: kills, stops, restarts and cuts every part of a running Catalog under a
//! mixed workload, one fault per scenario, and proves after each that nothing was lost,
//! duplicated or left inconsistent. Loopback only, bounded in time and commands.

mod checks;
mod cluster;
mod receiver;
mod report;
mod scenarios;
mod workload;

use std::io::Cursor;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use clap::Parser;

use crate::scenarios::{Deps, Row, Settings};

#[derive(Parser)]
#[command(
    about = "Fault-injection suite: every scenario must end with 0 lost, 0 duplicated, 0 mismatches"
)]
struct Args {
    /// The short variant: one kill of the projector, one RabbitMQ restart, and one more
    /// scenario that changes every day.
    #[arg(long)]
    short: bool,
    /// The scenarios on real clusters (a streaming standby, three RabbitMQ nodes, Redis with
    /// Sentinel) instead of the single-instance ones.
    #[arg(long)]
    cluster: bool,
    /// Run only these scenarios (comma-separated names; see --list).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    /// Concurrent clients of the mixed workload.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Products the workload starts with.
    #[arg(long, default_value_t = 24)]
    products: usize,
    /// Write the summary table into this Markdown file, between its chaos markers.
    #[arg(long)]
    docs: Option<PathBuf>,
    /// Seeds the random choices (when faults strike, what the workload sends); a run prints
    /// the seed it used, so that a failing run can be replayed. Random when not given.
    #[arg(long)]
    seed: Option<u64>,
}

const SCENARIOS: [&str; 9] = [
    "projector",
    "command-api",
    "image-worker",
    "rabbitmq",
    "redis",
    "postgres",
    "connections",
    "one-product",
    "webhooks",
];

const SHORT: [&str; 2] = ["projector", "rabbitmq"];

/// The seed of one scenario's choices: the run's seed mixed with the scenario's name (FNV-1a),
/// so that replaying one scenario with `--only` makes the choices it made in the whole run.
fn scenario_seed(seed: u64, name: &str) -> u64 {
    name.bytes()
        .fold(seed ^ 0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// One more scenario for the short run, a different one each day: every scenario runs in CI
/// every few days without the short run growing.
fn rotating() -> &'static str {
    let others: Vec<&str> = SCENARIOS
        .into_iter()
        .filter(|s| !SHORT.contains(s))
        .collect();
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 86_400);
    others[(days % others.len() as u64) as usize]
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Read now, as the run starts on what was just built: the tree may change during a run.
    let provenance = report::provenance(args.cluster);
    // The cluster scenarios are a set of their own: they start three-node clusters and take
    // longer than the short run may.
    let scenarios: &[&str] = if args.cluster {
        &cluster::SCENARIOS
    } else {
        &SCENARIOS
    };
    if args.list {
        for name in scenarios {
            println!("{name}");
        }
        return ExitCode::SUCCESS;
    }
    let chosen: Vec<&str> = match (args.only.is_empty(), args.short) {
        (false, _) => {
            if let Some(unknown) = args.only.iter().find(|n| !scenarios.contains(&n.as_str())) {
                eprintln!("unknown scenario {unknown:?}; --list names them");
                return ExitCode::from(2);
            }
            scenarios
                .iter()
                .copied()
                .filter(|s| args.only.iter().any(|o| o == s))
                .collect()
        }
        (true, true) if args.cluster => {
            eprintln!(
                "--short and --cluster do not combine: the cluster scenarios have no short form"
            );
            return ExitCode::from(2);
        }
        (true, true) => {
            let mut short = SHORT.to_vec();
            short.push(rotating());
            short
        }
        (true, false) => scenarios.to_vec(),
    };
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    eprintln!(
        "chaos: seed {seed} (replay: scripts/chaos --seed {seed}{}{} --only {})",
        if args.short { " --short" } else { "" },
        if args.cluster { " --cluster" } else { "" },
        chosen.join(",")
    );
    let settings = Settings {
        short: args.short,
        workers: args.workers,
        products: args.products,
        seed,
    };
    let started = Instant::now();
    eprintln!("chaos: starting private PostgreSQL, Redis and RabbitMQ instances");
    let mut deps = Deps::start().await;
    eprintln!(
        "chaos: dependencies up in {:.1} s; scenarios: {}",
        started.elapsed().as_secs_f64(),
        chosen.join(", ")
    );
    let photo = jpeg(640, 480);
    let large_photo = jpeg(3000, 2000);
    let mut rows: Vec<Row> = Vec::new();
    for name in &chosen {
        let began = Instant::now();
        eprintln!("chaos: scenario {name}");
        let settings = Settings {
            seed: scenario_seed(seed, name),
            ..settings
        };
        let row = match *name {
            "projector" => scenarios::projector_kills(&deps, settings, photo.clone()).await,
            "command-api" => scenarios::command_api_kills(&deps, settings, photo.clone()).await,
            "image-worker" => {
                scenarios::image_worker_kills(&deps, settings, photo.clone(), large_photo.clone())
                    .await
            }
            "rabbitmq" => scenarios::rabbitmq_outage(&mut deps, settings, photo.clone()).await,
            "redis" => scenarios::redis_outage(&mut deps, settings, photo.clone()).await,
            "postgres" => scenarios::postgres_restart(&mut deps, settings, photo.clone()).await,
            "connections" => scenarios::connections_cut(&deps, settings, photo.clone()).await,
            "one-product" => scenarios::one_product(&deps, settings, photo.clone()).await,
            "webhooks" => scenarios::webhooks(&deps, settings, photo.clone()).await,
            cluster_scenario if args.cluster => {
                cluster::run(cluster_scenario, &deps, settings, photo.clone()).await
            }
            _ => unreachable!("names are checked above"),
        };
        eprintln!(
            "chaos: {name} {} in {:.0} s",
            if row.findings.passed() {
                "passed"
            } else {
                "FAILED"
            },
            began.elapsed().as_secs_f64()
        );
        for note in &row.findings.notes {
            eprintln!("  {note}");
        }
        rows.push(row);
    }
    let table = report::table(&rows, seed, args.cluster);
    println!("{table}");
    if let Some(path) = &args.docs {
        let table = format!("{provenance}{table}");
        if let Err(err) = report::write_into(path, &table, args.cluster) {
            eprintln!("chaos: could not write {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let failed = rows.iter().filter(|r| !r.findings.passed()).count();
    eprintln!(
        "chaos: {} of {} scenarios passed in {:.0} s (seed {seed})",
        rows.len() - failed,
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A photo-like JPEG: smooth gradients with texture, so renditions do real work.
fn jpeg(width: u32, height: u32) -> Bytes {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let noise = ((x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)) % 32) as u8;
        image::Rgb([
            ((x * 255 / width) as u8).saturating_add(noise),
            ((y * 255 / height) as u8).saturating_add(noise),
            (((x + y) * 127 / (width + height)) as u8).saturating_add(noise),
        ])
    });
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Jpeg)
        .expect("a JPEG encodes");
    Bytes::from(bytes.into_inner())
}

//! `catalog-bench`: the parts of `bench/run` that a plain HTTP load tool cannot do. Each
//! subcommand measures one thing and prints one JSON object; `report` turns a run's results
//! into the table of docs/PERFORMANCE.md.

mod ceiling;
mod client;
mod cpu;
mod events;
mod feed;
mod import;
mod lag;
mod latency;
mod report;
mod search;
mod seed;
mod stages;
mod write;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Catalog's load generators, baselines and benchmark report")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The HTTP ceiling: a bare axum server answering GET /products/{id} with the given bytes
    /// from memory, with the headers query-api sends. Runs until stopped.
    Ceiling {
        #[arg(long, default_value = "127.0.0.1:8090")]
        addr: String,
        /// The response body, as fetched from query-api.
        #[arg(long)]
        body: PathBuf,
    },
    /// Creates products through command-api and writes their ids, one per line.
    Seed {
        #[command(flatten)]
        api: client::Api,
        #[arg(long, default_value_t = 1000)]
        products: usize,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Variants of the last product (the one the read row reads), besides its master.
        #[arg(long, default_value_t = 1)]
        wide: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Closed-loop stock adjustments on existing products from concurrent clients.
    Write {
        #[command(flatten)]
        api: client::Api,
        #[arg(long)]
        ids: PathBuf,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Commands at a fixed rate; after each, a read with ?min_version waits for its version.
    /// Reports the visibility lag: from the command's answer to the read's.
    Lag {
        #[command(flatten)]
        api: client::Api,
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        query_api: String,
        #[arg(long)]
        ids: PathBuf,
        #[arg(long, default_value_t = 500)]
        rate: u32,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Also time each command's event on `GET /events/stream`, followed from after this
        /// position (the feed's end before the load), with `AUDIT_TOKEN`.
        #[arg(long)]
        stream_after: Option<i64>,
        #[arg(long, env = "AUDIT_TOKEN", requires = "stream_after")]
        audit_token: Option<String>,
    },
    /// Pages through the whole change feed (`GET /events`) as one consumer and reports the
    /// rate.
    Feed {
        #[command(flatten)]
        feed: feed::Feed,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Writes a synthetic history straight into an event store (through COPY, so the hash
    /// chain trigger runs): `products` products of `per_product` events each, or with
    /// `--search` row 9's catalog to search (one event each, every third published too).
    Events {
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value_t = 50_000)]
        products: usize,
        #[arg(long, default_value_t = 20)]
        per_product: usize,
        /// The search catalog: shirts named from a vocabulary of pseudo-words, their attributes
        /// facets.
        #[arg(long, conflicts_with = "per_product")]
        search: bool,
    },
    /// `GET /products` on the search catalog from concurrent clients: a search with a typo, two
    /// filters with facets, a tenth page; latencies, and the plans of query-api's statements.
    Search {
        #[command(flatten)]
        args: search::Args,
    },
    /// CPU time around a load. Without --since, prints a mark: the machine's and every
    /// process's CPU time so far. With it, prints the seconds the machine and the named
    /// processes spent since that mark.
    Cpu {
        /// A mark printed before the load.
        #[arg(long)]
        since: Option<PathBuf>,
        /// NAME=PID: a process whose time to report as NAME_s.
        #[arg(long = "process", value_parser = cpu::named, requires = "since")]
        processes: Vec<(String, String)>,
        /// NAME=COMM: every process of that command name (as in /proc/<pid>/comm), summed
        /// as NAME_s.
        #[arg(long = "comm", value_parser = cpu::named, requires = "since")]
        comms: Vec<(String, String)>,
        /// What GNU time (`-f '%U %S'`) wrote about the load generator, reported as loadgen_s.
        #[arg(long, requires = "since")]
        loadgen: Option<PathBuf>,
        /// Clock ticks per second of /proc's figures (`getconf CLK_TCK`).
        #[arg(long, default_value_t = 100)]
        clk_tck: u32,
    },
    /// Bulk import: writes a file of `products` products (a quarter with four variants),
    /// uploads it to `POST /imports` and follows the job; samples `--pid`'s memory meanwhile.
    Import {
        #[command(flatten)]
        api: client::Api,
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        /// Where the file is written.
        #[arg(long)]
        file: PathBuf,
        /// command-api's process, whose resident memory is sampled.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Reads the projector's JSON log on stdin and prints where the events' lag was spent:
    /// percentiles of the time before publishing, in the broker and in the consumer.
    Stages {
        /// The consumer whose `event handled` lines count.
        #[arg(long, default_value = "projector")]
        consumer: String,
    },
    /// Reads the results of one bench/run and prints the markdown table.
    Report {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ceiling { addr, body } => ceiling::serve(&addr, &body).await,
        Command::Seed {
            api,
            products,
            clients,
            wide,
            out,
        } => seed::run(&api, products, clients, wide, &out).await,
        Command::Write {
            api,
            ids,
            clients,
            seconds,
        } => write::run(&api, &ids, clients, seconds).await,
        Command::Lag {
            api,
            query_api,
            ids,
            rate,
            seconds,
            stream_after,
            audit_token,
        } => {
            let stream = stream_after.zip(audit_token).map(|(after, audit_token)| {
                let feed = feed::Feed {
                    query_api: query_api.clone(),
                    audit_token,
                };
                (feed, after)
            });
            lag::run(&api, &query_api, &ids, rate, seconds, stream).await
        }
        Command::Feed { feed, limit } => feed::read_all(&feed, limit).await,
        Command::Events {
            database_url,
            products,
            per_product,
            search,
        } => {
            let catalog = match search {
                true => events::Catalog::search(),
                false => events::Catalog::Histories { per_product },
            };
            events::run(&database_url, products, &catalog).await
        }
        Command::Search { args } => search::run(&args).await,
        Command::Cpu {
            since,
            processes,
            comms,
            loadgen,
            clk_tck,
        } => cpu::run(
            since.as_deref(),
            &processes,
            &comms,
            loadgen.as_deref(),
            clk_tck,
        ),
        Command::Import {
            api,
            products,
            file,
            pid,
        } => import::run(&api, products, &file, pid).await,
        Command::Stages { consumer } => stages::run(&consumer),
        Command::Report { dir } => report::run(&dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("catalog-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

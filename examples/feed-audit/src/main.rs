//! `feed-audit`: follows a query-api's change feed as an outside auditor would and verifies
//! every event's link in its aggregate's hash chain. Exit codes: 0 when it stopped as asked
//! (`--until-idle`, `--max-events`), 1 at the first broken link, 2 for a bad command line, 3
//! when the feed could not be audited (refused, unreachable, unreadable).

use std::process::ExitCode;
use std::time::Duration;

use catalog_feed_audit::{AuditError, Auditor, Follow, Seen};
use clap::Parser;

/// Follows the change feed (`GET /events/stream`) and verifies every event's hash-chain link.
#[derive(Parser)]
#[command(name = "feed-audit", version)]
struct Args {
    /// query-api's base URL.
    #[arg(
        long,
        env = "CATALOG_QUERY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    url: String,
    /// A bearer token with the scope `catalog:audit`.
    #[arg(long, env = "CATALOG_TOKEN", hide_env_values = true)]
    token: String,
    /// Start after this position (0: from the first event).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    after: i64,
    /// Only these event types (comma-separated); each product's other events are read by id
    /// to keep its chain whole.
    #[arg(long, value_delimiter = ',')]
    types: Vec<String>,
    /// Only this product's events.
    #[arg(long)]
    product_id: Option<String>,
    /// Exit (0) after this many seconds without an event; without it, follow forever.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    until_idle: Option<u64>,
    /// Exit (0) after verifying this many events.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_events: Option<u64>,
    /// Print only the summary, not a line per event.
    #[arg(long)]
    quiet: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let follow = Follow {
        after: args.after,
        types: args.types,
        product_id: args.product_id,
        until_idle: args.until_idle.map(Duration::from_secs),
        max_events: args.max_events,
    };
    let quiet = args.quiet;
    let outcome = match Auditor::new(&args.url, &args.token) {
        Ok(auditor) => auditor.audit(&follow, |seen| show(&seen, quiet)).await,
        Err(err) => Err(err),
    };
    match outcome {
        Ok(report) => {
            println!(
                "verified {} events through position {} ({} earlier links read, {} aggregates \
                 anchored at their first event seen, {} connections)",
                report.verified,
                report.last_position,
                report.links_read,
                report.anchored,
                report.connections
            );
            ExitCode::SUCCESS
        }
        Err(err @ AuditError::Broken(_)) => {
            eprintln!("feed-audit: {err}");
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("feed-audit: {err}");
            ExitCode::from(3)
        }
    }
}

/// One line per event on stdout, tab-separated for scripts; reconnections on stderr.
fn show(seen: &Seen<'_>, quiet: bool) {
    let (event, outcome) = match seen {
        Seen::Verified(event) => (event, "verified"),
        Seen::Anchored(event) => (event, "anchored"),
        Seen::Reconnecting { after, wait, why } => {
            eprintln!("feed-audit: {why}; resuming after position {after} in {wait:?}");
            return;
        }
    };
    if !quiet {
        println!(
            "{}\t{outcome}\t{} {}\t#{}\t{}",
            event.position,
            event.aggregate_type,
            event.aggregate_id,
            event.sequence,
            event.event_type
        );
    }
}

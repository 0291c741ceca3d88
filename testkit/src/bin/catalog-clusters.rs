//! Starts the private clusters a benchmark runs Catalog on, prints where they are, and holds
//! them until it is told to stop (SIGTERM, SIGINT, or the process that started it ending): then
//! it stops them and deletes their data. What `bench/scale-projectors --cluster` runs on.
//!
//!   catalog-clusters
//!
//! starts a PostgreSQL primary with a synchronous streaming standby (`synchronous_commit = on`,
//! as docs/OPERATIONS.md recommends for failover) and a three-node RabbitMQ cluster, then prints
//! shell assignments, one per line, and `ready` last:
//!
//!   PG_PORT=…            the primary, role `postgres`, trusted on 127.0.0.1
//!   PG_STANDBY_PORT=…    the standby, read-only
//!   AMQP_URL=…           every node's default vhost, comma-separated, as the services take it
//!   CLUSTER_RSS_MIB=…    the RabbitMQ nodes' resident memory once clustered
//!   ready

use std::io::Write;

use catalog_testkit::private::{PrivatePostgres, PrivateRabbitCluster};
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() {
    if std::env::args().len() > 1 {
        eprintln!("usage: catalog-clusters (no arguments; see the source's header)");
        std::process::exit(2);
    }
    let primary = PrivatePostgres::start().await;
    let standby = primary.start_standby().await;
    primary.replicate_synchronously(&standby, "on").await;
    let rabbit = PrivateRabbitCluster::start().await;
    let rss: u64 = rabbit.rss_kib().iter().sum();

    let mut out = std::io::stdout().lock();
    let lines = [
        format!("PG_PORT={}", primary.port()),
        format!("PG_STANDBY_PORT={}", standby.port()),
        format!("AMQP_URL={}", rabbit.amqp_url_list()),
        format!("CLUSTER_RSS_MIB={}", rss / 1024),
        "ready".to_string(),
    ];
    for line in lines {
        writeln!(out, "{line}").expect("stdout is writable");
    }
    out.flush().expect("stdout is writable");
    drop(out);

    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM can be watched");
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT can be watched");
    // Whoever started us gone (the benchmark killed outright): nothing of ours should outlive it.
    let parent = std::os::unix::process::parent_id();
    let orphaned = async {
        while std::os::unix::process::parent_id() == parent {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
        () = orphaned => {}
    }
    // Dropping each stops its servers and deletes their directories; the standby first, so the
    // primary's stop does not wait on a synchronous standby that is going anyway.
    drop(standby);
    drop(primary);
    drop(rabbit);
}

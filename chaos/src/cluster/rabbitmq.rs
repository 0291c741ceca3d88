//! Nodes of a three-node RabbitMQ cluster SIGKILLed under the mixed workload. The scenario runs
//! its own cluster (the suite's PostgreSQL and Redis serve as they are) and gives every service
//! all three nodes in `AMQP_URL`. The projector's events go through two shards, each consumed by
//! two projector processes with single-active-consumer, so a node's loss also hands shards
//! over between processes. Two faults, each node brought back after a while:
//!
//! 1. a node that leads none of the projector's queues: it holds only replicas (and no
//!    connection, as every service connects to the first node that answers);
//! 2. the node leading the projector's queues, where the services are connected: their
//!    connections fail over to the next node, and the queues elect a new leader.
//!
//! Recovery is the time from the kill until a new command was acknowledged and readable through
//! query-api; the node's return is probed the same way.

use std::time::{Duration, Instant};

use bytes::Bytes;
use catalog_store::broker::{Topology, PROJECTOR};
use catalog_testkit::private::PrivateRabbitCluster;
use catalog_testkit::system::{logged, Service};
use serde_json::Value;

use crate::checks::Findings;
use crate::scenarios::{Deps, Routes, Row, Settings, Stage};
use crate::workload::Mix;

/// Shards of the projector's queue: each has a leader of its own, and single-active-consumer.
const SHARDS: u16 = 2;
/// How long a killed node stays down, under load, before it is started again.
const DOWN: Duration = Duration::from_secs(5);
/// How long a quorum queue may take to elect a new leader after its leader's death.
const ELECTION_LIMIT: Duration = Duration::from_secs(60);

/// What one node kill showed.
struct Fault {
    node: usize,
    /// From the kill until a probe's write was acknowledged and readable.
    failover: Duration,
    /// From the kill until `list_queues` named another leader for every projector queue the
    /// node led (none when it led none).
    elected: Option<Duration>,
    /// How long the node took to start again and rejoin.
    rejoined: Duration,
    /// From the node's return until a probe's write was acknowledged and readable.
    after_return: Duration,
}

pub async fn node_loss(deps: &Deps, settings: Settings, photo: Bytes) -> Row {
    let mut cluster = PrivateRabbitCluster::start().await;
    let started_in = cluster.started_in();
    let rss_at_start = cluster.rss_kib();
    eprintln!(
        "chaos: rabbitmq-cluster: 3 nodes clustered in {:.1} s, RSS {} MiB",
        started_in.as_secs_f64(),
        mib(&rss_at_start)
    );
    let routes = Routes {
        amqp_url: Some(cluster.amqp_url_list()),
        env: vec![
            ("PROJECTOR_SHARDS", SHARDS.to_string()),
            ("PROJECTOR_REPLICAS", "2".into()),
            ("PROJECTOR_INSTANCE", "0".into()),
            // Each process registers on the other's shard soon, so that a standby is there to
            // take over when the fault strikes.
            ("PROJECTOR_STANDBY_AFTER_SECS", "1".into()),
        ],
        ..Routes::default()
    };
    // Half the clients: three nodes share the two cores with the system, a node restarted under
    // the full load takes about a minute to rejoin, and the uploads of that longer run would
    // outlast the settling limit in the debug-build image worker.
    let settings = Settings {
        workers: (settings.workers / 2).max(1),
        ..settings
    };
    let mut stage = Stage::start_with(deps, settings, Mix::SHOP, photo, routes).await;
    let mut second = stage
        .system
        .start_replica(Service::Projector, &[("PROJECTOR_INSTANCE", "1")])
        .await;
    let queues = Topology::new(&stage.system.namespace)
        .with_shards(SHARDS)
        .work_queues(&PROJECTOR);
    let mut choices = fastrand::Rng::with_seed(settings.seed ^ 0x7261_6262_6974);

    let mut faults = Vec::new();
    let mut notes = Vec::new();
    for leader_wanted in [false, true] {
        let wait = stage.pause(Duration::from_secs(2), Duration::from_secs(4));
        stage.run_for(wait).await;
        let leaders = leaders(&cluster, &queues).await;
        let target = if leader_wanted {
            // The node leading most of the projector's queues (all of them, usually: leaders
            // are placed where the declaring connection is).
            (0..3)
                .max_by_key(|&n| leaders.iter().filter(|l| **l == Some(n)).count())
                .expect("three nodes")
        } else {
            let idle: Vec<usize> = (0..3).filter(|n| !leaders.contains(&Some(*n))).collect();
            idle[choices.usize(..idle.len())]
        };
        let led: Vec<&String> = queues
            .iter()
            .zip(&leaders)
            .filter(|(_, l)| **l == Some(target))
            .map(|(q, _)| q)
            .collect();
        notes.push(format!(
            "before fault {}: leaders of the projector's queues {:?}",
            faults.len() + 1,
            letters(&leaders)
        ));

        let killed = Instant::now();
        cluster.kill(target).await;
        let (failover, elected) = tokio::join!(
            stage.probe(killed),
            elected_without(&cluster, &led, target, killed)
        );
        let wait = DOWN.saturating_sub(killed.elapsed());
        stage.run_for(wait).await;
        let rejoined = cluster.start_again(target).await;
        let back = Instant::now();
        let after_return = stage.probe(back).await;
        faults.push(Fault {
            node: target,
            failover,
            elected,
            rejoined,
            after_return,
        });
    }
    stage.run_for(Duration::from_secs(2)).await;
    let leaders_after = leaders(&cluster, &queues).await;
    let rss_at_end = cluster.rss_kib();

    let summary = faults
        .iter()
        .map(|f| {
            let what = match f.elected {
                Some(elected) => format!(
                    "leader {} killed (CLI saw a new leader after {:.1} s)",
                    letter(f.node),
                    elected.as_secs_f64()
                ),
                None => format!("follower {} killed", letter(f.node)),
            };
            format!(
                "{what}: readable after {:.1} s; back in {:.1} s, readable {:.1} s later",
                f.failover.as_secs_f64(),
                f.rejoined.as_secs_f64(),
                f.after_return.as_secs_f64()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    notes.push(format!(
        "cluster: clustered in {:.1} s; RSS {} MiB at the start, {} MiB at the end; leaders \
         after the faults {:?}",
        started_in.as_secs_f64(),
        mib(&rss_at_start),
        mib(&rss_at_end),
        letters(&leaders_after)
    ));
    let row = stage
        .finish_with(
            "RabbitMQ cluster nodes killed",
            summary,
            async move |system, findings| {
                let first_logs = system.logs(Service::Projector);
                let second_logs = second.logs();
                second.kill().await;
                let skipped = last_skipped(&first_logs) + last_skipped(&second_logs);
                let mut projector_logs = first_logs;
                projector_logs.extend(second_logs);
                let reconnects = logged(&projector_logs, "consumer stopped; reconnecting");
                let command_api_logs = system.logs(Service::CommandApi);
                let relay_restarts = logged(&command_api_logs, "relay stopped; restarting");
                let moved = logged(&projector_logs, "connected to another RabbitMQ node")
                    + logged(&command_api_logs, "connected to another RabbitMQ node");
                // A product's events apply only in version order: one that arrives ahead of
                // its predecessors has them read from the event store first.
                let healed = logged(&projector_logs, "healing a gap from the event store");
                notes.push(format!(
                    "services: {reconnects} projector reconnects, {relay_restarts} relay \
                     restarts, {moved} connections to another node; {} events the projectors \
                     received again and skipped as already applied; {healed} arrived ahead of \
                     their product's earlier events, which were read from the event store first",
                    skipped
                ));
                informational(findings, notes);
            },
        )
        .await;
    // The cluster outlives the services that used it: the system deletes its queues on drop.
    drop(cluster);
    row
}

/// The leader of each of `queues`, from one listing of the cluster's queues (each listing
/// starts a CLI VM, which the loaded machine pays for).
async fn leaders(cluster: &PrivateRabbitCluster, queues: &[impl AsRef<str>]) -> Vec<Option<usize>> {
    let placements = cluster.placements().await;
    queues
        .iter()
        .map(|queue| {
            placements
                .iter()
                .find(|p| p.name == queue.as_ref())
                .and_then(|p| p.leader)
        })
        .collect()
}

/// Waits until every one of `queues` is led by a node other than `dead`; how long since
/// `since` that took. `None` when there was nothing to elect.
async fn elected_without(
    cluster: &PrivateRabbitCluster,
    queues: &[&String],
    dead: usize,
    since: Instant,
) -> Option<Duration> {
    if queues.is_empty() {
        return None;
    }
    let deadline = since + ELECTION_LIMIT;
    loop {
        let leaders = leaders(cluster, queues).await;
        if leaders.iter().all(|l| l.is_some_and(|l| l != dead)) || Instant::now() >= deadline {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Notes that explain the run without failing it: the findings keep them beside any failure.
fn informational(findings: &mut Findings, notes: Vec<String>) {
    for note in notes {
        findings.note(note);
    }
}

/// The events a projector process skipped as already applied since it started: its last
/// status line says.
fn last_skipped(logs: &[Value]) -> u64 {
    logs.iter()
        .rev()
        .find(|line| line["message"].as_str() == Some("status"))
        .and_then(|line| line["skipped"].as_u64())
        .unwrap_or(0)
}

/// Each queue's leader by its node's letter, `none` while one is being elected.
fn letters(leaders: &[Option<usize>]) -> Vec<String> {
    leaders
        .iter()
        .map(|l| l.map_or("none".to_string(), |n| letter(n).to_string()))
        .collect()
}

fn letter(node: usize) -> char {
    char::from(b'a' + node as u8)
}

fn mib(rss_kib: &[u64]) -> String {
    rss_kib
        .iter()
        .map(|kib| format!("{:.0}", *kib as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join("/")
}

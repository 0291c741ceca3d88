//! Redis failed over by its Sentinels under the mixed workload. The scenario runs its own
//! primary, replica and three Sentinels (the suite's PostgreSQL and RabbitMQ serve as they
//! are), and every service finds the primary through the Sentinels (`REDIS_SENTINELS`). The
//! primary is SIGKILLed; the Sentinels promote the replica. Meanwhile reads by id must keep
//! answering (query-api falls back to PostgreSQL), and afterwards the projector must refill the
//! promoted replica: it may lack the old primary's last writes, and its filled marker names
//! the old primary. The old primary then comes back, empty, and rejoins as a replica. Recovery
//! is the time from the kill until a new command was acknowledged and readable through
//! query-api.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use catalog_testkit::private::PrivateRedisSentinel;
use catalog_testkit::system::{logged, Service, System};

use crate::checks::Findings;
use crate::scenarios::{Deps, Routes, Row, Settings, Stage};
use crate::workload::Mix;

/// What the projector logs when it has refilled Redis from the PostgreSQL read model.
const REFILLED: &str = "Redis lacked the read model (new, emptied or failed over); refilled it from the PostgreSQL read model";
/// How long the projector may take to notice the failover and refill the promoted replica.
const REFILL_LIMIT: Duration = Duration::from_secs(60);

pub async fn failover(deps: &Deps, settings: Settings, photo: Bytes) -> Row {
    let mut redis = PrivateRedisSentinel::start().await;
    let routes = Routes {
        // Behind Sentinel only REDIS_URL's credentials and database apply: nothing listens on
        // port 1, so a connection that still went to REDIS_URL's address would fail loudly.
        redis_url: Some("redis://127.0.0.1:1".into()),
        env: vec![
            ("REDIS_SENTINELS", redis.sentinels().join(",")),
            ("REDIS_MASTER_NAME", redis.master_name().to_string()),
        ],
        ..Routes::default()
    };
    let mut stage = Stage::start_with(deps, settings, Mix::SHOP, photo, routes).await;
    let wait = stage.pause(Duration::from_secs(2), Duration::from_secs(5));
    stage.run_for(wait).await;

    let refills_before = refills(&stage.system);
    let reader = Reader::start(&stage.system).await;
    let killed = Instant::now();
    redis.kill_primary().await;
    let failover = redis.wait_failover().await;
    stage.probe(killed).await;
    // Reads went on through the failover and the services' reconnection.
    let reads = reader.stop().await;

    // The promoted replica is refilled: the projector logs it once more.
    let deadline = Instant::now() + REFILL_LIMIT;
    while refills(&stage.system) <= refills_before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let refilled = (refills(&stage.system) > refills_before).then(|| killed.elapsed());
    stage.run_for(Duration::from_secs(2)).await;

    let rejoined = redis.start_again_old_primary().await;
    stage.probe(Instant::now()).await;
    stage.run_for(Duration::from_secs(2)).await;

    let memory = redis.memory_kib().await;
    let mut faults = format!(
        "primary SIGKILLed, replica promoted in {:.1} s, old primary rejoined in {:.1} s",
        failover.as_secs_f64(),
        rejoined.as_secs_f64()
    );
    if let Some(refilled) = refilled {
        faults.push_str(&format!(
            ", refilled {:.1} s after the kill",
            refilled.as_secs_f64()
        ));
    }
    let row = stage
        .finish_with(
            "Redis failed over by Sentinel",
            faults,
            async |_, findings: &mut Findings| {
                if refilled.is_none() {
                    findings.failed_probes += 1;
                    findings.note(format!(
                        "the projector did not refill the promoted replica within {} s",
                        REFILL_LIMIT.as_secs()
                    ));
                }
                if reads.failed > 0 {
                    findings.failed_probes += 1;
                    findings.note(format!(
                        "{} of {} reads by id during the failover were not answered",
                        reads.failed, reads.sent
                    ));
                }
                findings.note(format!(
                    "reads by id during the failover: {} answered of {}",
                    reads.sent - reads.failed,
                    reads.sent
                ));
                let memory: Vec<String> = memory
                    .iter()
                    .map(|(process, kib)| format!("{process} {:.1} MiB", *kib as f64 / 1024.0))
                    .collect();
                findings.note(format!("resident memory: {}", memory.join(", ")));
            },
        )
        .await;
    // The Redis set outlives the services that used it.
    drop(redis);
    row
}

/// How many times the projector has logged a refill so far.
fn refills(system: &System) -> usize {
    logged(&system.logs(Service::Projector), REFILLED)
}

/// Reads products by id through query-api, one after another, while Redis fails over: Redis
/// is where those reads go first.
struct Reader {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Reads>,
}

#[derive(Default)]
struct Reads {
    sent: u64,
    failed: u64,
}

impl Reader {
    async fn start(system: &System) -> Self {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT aggregate_id FROM events WHERE event_type = 'ProductCreated' \
             ORDER BY position LIMIT 16",
        )
        .fetch_all(&system.pool)
        .await
        .expect("the event store answers");
        assert!(!ids.is_empty(), "the workload created products");
        let client = system.client.clone();
        let base = system.url(Service::QueryApi);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut reads = Reads::default();
            for id in ids.iter().cycle() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                reads.sent += 1;
                let answer = client
                    .get(format!("{base}/products/{id}"))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                if !answer.is_ok_and(|a| a.status().is_success()) {
                    reads.failed += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            reads
        });
        Self { stop, task }
    }

    async fn stop(self) -> Reads {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the reader ran")
    }
}

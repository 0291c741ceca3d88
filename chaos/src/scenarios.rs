//! The faults, one scenario each. Every scenario runs the whole system on a database, namespace
//! and blob directory of its own, against private PostgreSQL, Redis and RabbitMQ instances that
//! only this suite uses (the shared services are never stopped), drives the mixed workload,
//! injects its fault while the load runs, then lets the system settle and checks it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use catalog_testkit::private::{PrivatePostgres, PrivateRabbit, PrivateRedis};
use catalog_testkit::proxy::FaultProxy;
use catalog_testkit::system::{Service, System};
use sqlx::PgPool;

use crate::checks::{self, Findings};
use crate::receiver::{self, Receiver};
use crate::workload::{acked, Body, Client, Endpoints, Kind, Load, Mix, Record};
use reqwest::Method;

/// The workload stops by itself after this many commands, whatever happens to the faults.
const COMMAND_LIMIT: u64 = 50_000;
/// How long a probe may wait for the system to answer again after a fault.
const PROBE_LIMIT: Duration = Duration::from_secs(120);

pub struct Deps {
    pub postgres: PrivatePostgres,
    pub redis: PrivateRedis,
    pub rabbit: PrivateRabbit,
}

impl Deps {
    pub async fn start() -> Self {
        let (postgres, redis, rabbit) = tokio::join!(
            PrivatePostgres::start(),
            PrivateRedis::start(),
            PrivateRabbit::start()
        );
        Self {
            postgres,
            redis,
            rabbit,
        }
    }
}

#[derive(Clone, Copy)]
pub struct Settings {
    /// The short variant: fewer faults, shorter outages.
    pub short: bool,
    pub workers: usize,
    pub products: usize,
    /// Seeds every random choice of the scenario: when its faults strike and what the
    /// workload's clients send.
    pub seed: u64,
}

/// One line of the summary.
pub struct Row {
    pub scenario: &'static str,
    pub faults: String,
    pub findings: Findings,
    /// The longest time, over the scenario's faults, from the fault's end until a new command
    /// was acknowledged and readable through query-api.
    pub recovery: Duration,
}

/// One scenario's running system and workload.
pub(crate) struct Stage {
    pub(crate) system: System,
    client: Client,
    load: Option<Load>,
    /// Commands the probes sent: they are checked like the workload's.
    probes: Record,
    probe_product: String,
    recovery: Duration,
    /// Probes that never read their own write back: each a failure of the scenario.
    failed_probes: Vec<String>,
    rng: fastrand::Rng,
}

async fn database(deps: &Deps) -> PgPool {
    let name = format!("chaos_{}", uuid::Uuid::new_v4().simple());
    deps.postgres.migrated_database(&name).await
}

/// How a scenario's system differs from the default: where the services reach their
/// dependencies, when not straight at the private instances, and what else runs.
#[derive(Default)]
pub(crate) struct Routes {
    pub(crate) postgres_port: Option<u16>,
    pub(crate) redis_url: Option<String>,
    pub(crate) amqp_url: Option<String>,
    /// Services started besides [`Service::ALL`].
    pub(crate) more_services: Vec<Service>,
    /// Variables added to every service's environment.
    pub(crate) env: Vec<(&'static str, String)>,
    /// The scenario's own database (on a server of its own), instead of a new one on the
    /// suite's private PostgreSQL.
    pub(crate) database: Option<PgPool>,
}

impl Stage {
    /// Starts every service against the private dependencies, and the workload.
    async fn start(deps: &Deps, settings: Settings, mix: Mix, image: Bytes) -> Self {
        Self::start_with(deps, settings, mix, image, Routes::default()).await
    }

    /// The same, with the services reaching their dependencies through `routes`.
    pub(crate) async fn start_with(
        deps: &Deps,
        settings: Settings,
        mix: Mix,
        image: Bytes,
        routes: Routes,
    ) -> Self {
        let pool = match routes.database {
            Some(pool) => pool,
            None => database(deps).await,
        };
        let mut database_url = catalog_testkit::database_url(&pool);
        if let Some(port) = routes.postgres_port {
            database_url =
                database_url.replace(&format!(":{}/", deps.postgres.port()), &format!(":{port}/"));
        }
        let mut env = vec![
            // Short request limits, so that a request cut off by a fault is settled (its
            // idempotency key taken over, its upload swept) within the scenario.
            ("REQUEST_TIMEOUT_SECS".to_string(), "10".to_string()),
            ("UPLOAD_SWEEP_EVERY_SECS".to_string(), "1".to_string()),
            ("UPLOAD_ABANDONED_AFTER_SECS".to_string(), "15".to_string()),
            ("DATABASE_URL".to_string(), database_url),
            (
                "REDIS_URL".to_string(),
                routes.redis_url.unwrap_or_else(|| deps.redis.url()),
            ),
            (
                "AMQP_URL".to_string(),
                routes.amqp_url.unwrap_or_else(|| deps.rabbit.amqp_url()),
            ),
        ];
        env.extend(routes.env.into_iter().map(|(k, v)| (k.to_string(), v)));
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let services: Vec<Service> = Service::ALL
            .into_iter()
            .chain(routes.more_services)
            .collect();
        let system = System::start(pool, &services, &pairs).await;
        let endpoints = Endpoints {
            command: system.url(Service::CommandApi),
            query: system.url(Service::QueryApi),
            token: system.token.clone(),
        };
        let client = Client::new(endpoints.clone());
        let mut rng = fastrand::Rng::with_seed(settings.seed);
        let mut probes = Record::default();
        let probe_product = client
            .create(
                &format!("PROBE-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
                1_000_000,
                &mut probes,
            )
            .await
            .expect("the probe product is created")
            .product;
        let load = Load::start(
            endpoints,
            settings.workers,
            settings.products,
            mix,
            image,
            COMMAND_LIMIT,
            &mut rng,
        )
        .await
        .expect("the workload starts");
        Self {
            system,
            client,
            load: Some(load),
            probes,
            probe_product,
            recovery: Duration::ZERO,
            failed_probes: Vec::new(),
            rng,
        }
    }

    /// Sends one stock adjustment and waits until query-api shows it; returns the time taken
    /// and keeps the longest as the scenario's recovery time. A write that is not
    /// acknowledged, or not readable within [`PROBE_LIMIT`], is a failure of the scenario: the
    /// system did not recover from the fault.
    pub(crate) async fn probe(&mut self, since: Instant) -> Duration {
        let ack = self
            .client
            .adjust(&self.probe_product, 1, None, &mut self.probes)
            .await;
        match ack {
            None => self
                .failed_probes
                .push("a probe's write after the fault was not acknowledged".into()),
            Some(ack) => {
                let deadline = Instant::now() + PROBE_LIMIT;
                let mut read_back = false;
                while !read_back && Instant::now() < deadline {
                    let mut read = Record::default();
                    self.client.read(&ack.product, ack.version, &mut read).await;
                    read_back = read.unavailable_reads == 0 && read.surprises.is_empty();
                    if !read_back {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                if !read_back {
                    self.failed_probes.push(format!(
                        "a probe's write ({} at version {}) was not readable through query-api \
                         within {} s",
                        ack.product,
                        ack.version,
                        PROBE_LIMIT.as_secs()
                    ));
                }
            }
        }
        let took = since.elapsed();
        self.recovery = self.recovery.max(took);
        took
    }

    /// Lets the load run for a while between faults.
    pub(crate) async fn run_for(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    /// A random pause between `short` and `long`, from the scenario's seed.
    pub(crate) fn pause(&mut self, short: Duration, long: Duration) -> Duration {
        let millis = self
            .rng
            .u64(short.as_millis() as u64..=long.as_millis() as u64);
        Duration::from_millis(millis)
    }

    async fn finish(self, scenario: &'static str, faults: String) -> Row {
        self.finish_with(scenario, faults, async |_, _| {}).await
    }

    /// [`Stage::finish`], with the scenario's own checks (`more`) after the common ones.
    pub(crate) async fn finish_with(
        mut self,
        scenario: &'static str,
        faults: String,
        more: impl AsyncFnOnce(&System, &mut Findings),
    ) -> Row {
        let load = self.load.take().expect("the load runs");
        let mut record = load.stop().await;
        record.acks.append(&mut self.probes.acks);
        record.unknown += self.probes.unknown;
        record.server_errors += self.probes.server_errors;
        let mut findings = checks::check(&self.system, &record).await;
        more(&self.system, &mut findings).await;
        findings.failed_probes = self.failed_probes.len();
        // First among the notes, which are capped: what follows a fault the system did not
        // recover from is mostly its consequence.
        findings.notes.splice(0..0, self.failed_probes.drain(..));
        if !findings.passed() {
            let logs = self.system.keep_logs();
            findings
                .notes
                .push(format!("the services' logs are kept in {}", logs.display()));
        }
        Row {
            scenario,
            faults,
            findings,
            recovery: self.recovery,
        }
    }
}

/// Scenario 1: SIGKILL of the projector at random moments, restarted each time.
pub async fn projector_kills(deps: &Deps, settings: Settings, image: Bytes) -> Row {
    let kills = if settings.short { 1 } else { 10 };
    let between = (Duration::from_millis(500), Duration::from_secs(3));
    let stage = Stage::start(deps, settings, Mix::SHOP, image).await;
    kill_and_restart(
        stage,
        Service::Projector,
        kills,
        between,
        "projector SIGKILL",
    )
    .await
}

/// Scenario 2: SIGKILL of command-api, and with it the relay, mid-load; restarted.
pub async fn command_api_kills(deps: &Deps, settings: Settings, image: Bytes) -> Row {
    let kills = if settings.short { 1 } else { 3 };
    let between = (Duration::from_secs(1), Duration::from_secs(3));
    let stage = Stage::start(deps, settings, Mix::SHOP, image).await;
    kill_and_restart(
        stage,
        Service::CommandApi,
        kills,
        between,
        "command-api SIGKILL",
    )
    .await
}

/// Kills `service` `kills` times at random moments `between` apart, restarting it each time.
async fn kill_and_restart(
    mut stage: Stage,
    service: Service,
    kills: usize,
    between: (Duration, Duration),
    scenario: &'static str,
) -> Row {
    for _ in 0..kills {
        let wait = stage.pause(between.0, between.1);
        stage.run_for(wait).await;
        stage.system.kill(service).await;
        let restarted = Instant::now();
        stage.system.start_service(service).await;
        stage.probe(restarted).await;
    }
    stage.run_for(Duration::from_secs(1)).await;
    stage.finish(scenario, format!("{kills} kills")).await
}

/// Scenario 3: SIGKILL of the image worker while it renders; restarted. Large photos are uploaded
/// one after another by a client of their own (the next once the last is rendered), so that the
/// worker is always busy but never buried.
pub async fn image_worker_kills(
    deps: &Deps,
    settings: Settings,
    photo: Bytes,
    large_photo: Bytes,
) -> Row {
    let kills = if settings.short { 1 } else { 3 };
    // Only the large photos, so that "processing" means the worker has one in hand.
    let mix = Mix {
        upload: 0,
        ..Mix::SHOP
    };
    let mut stage = Stage::start(deps, settings, mix, photo).await;
    let stop = Arc::new(AtomicBool::new(false));
    let uploader = tokio::spawn(upload_one_at_a_time(
        stage.client.clone(),
        stage.system.pool.clone(),
        stage.probe_product.clone(),
        large_photo,
        stop.clone(),
    ));
    let mut mid_rendition = 0;
    for _ in 0..kills {
        // Kill it while an image is being rendered, not while it idles.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && processing(&stage.system.pool).await == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let wait = stage.pause(Duration::from_millis(50), Duration::from_millis(400));
        stage.run_for(wait).await;
        if processing(&stage.system.pool).await > 0 {
            mid_rendition += 1;
        }
        stage.system.kill(Service::ImageWorker).await;
        let restarted = Instant::now();
        stage.system.start_service(Service::ImageWorker).await;
        // The image worker's recovery: the images it was rendering are finished by the new one.
        let deadline = restarted + PROBE_LIMIT;
        while Instant::now() < deadline && processing(&stage.system.pool).await > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stage.recovery = stage.recovery.max(restarted.elapsed());
    }
    stop.store(true, Ordering::SeqCst);
    let uploads = uploader.await.expect("the uploader ran");
    let uploaded = uploads.acks.len();
    stage.probes.acks.extend(uploads.acks);
    stage.probes.unknown += uploads.unknown;
    stage.probes.server_errors += uploads.server_errors;
    stage
        .finish(
            "image worker SIGKILL",
            format!("{kills} kills, {mid_rendition} mid-rendition, {uploaded} large photos"),
        )
        .await
}

async fn upload_one_at_a_time(
    client: Client,
    pool: PgPool,
    product: String,
    photo: Bytes,
    stop: Arc<AtomicBool>,
) -> Record {
    let mut record = Record::default();
    let mut attached = 0;
    while !stop.load(Ordering::SeqCst) {
        // A product holds at most 20 images: remove the oldest first.
        if attached == 19 {
            let oldest: Option<String> = sqlx::query_scalar(
                "SELECT image_id FROM product_image_view WHERE product_id = $1 \
                 AND status <> 'processing' ORDER BY ordinal LIMIT 1",
            )
            .bind(&product)
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten();
            if let Some(image) = oldest {
                let path = format!("/products/{product}/images/{image}");
                let (answer, id) = client
                    .command(Method::DELETE, &path, Body::None, None, &mut record)
                    .await;
                if acked(
                    answer,
                    id,
                    Kind::RemoveImage,
                    0,
                    Some(&product),
                    &mut record,
                )
                .is_some()
                {
                    attached -= 1;
                }
            }
        }
        let path = format!("/products/{product}/images");
        let (answer, id) = client
            .command(
                Method::POST,
                &path,
                Body::Image(photo.clone()),
                None,
                &mut record,
            )
            .await;
        if acked(answer, id, Kind::Upload, 0, Some(&product), &mut record).is_some() {
            attached += 1;
        }
        let deadline = Instant::now() + PROBE_LIMIT;
        while Instant::now() < deadline
            && !stop.load(Ordering::SeqCst)
            && processing(&pool).await > 0
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    record
}

async fn processing(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM product_image_view WHERE status = 'processing'")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

/// Scenario 4: RabbitMQ stopped and started again.
pub async fn rabbitmq_outage(deps: &mut Deps, settings: Settings, image: Bytes) -> Row {
    let outage = if settings.short {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(10)
    };
    let mut stage = Stage::start(deps, settings, Mix::SHOP, image).await;
    stage.run_for(Duration::from_secs(2)).await;
    deps.rabbit.stop().await;
    tokio::time::sleep(outage).await;
    deps.rabbit.start_again().await;
    let back = Instant::now();
    stage.probe(back).await;
    stage.run_for(Duration::from_secs(2)).await;
    stage
        .finish("RabbitMQ stopped", format!("{} s down", outage.as_secs()))
        .await
}

/// Scenario 5: Redis stopped and started again (it keeps nothing on disk, so it comes back empty),
/// then flushed while running.
pub async fn redis_outage(deps: &mut Deps, settings: Settings, image: Bytes) -> Row {
    let mut stage = Stage::start(deps, settings, Mix::SHOP, image).await;
    stage.run_for(Duration::from_secs(2)).await;
    deps.redis.stop().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    deps.redis.start_again().await;
    stage.probe(Instant::now()).await;
    stage.run_for(Duration::from_secs(2)).await;
    deps.redis.flush_all().await;
    stage.probe(Instant::now()).await;
    stage.run_for(Duration::from_secs(2)).await;
    stage
        .finish("Redis stopped, then flushed", "10 s down, 1 flush".into())
        .await
}

/// Scenario 6: PostgreSQL restarted under load.
pub async fn postgres_restart(deps: &mut Deps, settings: Settings, image: Bytes) -> Row {
    let mut stage = Stage::start(deps, settings, Mix::SHOP, image).await;
    stage.run_for(Duration::from_secs(2)).await;
    let down = deps.postgres.restart().await;
    stage.probe(Instant::now()).await;
    stage.run_for(Duration::from_secs(2)).await;
    stage
        .finish(
            "PostgreSQL restarted",
            format!("restart took {:.1} s", down.as_secs_f64()),
        )
        .await
}

/// Scenario 7: Every connection to PostgreSQL, Redis and RabbitMQ through a proxy that slows them,
/// cuts them and refuses new ones for a while.
pub async fn connections_cut(deps: &Deps, settings: Settings, image: Bytes) -> Row {
    let postgres = FaultProxy::start(([127, 0, 0, 1], deps.postgres.port()).into()).await;
    let redis = FaultProxy::start(([127, 0, 0, 1], deps.redis.port()).into()).await;
    let rabbit = FaultProxy::start(([127, 0, 0, 1], deps.rabbit.port()).into()).await;
    let routes = Routes {
        postgres_port: Some(postgres.port()),
        redis_url: Some(format!("redis://127.0.0.1:{}", redis.port())),
        amqp_url: Some(format!(
            "amqp://guest:guest@127.0.0.1:{}/%2f",
            rabbit.port()
        )),
        ..Routes::default()
    };
    let proxies = [&postgres, &redis, &rabbit];
    let mut stage = Stage::start_with(deps, settings, Mix::SHOP, image, routes).await;
    stage.run_for(Duration::from_secs(1)).await;

    for proxy in proxies {
        proxy.set_latency(Duration::from_millis(25));
    }
    stage.run_for(Duration::from_secs(4)).await;
    for proxy in proxies {
        proxy.set_latency(Duration::ZERO);
    }
    let rounds = if settings.short { 1 } else { 3 };
    for _ in 0..rounds {
        for proxy in proxies {
            proxy.cut();
        }
        stage.probe(Instant::now()).await;
        stage.run_for(Duration::from_secs(1)).await;
    }
    for proxy in proxies {
        proxy.set_refusing(true);
        proxy.cut();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for proxy in proxies {
        proxy.set_refusing(false);
    }
    stage.probe(Instant::now()).await;
    stage.run_for(Duration::from_secs(2)).await;
    stage
        .finish(
            "connections slowed and cut",
            format!("25 ms for 4 s, {rounds} cuts, 3 s refused"),
        )
        .await
}

/// Scenario 8: Many clients on one product, half with If-Match: no update lost, stock never
/// negative.
pub async fn one_product(deps: &Deps, settings: Settings, image: Bytes) -> Row {
    const CLIENTS: usize = 64;
    let rounds = if settings.short { 5 } else { 15 };
    let initial = 30;
    let mut stage = Stage::start(
        deps,
        Settings {
            workers: 1,
            products: 1,
            ..settings
        },
        Mix::SHOP,
        image,
    )
    .await;
    let mut setup = Record::default();
    let product = stage
        .client
        .create(
            &format!("HOT-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            initial,
            &mut setup,
        )
        .await
        .expect("the contended product is created");
    let mut clients = tokio::task::JoinSet::new();
    for n in 0..CLIENTS {
        let client = stage.client.clone();
        let id = product.product.clone();
        let with_if_match = n % 2 == 0;
        let mut rng = stage.rng.fork();
        clients.spawn(async move {
            let mut record = Record::default();
            for _ in 0..rounds {
                let delta = [-3, -2, -1, 1, 2, 3][rng.usize(..6)];
                let if_match = match with_if_match {
                    true => client.version(&id).await,
                    false => None,
                };
                client.adjust(&id, delta, if_match, &mut record).await;
            }
            record
        });
    }
    let mut contended = Record::default();
    while let Some(done) = clients.join_next().await {
        let record = done.expect("a client ran");
        contended.acks.extend(record.acks);
        contended.refused += record.refused;
        contended.unknown += record.unknown;
        contended.server_errors += record.server_errors;
    }
    let expected: i64 = initial + contended.acks.iter().map(|a| a.delta).sum::<i64>();
    let applied = contended.acks.len();
    let pool = stage.system.pool.clone();
    stage.probes.acks.extend(setup.acks);
    stage.probes.acks.extend(contended.acks);
    stage.probes.unknown += contended.unknown;
    stage.probes.server_errors += contended.server_errors;
    let mut row = stage
        .finish(
            "64 clients on one product",
            format!(
                "{CLIENTS} clients × {rounds}, {applied} applied, {} refused",
                contended.refused
            ),
        )
        .await;
    // Lost updates: the stored stock must be the start plus every acknowledged delta.
    let stored: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT {} FROM events WHERE aggregate_id = $1 \
         AND event_type IN ('ProductCreated', 'StockAdjusted') ORDER BY sequence DESC LIMIT 1",
        checks::STOCK
    ))
    .bind(&product.product)
    .fetch_optional(&pool)
    .await
    .expect("the event store answers");
    if stored != Some(expected) {
        row.findings.lost += 1;
        row.findings.notes.push(format!(
            "the contended product holds stock {stored:?}; its acknowledged adjustments sum to {expected}"
        ));
    }
    row
}

/// Scenario 9: webhook subscriptions delivered to a receiver that fails intermittently (500s,
/// answers that hang past the dispatcher's timeout), goes down for a while, while the
/// dispatcher is SIGKILLed mid-load: every subscription still gets every event it asked for,
/// once, in order, signed.
pub async fn webhooks(deps: &Deps, settings: Settings, image: Bytes) -> Row {
    const SUBSCRIPTIONS: [(&str, &[&str]); 2] = [
        ("everything", &[]),
        ("stock", &["StockAdjusted", "VariantStockAdjusted"]),
    ];
    let down = if settings.short {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(30)
    };
    let kills = if settings.short { 1 } else { 3 };
    let receiver = Receiver::start(settings.seed).await;
    let routes = Routes {
        more_services: vec![Service::Webhooks],
        env: vec![
            ("WEBHOOK_ALLOW_PRIVATE", "true".into()),
            ("WEBHOOK_TIMEOUT_SECS", "1".into()),
            ("WEBHOOK_RETRY_BASE_MS", "100".into()),
            ("WEBHOOK_RETRY_MAX_MS", "2000".into()),
            // Small batches: many deliveries, each a chance to fail.
            ("WEBHOOK_BATCH_SIZE", "20".into()),
            ("WEBHOOK_POLL_INTERVAL_MS", "200".into()),
        ],
        ..Routes::default()
    };
    let mut stage = Stage::start_with(deps, settings, Mix::SHOP, image, routes).await;
    for (name, types) in SUBSCRIPTIONS {
        let answer = stage
            .system
            .client
            .put(format!(
                "{}/subscriptions/{name}",
                stage.system.url(Service::CommandApi)
            ))
            .bearer_auth(&stage.system.token)
            .json(&serde_json::json!({
                "url": receiver.url(name),
                "secret": receiver::SECRET,
                "types": types,
                "from_position": 0,
            }))
            .send()
            .await
            .expect("command-api answers");
        assert!(
            answer.status().is_success(),
            "subscription {name} is saved: {}",
            answer.status()
        );
    }
    receiver.set_failing(true);
    for _ in 0..kills {
        let wait = stage.pause(Duration::from_millis(500), Duration::from_secs(3));
        stage.run_for(wait).await;
        stage.system.kill(Service::Webhooks).await;
        stage.system.start_service(Service::Webhooks).await;
    }
    stage.run_for(Duration::from_secs(1)).await;
    receiver.set_down(true);
    tokio::time::sleep(down).await;
    receiver.set_down(false);
    stage.probe(Instant::now()).await;
    stage.run_for(Duration::from_secs(2)).await;
    let (errors, hangs) = receiver.failures();
    let faults = format!(
        "{errors} 500s, {hangs} hangs, {} s down, {kills} dispatcher kill{}",
        down.as_secs(),
        if kills == 1 { "" } else { "s" }
    );
    stage
        .finish_with(
            "webhook receiver failing",
            faults,
            async |system, findings| {
                receiver.check(&system.pool, &SUBSCRIPTIONS, findings).await;
            },
        )
        .await
}

//! A whole Catalog in one test: command-api (optionally with its relay), an in-process
//! projector and query-api, on the test's own database and in a namespace of its own for
//! exchanges, queues and Redis keys. Dropping the [`World`] stops everything and deletes the
//! namespace, even when the test failed.

pub mod private;
pub mod proxy;
pub mod system;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use catalog_domain::{ProductView, Schema};
use catalog_read_model::postgres::PgReadModel;
use catalog_read_model::redis::RedisReadModel;
use catalog_renditions::Limits;
use catalog_store::blobs::BlobStore;
use catalog_store::broker::{self, Topology, WireEvent};
use catalog_store::event_store::ProductStore;
use catalog_support::auth::Authenticator;
use catalog_support::config::{from_pairs, RedisSettings};
use catalog_support::secret::Secret;
use catalog_support::shutdown::Shutdown;
use lapin::options::ConfirmSelectOptions;
use projector::consumer::Stats;
use projector::images::{ImageConsumer, ImageWorker};
use projector::read_models::{Projector, ReadModels};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::sync::Semaphore;

/// The `JWT_SECRET` every service a test starts is given, so tokens from [`issue`] pass.
pub const SECRET: &str = "delivery-test-secret";
/// The shared RabbitMQ every test uses unless it brings its own ([`private::PrivateRabbit`]).
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The shared Redis every test uses; a test that stops Redis brings its own
/// ([`private::PrivateRedis`]).
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The database URL of a test's own database, for processes started outside the test.
///
/// Those processes start with a cleared environment, so the URL carries the password too: the
/// pool does not reveal the one it connected with, so it is taken from where sqlx took it,
/// `DATABASE_URL` when that names the same server and user, else `PGPASSWORD`.
pub fn database_url(pool: &PgPool) -> String {
    let options = pool.connect_options();
    let mut url = url::Url::parse("postgres://localhost").expect("a valid base URL");
    url.set_host(Some(options.get_host()))
        .expect("sqlx connected to this host");
    url.set_port(Some(options.get_port()))
        .expect("a postgres URL has a port");
    url.set_username(options.get_username())
        .expect("a postgres URL has a user");
    let password = std::env::var("DATABASE_URL")
        .ok()
        .and_then(|given| url::Url::parse(&given).ok())
        .filter(|given| {
            given.host_str() == Some(options.get_host())
                && given.port().unwrap_or(5432) == options.get_port()
                && given.username() == options.get_username()
        })
        .and_then(|given| given.password().map(str::to_owned))
        .or_else(|| std::env::var("PGPASSWORD").ok());
    if let Some(password) = password {
        url.set_password(Some(&password))
            .expect("a postgres URL has a password");
    }
    url.set_path(
        options
            .get_database()
            .expect("sqlx::test names the database"),
    );
    url.to_string()
}

/// The `field` names of a validation problem's `errors`, sorted.
pub fn error_fields(problem: &Value) -> Vec<String> {
    let mut fields = values_of(&problem["errors"], "field");
    fields.sort();
    fields
}

/// The string `key` of each item of a JSON array, in order (the SKUs of a page's `items`).
pub fn values_of(items: &Value, key: &str) -> Vec<String> {
    items
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|item| item[key].as_str().expect("a string").to_string())
        .collect()
}

/// Every (method, path) operation an OpenAPI document describes, the method lower-case.
pub fn operations(document: &Value) -> std::collections::BTreeSet<(String, String)> {
    let mut operations = std::collections::BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                operations.insert((method.to_string(), path.clone()));
            }
        }
    }
    operations
}

/// One test's system: command-api (optionally with its relay) and optionally an in-process
/// projector, all in a namespace of its own. Dropping it stops everything and deletes the
/// namespace's queues, exchange and Redis keys, even when the test failed.
pub struct World {
    /// The test's own database (from `sqlx::test`), which every component uses, with the
    /// read-model tables of this release's generation (see [`read_model_pool`]).
    pub pool: PgPool,
    /// `t<uuid>`: the prefix of the world's exchange, queues and Redis keys.
    pub namespace: String,
    /// command-api's base URL, `http://127.0.0.1:<port>`.
    pub base: String,
    /// The client of every request to command-api and query-api.
    pub client: reqwest::Client,
    /// A `catalog:write` token, which [`World::send`] carries.
    pub token: String,
    /// The Redis read model in the world's namespace, on the shared Redis.
    pub redis: RedisReadModel,
    /// The in-process projector's totals.
    pub stats: Arc<Stats>,
    /// The image worker's totals.
    pub image_stats: Arc<Stats>,
    /// The broker every component of the world uses: [`Options::amqp_url`] or [`AMQP_URL`].
    pub amqp_url: String,
    /// This test's blob store: a directory of its own, deleted with the world.
    pub blob_dir: std::path::PathBuf,
    /// The blob store in `blob_dir`, as command-api, query-api and the image worker see it.
    pub blobs: BlobStore,
    /// query-api's base URL and state, when started.
    pub query: Option<(String, query_api::AppState)>,
    api_shutdown: Shutdown,
    projector_shutdown: Shutdown,
}

/// What [`World::start`] starts besides command-api.
pub struct Options {
    /// Run command-api's outbox relay (`RELAY_ENABLED`), which publishes the stored events.
    pub relay: bool,
    /// Start an in-process projector, with its Redis refill.
    pub projector: bool,
    /// The broker, when not the shared one (a private node a test may stop).
    pub amqp_url: Option<String>,
    /// Start query-api too.
    pub query_api: bool,
    /// The Redis query-api reads from, when not the shared one (an unreachable one, say).
    pub query_redis_url: Option<String>,
    /// Start an in-process image worker too.
    pub image_worker: bool,
    /// Extra command-api settings (upload limits, say).
    pub command_api: Vec<(&'static str, String)>,
    /// Extra query-api settings (a read replica, say).
    pub query_api_env: Vec<(&'static str, String)>,
}

impl Options {
    /// command-api, with its relay when `relay`, and an in-process projector when `projector`;
    /// nothing else, on the shared broker and Redis.
    pub fn new(relay: bool, projector: bool) -> Self {
        Self {
            relay,
            projector,
            amqp_url: None,
            query_api: false,
            query_redis_url: None,
            image_worker: false,
            command_api: Vec::new(),
            query_api_env: Vec::new(),
        }
    }

    /// Relay, projector and query-api: the whole system.
    pub fn everything() -> Self {
        Self {
            query_api: true,
            image_worker: true,
            ..Self::new(true, true)
        }
    }
}

impl World {
    /// Starts command-api on `pool`, in a fresh namespace and on a free loopback port, then
    /// what `options` asks for. command-api listens when this returns; the consumers connect
    /// in the background. Panics when a component cannot be built or Redis does not answer.
    pub async fn start(pool: PgPool, options: Options) -> Self {
        let namespace = format!("t{}", uuid::Uuid::new_v4().simple());
        let relay = options.relay.to_string();
        let blob_dir = std::env::temp_dir().join(format!("catalog-blobs-{namespace}"));
        let blob_url = format!("file://{}", blob_dir.display());
        let blobs = BlobStore::from_url(&blob_url).expect("the blob directory can be made");
        let amqp_url = options.amqp_url.unwrap_or_else(|| AMQP_URL.to_string());
        let mut command_settings: Vec<(&str, &str)> = options
            .command_api
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        command_settings.extend_from_slice(&[
            ("BLOB_STORE", &blob_url),
            ("JWT_SECRET", SECRET),
            ("COMMAND_API_ADDR", "127.0.0.1:0"),
            ("CATALOG_NAMESPACE", &namespace),
            ("AMQP_URL", &amqp_url),
            ("RELAY_ENABLED", &relay),
            ("RELAY_POLL_INTERVAL_MS", "100"),
            // Worlds drive hundreds of commands from one client in a second; the limiter has
            // its own tests in command-api.
            ("RATE_LIMIT_PER_SECOND", "0"),
        ]);
        let config =
            command_api::Config::from_env(&from_pairs(&command_settings)).expect("valid config");
        let app = command_api::Application::with_pool(config, pool.clone())
            .await
            .expect("command-api builds");
        let base = format!("http://{}", app.local_addr());
        let api_shutdown = Shutdown::default();
        tokio::spawn(app.run_until_stopped(api_shutdown.clone()));

        let redis = RedisReadModel::connect(&RedisSettings::direct(REDIS_URL), &namespace)
            .await
            .expect("Redis answers");
        let query = match options.query_api {
            false => None,
            true => {
                let redis_url = options
                    .query_redis_url
                    .clone()
                    .unwrap_or_else(|| REDIS_URL.to_string());
                let mut settings: Vec<(&str, &str)> = options
                    .query_api_env
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect();
                settings.extend_from_slice(&[
                    ("JWT_SECRET", SECRET),
                    ("QUERY_API_ADDR", "127.0.0.1:0"),
                    ("CATALOG_NAMESPACE", &namespace),
                    ("REDIS_URL", &redis_url),
                    ("BLOB_STORE", &blob_url),
                ]);
                let config = query_api::Config::from_env(&from_pairs(&settings))
                    .expect("valid query-api config");
                let app = query_api::Application::with_pool(config, pool.clone())
                    .await
                    .expect("query-api builds");
                let base = format!("http://{}", app.local_addr());
                let state = app.state();
                tokio::spawn(app.run_until_stopped(api_shutdown.clone()));
                Some((base, state))
            }
        };
        let stats = Arc::new(Stats::default());
        let projector_shutdown = Shutdown::default();
        let world = Self {
            token: issue(SECRET, "delivery-tester", "catalog:write"),
            pool: read_model_pool(&pool),
            namespace,
            base,
            client: reqwest::Client::new(),
            redis,
            stats,
            image_stats: Arc::new(Stats::default()),
            amqp_url,
            blob_dir,
            blobs,
            query,
            api_shutdown,
            projector_shutdown,
        };
        if options.projector {
            world.start_projector();
        }
        if options.image_worker {
            world.start_image_worker();
        }
        world
    }

    /// A token for `subject` with `scope`.
    pub fn token_for(&self, subject: &str, scope: &str) -> String {
        issue(SECRET, subject, scope)
    }

    /// A GET to query-api, with `token` if given.
    pub async fn read(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let (base, _) = self.query.as_ref().expect("query-api was started");
        let request = self.client.get(format!("{base}{path}"));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        request.send().await.expect("request is sent")
    }

    /// The world's exchange and queues, unsharded, as its in-process consumers use them.
    pub fn topology(&self) -> Topology {
        Topology::new(&self.namespace)
    }

    /// Starts an in-process projector (again, after `stop_projector`), which brings its
    /// read-model generation live as `projector run` does.
    pub fn start_projector(&self) {
        let projector = Projector {
            handler: Arc::new(ReadModels {
                postgres: PgReadModel::new(self.pool.clone(), Schema::default()),
                redis: self.redis.clone(),
                stats: self.stats.clone(),
            }),
            topology: self.topology(),
            placement: Default::default(),
            stats: self.stats.clone(),
            concurrency: 1,
        };
        let shutdown = self.projector_shutdown.clone();
        let upgrade = projector::generation::Upgrade {
            pool: self.pool.clone(),
            redis: self.redis.clone(),
            schema: Schema::default(),
            topology: self.topology(),
            amqp_url: self.amqp_url.clone(),
        };
        tokio::spawn(upgrade.run(shutdown.clone()));
        tokio::spawn(projector::refill::keep_redis_filled(
            self.pool.clone(),
            self.redis.clone(),
            Duration::from_millis(200),
            shutdown.clone(),
        ));
        let amqp_url = self.amqp_url.clone();
        tokio::spawn(async move { projector.run(&amqp_url, 16, &shutdown).await });
    }

    /// Starts an in-process image worker rendering two images at a time.
    pub fn start_image_worker(&self) {
        let worker = ImageConsumer {
            handler: Arc::new(ImageWorker {
                store: ProductStore::new(self.pool.clone(), 50, Schema::default()),
                blobs: self.blobs.clone(),
                limits: Limits::default(),
                cpu: Arc::new(Semaphore::new(2)),
                stats: self.image_stats.clone(),
            }),
            topology: self.topology(),
            placement: Default::default(),
            stats: self.image_stats.clone(),
            concurrency: 2,
        };
        let shutdown = self.projector_shutdown.clone();
        let amqp_url = self.amqp_url.clone();
        tokio::spawn(async move { worker.run(&amqp_url, 4, &shutdown).await });
    }

    /// A request to command-api with the world's token and `body` as JSON; the status is the
    /// caller's to check. Panics only when the request cannot be sent.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let request = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.expect("request is sent")
    }

    /// Creates a product `sku` (5.00 EUR, 100 in stock); asserts 201 Created and returns its id.
    pub async fn create(&self, sku: &str) -> String {
        self.create_from(json!({
            "sku": sku, "name": format!("Product {sku}"),
            "price": {"amount": 500, "currency": "EUR"}, "stock": 100,
            "category": "tests"
        }))
        .await
    }

    /// Creates a product from `body` (a `POST /products` body); asserts 201 Created and
    /// returns its id.
    pub async fn create_from(&self, body: Value) -> String {
        let response = self
            .send(Method::POST, "/products", Some(body.clone()))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{body}");
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Adjusts `id`'s stock by `delta`; asserts 200 OK and returns the product's new version.
    pub async fn adjust(&self, id: &str, delta: i64) -> u64 {
        let response = self
            .send(
                Method::POST,
                &format!("/products/{id}/stock-adjustments"),
                Some(json!({"delta": delta, "reason": "test"})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["version"]
            .as_u64()
            .unwrap()
    }

    /// `id`'s document in the PostgreSQL read model as it is now, without waiting.
    pub async fn postgres_view(&self, id: &str) -> Option<ProductView> {
        PgReadModel::new(self.pool.clone(), Schema::default())
            .get(id)
            .await
            .unwrap()
    }

    /// `id`'s document in the Redis read model as it is now, without waiting.
    pub async fn redis_view(&self, id: &str) -> Option<ProductView> {
        self.redis.get(id).await.unwrap()
    }

    /// Waits until both read models hold `id` at `version` or later.
    pub async fn wait_for_version(&self, id: &str, version: u64) -> (ProductView, ProductView) {
        eventually(Duration::from_secs(20), || async {
            let pg = self
                .postgres_view(id)
                .await
                .filter(|v| v.version >= version)?;
            let redis = self.redis_view(id).await.filter(|v| v.version >= version)?;
            Some((pg, redis))
        })
        .await
        .unwrap_or_else(|| panic!("{id} did not reach version {version} in both read models"))
    }

    /// Waits until every product's read-model version equals its last stored sequence.
    pub async fn wait_for_quiescence(&self) {
        read_model_caught_up(&self.pool, Duration::from_secs(60)).await;
    }

    /// The stored events of one product as they travel on the broker.
    pub async fn wire_events(&self, id: &str) -> Vec<WireEvent> {
        sqlx::query_as(
            "SELECT event_id, position, aggregate_type, aggregate_id, sequence, event_type, \
                    event_version, payload, metadata, recorded_at \
             FROM events WHERE aggregate_id = $1 ORDER BY sequence",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// Publishes events straight to the namespace's exchange, each as a message of its own,
    /// as a relay before bundled messages did.
    pub async fn publish(&self, events: &[WireEvent]) {
        let messages: Vec<&[WireEvent]> = events.iter().map(std::slice::from_ref).collect();
        self.publish_messages(&messages).await;
    }

    /// Publishes messages of one or more events straight to the namespace's exchange, as a
    /// relay would.
    pub async fn publish_messages(&self, messages: &[&[WireEvent]]) {
        let connection = catalog_store::broker::connect(&self.amqp_url)
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let topology = self.topology();
        for consumer in catalog_store::broker::CONSUMERS {
            topology
                .declare_consumer(&channel, &consumer)
                .await
                .unwrap();
        }
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        for message in messages {
            broker::publish(&channel, &topology, message, None)
                .await
                .unwrap()
                .await
                .unwrap();
        }
        let _ = connection.close(200, "done".into()).await;
    }

    /// `projector verify`'s comparison of both read models with a replay of the events; the
    /// mismatches, empty when they agree. Meant for a quiescent world.
    pub async fn verify(&self) -> Vec<String> {
        projector::verify::verify(&self.pool, &self.redis, &Schema::default())
            .await
            .expect("verify runs")
            .mismatches
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.api_shutdown.trigger();
        self.projector_shutdown.trigger();
        let _ = std::fs::remove_dir_all(&self.blob_dir);
        delete_namespace(&self.amqp_url, REDIS_URL, self.topology());
    }
}

/// Deletes a namespace's exchange, queues and Redis keys. Clean-up is async and must run even
/// while a failed test unwinds, inside or outside a runtime: on a thread of its own.
pub fn delete_namespace(amqp_url: &str, redis_url: &str, topology: Topology) {
    let namespace = topology.namespace.clone();
    let amqp_url = amqp_url.to_string();
    let redis_url = redis_url.to_string();
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        // Best effort, and bounded: a broker that stops answering must not hang the caller.
        let broker = async {
            if let Ok(connection) = catalog_store::broker::connect(&amqp_url).await {
                if let Ok(channel) = connection.create_channel().await {
                    let _ = topology.delete_all(&channel).await;
                }
                let _ = connection.close(200, "clean-up".into()).await;
            }
        };
        let redis = async {
            let settings = RedisSettings::direct(redis_url);
            if let Ok(redis) = RedisReadModel::connect(&settings, &namespace).await {
                let _ = redis.delete_all().await;
            }
        };
        runtime.block_on(async {
            let limit = Duration::from_secs(15);
            if tokio::time::timeout(limit, broker).await.is_err() {
                eprintln!("deleting the queues of {namespace} took over {limit:?}; left behind");
            }
            let _ = tokio::time::timeout(limit, redis).await;
        });
    })
    .join();
}

/// A token signed with `secret`, valid for ten minutes.
pub fn issue(secret: &str, subject: &str, scope: &str) -> String {
    Authenticator::new(&Secret::new(secret), Duration::ZERO).issue(
        subject,
        scope,
        Duration::from_secs(600),
    )
}

/// A queue of the test's own on the namespace's exchange, bound to every product event, and a
/// consumer of it: it sees every message the relay publishes from now on. Exclusive, so it
/// goes with the channel.
pub async fn tap_events(
    channel: &lapin::Channel,
    topology: &Topology,
    tag: &str,
    options: lapin::options::BasicConsumeOptions,
) -> lapin::Consumer {
    use lapin::options::{QueueBindOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    topology.declare_exchange(channel).await.unwrap();
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.name().as_str().into(),
            topology.exchange().as_str().into(),
            "product.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .basic_consume(
            queue.name().as_str().into(),
            tag.into(),
            options,
            FieldTable::default(),
        )
        .await
        .unwrap()
}

/// Connections to `pool`'s database whose read-model tables are this release's generation's,
/// as the projector's are: what a test reads and writes the read model's tables through.
pub fn read_model_pool(pool: &PgPool) -> PgPool {
    projector::app::own_generation(pool.clone())
}

/// How many products' PostgreSQL read-model version differs from their last stored event.
pub use catalog_read_model::postgres::PRODUCTS_BEHIND;

/// Waits up to `limit` until every product's PostgreSQL read-model version equals its last
/// stored event; fails the test otherwise.
pub async fn read_model_caught_up(pool: &PgPool, limit: Duration) {
    let caught_up = eventually(limit, || async {
        let behind: i64 = sqlx::query_scalar(PRODUCTS_BEHIND)
            .fetch_one(pool)
            .await
            .ok()?;
        (behind == 0).then_some(())
    })
    .await;
    assert!(caught_up.is_some(), "the read model did not catch up");
}

/// Polls `check` every 50 ms until it yields a value; `None` when `limit` passes first.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

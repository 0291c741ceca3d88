//! The webhook dispatcher (`projector webhooks`, the real binary) against the test's own
//! database and a receiver served by the test: order, signatures, retries, timeouts, outages,
//! redirects, kills, the address policy and pausing.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use catalog_store::webhooks::{self, SubscriptionSpec};
use catalog_testkit::system::{free_port, series};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::PgPool;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::helpers::*;

/// Every subscription's HMAC key in these tests.
const HOOK_SECRET: &str = "whsec-test-0123456789";

/// Longest any wait in these tests lasts: every step takes well under a second normally.
const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The receiver.

/// How the receiver answers the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// At once, with this status.
    Answer(StatusCode),
    /// 200, after this long.
    Slow(Duration),
    /// `307 Temporary Redirect` to `/target`, which would answer 200.
    Redirect,
    /// 200, once the test releases it ([`Receiver::release`]).
    Hold,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Attempt {
    delivery: String,
    /// The signature checked independently of the store's function, with [`HOOK_SECRET`].
    signed: bool,
    /// The signature's timestamp, Unix seconds.
    timestamp: i64,
    user_agent: String,
    content_type: String,
    events: Vec<Value>,
}

impl Attempt {
    fn positions(&self) -> Vec<i64> {
        self.events
            .iter()
            .map(|e| e["position"].as_i64().expect("a position"))
            .collect()
    }
}

struct Inner {
    mode: Mutex<Mode>,
    attempts: Mutex<Vec<Attempt>>,
    /// Requests that reached `/target`: a followed redirect.
    target_hits: Mutex<usize>,
    released: watch::Sender<bool>,
}

/// An HTTP receiver on 127.0.0.1, recording every request to `/hook`.
#[derive(Clone)]
struct Receiver {
    inner: Arc<Inner>,
    addr: SocketAddr,
}

impl Receiver {
    /// A receiver on a free port answering `mode`.
    async fn start(mode: Mode) -> Self {
        Self::start_on(0, mode).await
    }

    /// A receiver on `port` (0: any free one).
    async fn start_on(port: u16, mode: Mode) -> Self {
        let inner = Arc::new(Inner {
            mode: Mutex::new(mode),
            attempts: Mutex::new(Vec::new()),
            target_hits: Mutex::new(0),
            released: watch::channel(false).0,
        });
        let app = Router::new()
            .route("/hook", post(hook))
            .route("/target", post(target))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the receiver's port is free");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { inner, addr }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn set(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = mode;
    }

    /// Lets held requests answer.
    fn release(&self) {
        self.inner.released.send_replace(true);
    }

    fn attempts(&self) -> Vec<Attempt> {
        self.inner.attempts.lock().unwrap().clone()
    }

    fn target_hits(&self) -> usize {
        *self.inner.target_hits.lock().unwrap()
    }

    /// Waits until the receiver has had at least `n` requests; the requests so far.
    async fn wait_for_attempts(&self, n: usize) -> Vec<Attempt> {
        eventually(PATIENCE, || async {
            let attempts = self.attempts();
            (attempts.len() >= n).then_some(attempts)
        })
        .await
        .unwrap_or_else(|| panic!("the receiver got fewer than {n} requests"))
    }

    /// The batches in the order they first arrived, each once: a batch sent again carries its
    /// `Catalog-Delivery` id again, and a receiver dedupes by it. Checks that every attempt
    /// was signed and that each batch was the same every time it was sent.
    fn batches(&self) -> Vec<Attempt> {
        let mut seen: Vec<Attempt> = Vec::new();
        for attempt in self.attempts() {
            assert!(attempt.signed, "an unsigned request: {attempt:?}");
            match seen.iter().find(|b| b.delivery == attempt.delivery) {
                Some(first) => assert_eq!(
                    first.positions(),
                    attempt.positions(),
                    "batch {} was not sent again as it was",
                    attempt.delivery
                ),
                None => seen.push(attempt),
            }
        }
        seen
    }

    /// Every position received, batch after batch, each batch once.
    fn positions(&self) -> Vec<i64> {
        self.batches().iter().flat_map(Attempt::positions).collect()
    }
}

async fn hook(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (timestamp, signed) = verify(&text("catalog-signature"), &body, HOOK_SECRET);
    let events: Vec<Value> = serde_json::from_slice(&body).expect("the body is a JSON array");
    inner.attempts.lock().unwrap().push(Attempt {
        delivery: text("catalog-delivery"),
        signed,
        timestamp,
        user_agent: text("user-agent"),
        content_type: text("content-type"),
        events,
    });
    let mode = *inner.mode.lock().unwrap();
    match mode {
        Mode::Answer(status) => status.into_response(),
        Mode::Slow(delay) => {
            tokio::time::sleep(delay).await;
            StatusCode::OK.into_response()
        }
        Mode::Redirect => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, "/target")],
        )
            .into_response(),
        Mode::Hold => {
            let mut released = inner.released.subscribe();
            let _ = released.wait_for(|r| *r).await;
            StatusCode::OK.into_response()
        }
    }
}

async fn target(State(inner): State<Arc<Inner>>) -> StatusCode {
    *inner.target_hits.lock().unwrap() += 1;
    StatusCode::OK
}

/// Checks `Catalog-Signature: t=<t>,v1=<hex>` as a receiver would, with its own HMAC: the
/// timestamp, and whether the signature is HMAC-SHA256(secret, "<t>." + body).
fn verify(header: &str, body: &[u8], secret: &str) -> (i64, bool) {
    let mut timestamp = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", hex)) => v1 = hex::decode(hex).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(v1)) = (timestamp, v1) else {
        return (0, false);
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    (timestamp, mac.verify_slice(&v1).is_ok())
}

// ---------------------------------------------------------------------------------------------
// The dispatcher, as a process.

/// `projector webhooks`, started from the workspace binary; killed when dropped. Its log (JSON
/// lines) is kept, and its place printed, when the test fails.
struct Dispatcher {
    child: Option<Child>,
    log: PathBuf,
    http: SocketAddr,
}

impl Dispatcher {
    /// Starts a dispatcher on `pool`'s database: internal addresses allowed, a 5 s timeout,
    /// fast retries and polling; `env` overrides (an empty value unsets).
    fn start(pool: &PgPool, env: &[(&str, &str)]) -> Self {
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = std::env::temp_dir().join(format!(
            "catalog-webhooks-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::File::create(&log).expect("the log file is created");
        let mut vars: Vec<(&str, String)> = vec![
            ("DATABASE_URL", database_url(pool)),
            ("WEBHOOK_HTTP_ADDR", http.to_string()),
            ("LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
            ("WEBHOOK_ALLOW_PRIVATE", "true".into()),
            ("WEBHOOK_TIMEOUT_SECS", "5".into()),
            ("WEBHOOK_RETRY_BASE_MS", "100".into()),
            ("WEBHOOK_RETRY_MAX_MS", "300".into()),
            ("WEBHOOK_POLL_INTERVAL_MS", "200".into()),
        ];
        for (key, value) in env {
            vars.retain(|(k, _)| k != key);
            vars.push((key, value.to_string()));
        }
        let child = Command::new(env!("CARGO_BIN_EXE_projector"))
            .arg("webhooks")
            .env_clear()
            .envs(vars)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("the projector binary starts");
        Self {
            child: Some(child),
            log,
            http,
        }
    }

    /// Kills it without warning (SIGKILL) and waits for it to be gone.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("SIGKILL is sent");
            child.wait().await.unwrap();
        }
    }

    /// Sends SIGTERM and waits (at most `limit`) for it to exit.
    async fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("the dispatcher runs");
        let pid = child.id().expect("a running child has a pid");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        tokio::time::timeout(limit, child.wait())
            .await
            .unwrap_or_else(|_| panic!("the dispatcher did not exit within {limit:?} of SIGTERM"))
            .unwrap()
    }

    /// Its log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its `/metrics` text.
    async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.http);
        let text = eventually(PATIENCE, || async {
            reqwest::get(&url).await.ok()?.text().await.ok()
        })
        .await;
        text.expect("/metrics answers")
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!("the dispatcher's log is kept in {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Events and subscriptions.

/// Appends `count` events to product `n` (its `ProductCreated` first, when it has none), as
/// stored by a writer, and notifies as writers do after their commit.
async fn write_events(pool: &PgPool, n: u64, count: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
                             payload, metadata) \
         SELECT 'Product', $1, s, \
           CASE WHEN s = 1 THEN 'ProductCreated' ELSE 'StockAdjusted' END, '1', \
           CASE WHEN s = 1 THEN jsonb_build_object('ProductCreated', jsonb_build_object( \
               'sku', 'HOOK-' || $1, 'name', 'Product ' || $1, 'description', null, \
               'category', 'hooks', 'attributes', '{}'::jsonb, \
               'price', jsonb_build_object('amount', 100, 'currency', 'EUR'), 'stock', 0)) \
             ELSE jsonb_build_object('StockAdjusted', \
               jsonb_build_object('delta', 1, 'reason', 'webhook test', 'stock', s - 1)) END, \
           '{\"actor\": \"webhook-tester\"}'::jsonb \
         FROM (SELECT coalesce(max(sequence), 0) AS last FROM events WHERE aggregate_id = $1) l, \
              generate_series(l.last + 1, l.last + $2) s",
    )
    .bind(seeded_id(n))
    .bind(count)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify('catalog_events', '')")
        .execute(pool)
        .await
        .unwrap();
}

/// Every stored position, in order.
async fn stored_positions(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT position FROM events ORDER BY position")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Creates (or changes) subscription `name` to `url`, for every event type, from the start of
/// the feed (`from`) or its current end.
async fn subscribe(pool: &PgPool, name: &str, url: &str, from: Option<i64>) {
    subscribe_to(pool, name, url, Vec::new(), from).await;
}

async fn subscribe_to(pool: &PgPool, name: &str, url: &str, types: Vec<String>, from: Option<i64>) {
    webhooks::put(
        pool,
        name,
        &SubscriptionSpec {
            url: url.parse().unwrap(),
            secret: HOOK_SECRET.into(),
            types,
            from_position: from,
        },
    )
    .await
    .unwrap();
}

/// A subscription's row as the dispatcher leaves it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    status: String,
    delivered_position: i64,
    failures: i32,
    last_error: Option<String>,
    pending_delivery: Option<uuid::Uuid>,
    pending_through: Option<i64>,
}

impl Row {
    /// Whether the last attempt failed with an error mentioning `what`.
    fn failed_with(&self, what: &str) -> bool {
        self.last_error
            .as_deref()
            .is_some_and(|error| error.contains(what))
    }
}

async fn row(pool: &PgPool, name: &str) -> Row {
    sqlx::query_as(
        "SELECT status, delivered_position, failures, last_error, pending_delivery, \
                pending_through \
         FROM webhook_subscriptions WHERE name = $1",
    )
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits until subscription `name`'s row passes `check`; the row then.
async fn wait_for_row(pool: &PgPool, name: &str, what: &str, check: impl Fn(&Row) -> bool) -> Row {
    let last = std::cell::RefCell::new(None);
    let (last_seen, check) = (&last, &check);
    let found = eventually(PATIENCE, || async move {
        let row = row(pool, name).await;
        let pass = check(&row);
        *last_seen.borrow_mut() = Some(row.clone());
        pass.then_some(row)
    })
    .await;
    found.unwrap_or_else(|| {
        panic!(
            "{name}: {what} did not happen; last row: {:?}",
            last.borrow()
        )
    })
}

/// Waits until subscription `name` has been delivered every stored event.
async fn wait_until_delivered(pool: &PgPool, name: &str) -> Row {
    let head = *stored_positions(pool)
        .await
        .last()
        .expect("events are stored");
    wait_for_row(pool, name, &format!("delivery through {head}"), |r| {
        r.delivered_position >= head
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn webhooks_deliver_every_event_of_concurrent_writers_once_in_position_order(pool: PgPool) {
    let world = World::start(pool.clone(), Options::new(false, false)).await;
    let all = Receiver::start(Mode::Answer(StatusCode::OK)).await;
    let created = Receiver::start(Mode::Answer(StatusCode::NO_CONTENT)).await;
    // Both start at the feed's current end: empty, so every event written below.
    subscribe(&pool, "all", &all.url(), None).await;
    subscribe_to(
        &pool,
        "created",
        &created.url(),
        vec!["ProductCreated".into()],
        None,
    )
    .await;
    let dispatcher = Dispatcher::start(&pool, &[("WEBHOOK_BATCH_SIZE", "7")]);

    // Six writers at once, each creating a product and adjusting it ten times: commits land
    // out of position order, which the feed must not skip over.
    let writers = (0..6).map(|i| {
        let world = &world;
        async move {
            let id = world.create(&format!("HOOK-{i}")).await;
            for _ in 0..10 {
                world.adjust(&id, 1).await;
            }
            id
        }
    });
    let ids = futures::future::join_all(writers).await;

    let stored = stored_positions(&pool).await;
    assert_eq!(stored.len(), 66);
    wait_until_delivered(&pool, "all").await;
    assert_eq!(
        all.positions(),
        stored,
        "every event, once, in position order"
    );
    let batches = all.batches();
    assert!(batches.len() >= 66 / 7, "{} batches", batches.len());
    for batch in &batches {
        assert!(
            (1..=7).contains(&batch.events.len()),
            "a batch of {}",
            batch.events.len()
        );
        assert!(
            uuid::Uuid::parse_str(&batch.delivery).is_ok(),
            "{}",
            batch.delivery
        );
        assert!(
            batch.user_agent.starts_with("Catalog-Webhooks/"),
            "{}",
            batch.user_agent
        );
        assert_eq!(batch.content_type, "application/json");
    }
    // Each product's events arrive in sequence order, and in the contract's shape.
    for id in &ids {
        let sequences: Vec<i64> = batches
            .iter()
            .flat_map(|b| &b.events)
            .filter(|e| e["product_id"] == json!(id))
            .map(|e| e["sequence"].as_i64().unwrap())
            .collect();
        assert_eq!(sequences, (1..=11).collect::<Vec<_>>(), "{id}");
    }
    let first = &batches[0].events[0];
    for field in [
        "position",
        "product_id",
        "sequence",
        "type",
        "event_version",
        "data",
        "recorded_at",
        "actor",
        "correlation_id",
        "causation_id",
        "hash",
    ] {
        assert!(first.get(field).is_some(), "{field} missing from {first}");
    }
    assert_eq!(first["actor"], "delivery-tester");

    // The filtered subscription gets the creations alone, in order.
    wait_for_row(&pool, "created", "the last creation delivered", |r| {
        r.delivered_position
            >= created_positions(&stored, &batches)
                .last()
                .copied()
                .unwrap_or(i64::MAX)
    })
    .await;
    let creations = created.batches();
    assert!(creations
        .iter()
        .flat_map(|b| &b.events)
        .all(|e| e["type"] == "ProductCreated"));
    assert_eq!(
        created.positions(),
        created_positions(&stored, &batches),
        "the creations, in order"
    );

    let row = row(&pool, "all").await;
    assert_eq!((row.status.as_str(), row.failures), ("active", 0));
    assert_eq!((row.pending_delivery, row.last_error), (None, None));

    // Counted right after each acknowledgement is recorded: read until they agree.
    let expected = (Some(66.0), Some(batches.len() as f64), Some(0.0));
    let last = std::cell::RefCell::new(String::new());
    let (last_seen, dispatcher) = (&last, &dispatcher);
    let counted = eventually(PATIENCE, || async move {
        let metrics = dispatcher.metrics().await;
        let all = [("subscription", "all")];
        let counted = (
            series(&metrics, "catalog_webhook_events_delivered_total", &all),
            series(
                &metrics,
                "catalog_webhook_deliveries_total",
                &[("subscription", "all"), ("outcome", "delivered")],
            ),
            series(&metrics, "catalog_webhook_lag_events", &all),
        );
        *last_seen.borrow_mut() = metrics;
        (counted == expected).then_some(())
    })
    .await;
    let last = last.into_inner();
    assert!(counted.is_some(), "events, batches and lag: {last}");
    assert!(last.contains("catalog_webhook_delivery_seconds"), "{last}");
    let ready = reqwest::get(format!("http://{}/health/ready", dispatcher.http))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

/// The positions of the `ProductCreated` events among the batches received.
fn created_positions(stored: &[i64], batches: &[Attempt]) -> Vec<i64> {
    let created: HashSet<i64> = batches
        .iter()
        .flat_map(|b| &b.events)
        .filter(|e| e["type"] == "ProductCreated")
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    stored
        .iter()
        .copied()
        .filter(|p| created.contains(p))
        .collect()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn webhook_deliveries_are_signed_with_the_subscriptions_secret(pool: PgPool) {
    let receiver = Receiver::start(Mode::Answer(StatusCode::OK)).await;
    subscribe(&pool, "signed", &receiver.url(), None).await;
    let _dispatcher = Dispatcher::start(&pool, &[]);
    write_events(&pool, 1, 3).await;
    wait_until_delivered(&pool, "signed").await;

    let attempts = receiver.attempts();
    assert_eq!(attempts.len(), 1);
    let attempt = &attempts[0];
    assert!(
        attempt.signed,
        "HMAC-SHA256(secret, \"<t>.\" + body) matches"
    );
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now - attempt.timestamp).abs() < 60,
        "t={}",
        attempt.timestamp
    );
    // The same body does not verify with another secret: the check above means something.
    let body = serde_json::to_vec(&attempt.events).unwrap();
    let header = catalog_store::webhooks::signature(HOOK_SECRET, attempt.timestamp, &body);
    assert!(verify(&header, &body, HOOK_SECRET).1);
    assert!(!verify(&header, &body, "another-secret").1);
}

/// Saving a subscription wakes an idle dispatcher: with a poll far longer than the test's
/// patience, only the notification can explain a delivery within it.
#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_saved_subscription_is_delivered_without_waiting_for_the_poll(pool: PgPool) {
    let receiver = Receiver::start(Mode::Answer(StatusCode::OK)).await;
    write_events(&pool, 1, 3).await;
    let dispatcher = Dispatcher::start(&pool, &[("WEBHOOK_POLL_INTERVAL_MS", "600000")]);
    eventually(PATIENCE, || async {
        dispatcher
            .log()
            .contains("webhook dispatcher active")
            .then_some(())
    })
    .await
    .expect("the dispatcher becomes active");
    // Idle now: its first round found nothing to deliver.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.attempts().is_empty());

    subscribe(&pool, "woken", &receiver.url(), Some(0)).await;
    let delivered = wait_until_delivered(&pool, "woken").await;
    assert_eq!(receiver.positions(), stored_positions(&pool).await);
    assert_eq!(delivered.status, "active");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_webhook_receiver_answering_500_is_retried_until_it_answers_and_nothing_is_lost(
    pool: PgPool,
) {
    let receiver = Receiver::start(Mode::Answer(StatusCode::INTERNAL_SERVER_ERROR)).await;
    subscribe(&pool, "flaky", &receiver.url(), Some(0)).await;
    write_events(&pool, 1, 25).await;
    let _dispatcher = Dispatcher::start(&pool, &[("WEBHOOK_BATCH_SIZE", "10")]);

    // While it fails, the row says so, and the checkpoint stays.
    let failing = wait_for_row(&pool, "flaky", "three failures", |r| r.failures >= 3).await;
    assert_eq!(failing.status, "retrying");
    assert_eq!(failing.delivered_position, 0);
    assert!(failing.failed_with("500"), "{failing:?}");
    let shown = webhooks::get(&pool, "flaky").await.unwrap().unwrap();
    assert_eq!(shown.status, "retrying");
    assert!(shown.failures >= 3);
    let failed = receiver.attempts();
    assert!(failed.len() >= 3);
    assert!(
        failed.iter().all(|a| a.delivery == failed[0].delivery),
        "every retry is the same batch"
    );

    receiver.set(Mode::Answer(StatusCode::OK));
    let row = wait_until_delivered(&pool, "flaky").await;
    assert_eq!(receiver.positions(), stored_positions(&pool).await);
    assert_eq!(receiver.batches()[0].delivery, failed[0].delivery);
    assert_eq!((row.status.as_str(), row.failures), ("active", 0));
    assert_eq!(row.last_error, None);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_webhook_receiver_slower_than_the_timeout_counts_as_failed_and_is_retried(pool: PgPool) {
    let receiver = Receiver::start(Mode::Slow(Duration::from_secs(4))).await;
    subscribe(&pool, "slow", &receiver.url(), Some(0)).await;
    write_events(&pool, 1, 5).await;
    let _dispatcher = Dispatcher::start(&pool, &[("WEBHOOK_TIMEOUT_SECS", "1")]);

    // Slow until the failure is seen: a retry answered at once would clear it.
    let failed = wait_for_row(&pool, "slow", "a timeout", |r| r.failures >= 1).await;
    receiver.set(Mode::Answer(StatusCode::OK));
    assert!(failed.failed_with("timed out"), "{failed:?}");
    wait_until_delivered(&pool, "slow").await;
    let attempts = receiver.attempts();
    assert!(attempts.len() >= 2);
    assert_eq!(attempts[0].delivery, attempts[1].delivery);
    assert_eq!(receiver.positions(), stored_positions(&pool).await);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_webhook_receiver_that_is_down_gets_everything_in_order_once_up(pool: PgPool) {
    let port = free_port();
    subscribe(
        &pool,
        "down",
        &format!("http://127.0.0.1:{port}/hook"),
        Some(0),
    )
    .await;
    write_events(&pool, 1, 12).await;
    let _dispatcher = Dispatcher::start(&pool, &[("WEBHOOK_BATCH_SIZE", "5")]);

    let failing = wait_for_row(&pool, "down", "two failures", |r| r.failures >= 2).await;
    assert!(failing.failed_with("connect"), "{failing:?}");
    // More events while it is down, from another product.
    write_events(&pool, 2, 8).await;

    let receiver = Receiver::start_on(port, Mode::Answer(StatusCode::OK)).await;
    wait_until_delivered(&pool, "down").await;
    assert_eq!(receiver.positions(), stored_positions(&pool).await);
    assert!(receiver.batches().iter().all(|b| b.events.len() <= 5));
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_webhook_redirect_is_a_failure_and_is_not_followed(pool: PgPool) {
    let receiver = Receiver::start(Mode::Redirect).await;
    subscribe(&pool, "moved", &receiver.url(), Some(0)).await;
    write_events(&pool, 1, 3).await;
    let _dispatcher = Dispatcher::start(&pool, &[]);

    let failing = wait_for_row(&pool, "moved", "two failures", |r| r.failures >= 2).await;
    assert_eq!(failing.status, "retrying");
    assert_eq!(failing.delivered_position, 0);
    assert!(failing.failed_with("307"), "{failing:?}");
    assert_eq!(receiver.target_hits(), 0, "the redirect was followed");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_webhook_dispatcher_killed_mid_batch_sends_the_same_batch_again(pool: PgPool) {
    let receiver = Receiver::start(Mode::Hold).await;
    subscribe(&pool, "held", &receiver.url(), Some(0)).await;
    write_events(&pool, 1, 10).await;
    // The receiver holds the request far longer than the dispatcher would wait otherwise.
    let env = [("WEBHOOK_TIMEOUT_SECS", "60"), ("WEBHOOK_BATCH_SIZE", "4")];
    let mut dispatcher = Dispatcher::start(&pool, &env);

    let held = receiver.wait_for_attempts(1).await[0].clone();
    dispatcher.kill().await;
    let pending = row(&pool, "held").await;
    assert_eq!(
        pending.pending_delivery.map(|id| id.to_string()),
        Some(held.delivery.clone())
    );
    assert_eq!(pending.pending_through, held.positions().last().copied());
    assert_eq!(pending.delivered_position, 0);

    receiver.set(Mode::Answer(StatusCode::OK));
    receiver.release();
    let _restarted = Dispatcher::start(&pool, &env);
    wait_until_delivered(&pool, "held").await;
    let attempts = receiver.attempts();
    assert_eq!(
        attempts[1].delivery, held.delivery,
        "the same Catalog-Delivery"
    );
    assert_eq!(attempts[1].positions(), held.positions(), "the same events");
    assert_eq!(receiver.positions(), stored_positions(&pool).await);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_terminated_webhook_dispatcher_finishes_the_batch_in_flight_and_exits_cleanly(
    pool: PgPool,
) {
    let receiver = Receiver::start(Mode::Slow(Duration::from_millis(1500))).await;
    subscribe(&pool, "graceful", &receiver.url(), Some(0)).await;
    write_events(&pool, 1, 4).await;
    let mut dispatcher = Dispatcher::start(&pool, &[]);

    receiver.wait_for_attempts(1).await;
    let status = dispatcher.terminate(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}; log: {}", dispatcher.log());
    let row = row(&pool, "graceful").await;
    assert_eq!(
        row.delivered_position,
        *stored_positions(&pool).await.last().unwrap()
    );
    assert_eq!(row.pending_delivery, None);
    assert_eq!(receiver.attempts().len(), 1);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn without_allow_private_a_webhook_to_loopback_is_never_delivered(pool: PgPool) {
    let receiver = Receiver::start(Mode::Answer(StatusCode::OK)).await;
    let port = receiver.addr.port();
    // An address, checked before sending, and a name, checked when it is resolved.
    subscribe(&pool, "literal", &receiver.url(), Some(0)).await;
    subscribe(
        &pool,
        "named",
        &format!("http://localhost:{port}/hook"),
        Some(0),
    )
    .await;
    write_events(&pool, 1, 3).await;
    let _dispatcher = Dispatcher::start(&pool, &[("WEBHOOK_ALLOW_PRIVATE", "")]);

    for name in ["literal", "named"] {
        let refused = wait_for_row(&pool, name, "two refusals", |r| r.failures >= 2).await;
        let error = refused.last_error.clone().unwrap_or_default();
        assert!(error.contains("refused"), "{name}: {error}");
        assert!(error.contains("WEBHOOK_ALLOW_PRIVATE"), "{name}: {error}");
        assert_eq!(refused.delivered_position, 0);
    }
    assert!(row(&pool, "literal")
        .await
        .last_error
        .unwrap()
        .contains("127.0.0.1"));
    assert_eq!(
        receiver.attempts().len(),
        0,
        "a refused address was reached"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_webhook_failing_past_the_window_is_paused_and_a_put_resumes_it(pool: PgPool) {
    let receiver = Receiver::start(Mode::Answer(StatusCode::SERVICE_UNAVAILABLE)).await;
    subscribe(&pool, "tired", &receiver.url(), Some(0)).await;
    write_events(&pool, 1, 6).await;
    let dispatcher = Dispatcher::start(&pool, &[("WEBHOOK_PAUSE_AFTER_SECS", "1")]);

    let paused = wait_for_row(&pool, "tired", "the pause", |r| r.status == "paused").await;
    assert!(paused.failures >= 2, "{paused:?}");
    assert_eq!(paused.delivered_position, 0);
    let logged = eventually(PATIENCE, || async {
        dispatcher
            .log()
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("webhook subscription paused"))
            .then_some(())
    })
    .await;
    assert!(
        logged.is_some(),
        "the pause is logged: {}",
        dispatcher.log()
    );
    // Paused means left alone.
    let attempts = receiver.attempts().len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        receiver.attempts().len(),
        attempts,
        "a paused subscription was tried"
    );

    receiver.set(Mode::Answer(StatusCode::OK));
    subscribe(&pool, "tired", &receiver.url(), None).await;
    let row = wait_until_delivered(&pool, "tired").await;
    assert_eq!(row.status, "active");
    assert_eq!(receiver.positions(), stored_positions(&pool).await);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_standby_webhook_dispatcher_takes_over_when_the_active_one_dies(pool: PgPool) {
    let receiver = Receiver::start(Mode::Answer(StatusCode::OK)).await;
    subscribe(&pool, "ha", &receiver.url(), Some(0)).await;
    let mut first = Dispatcher::start(&pool, &[]);
    write_events(&pool, 1, 3).await;
    wait_until_delivered(&pool, "ha").await;
    let second = Dispatcher::start(&pool, &[]);
    let standing_by = eventually(PATIENCE, || async {
        second.log().contains("standing by").then_some(())
    })
    .await;
    assert!(standing_by.is_some(), "{}", second.log());

    first.kill().await;
    write_events(&pool, 2, 3).await;
    wait_until_delivered(&pool, "ha").await;
    assert!(second.log().contains("webhook dispatcher active"));
    assert_eq!(receiver.positions(), stored_positions(&pool).await);
}

//! PostgreSQL fails over to a streaming standby under load. The services reach PostgreSQL
//! through one address (a loopback proxy standing in for the DNS name, virtual IP or
//! HAProxy/PgBouncer an operator moves to the promoted standby: sqlx has no multi-host URL).
//! The primary is stopped in immediate mode while writers send commands, the standby is
//! promoted, the address moved to it, and the writers carry on. Nothing acknowledged may be
//! lost, and the relay must carry on on the promoted standby: its checkpoint is a transaction
//! id (xid8), and the promoted standby's transaction ids continue past it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog_testkit::private::{PrivatePostgres, PrivateStandby};
use catalog_testkit::proxy::FaultProxy;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::helpers::*;

const DATABASE: &str = "catalog_failover";
const WRITERS: usize = 4;
/// How long one request may take: a request stuck on a dead connection is given up.
const REQUEST_LIMIT: Duration = Duration::from_secs(10);
/// How long the system may take to answer a command again after the address moved.
const RECOVERY_LIMIT: Duration = Duration::from_secs(60);

/// What a writer was told: each acknowledged command's product and the version it made.
#[derive(Default)]
struct Acks {
    versions: Vec<(String, u64)>,
    /// Requests without a 2xx answer: refused, failed or cut off. Their outcome is unknown,
    /// and nothing is asserted about them.
    unanswered: usize,
}

/// Creates products and adjusts their stock until `stop`, recording every acknowledgement.
async fn writer(system_urls: (String, String), stop: Arc<AtomicBool>, n: usize) -> Acks {
    let (base, token) = system_urls;
    let client = reqwest::Client::builder()
        .timeout(REQUEST_LIMIT)
        .build()
        .unwrap();
    let mut acks = Acks::default();
    let mut product: Option<String> = None;
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let request = match &product {
            // A new product now and then, so that creations (SKU reservations too) fail over.
            Some(id) if round % 8 != 0 => client
                .post(format!("{base}/products/{id}/stock-adjustments"))
                .json(&json!({"delta": 1, "reason": "restock"})),
            _ => client.post(format!("{base}/products")).json(&json!({
                "sku": format!("FAILOVER-{n}-{round}"), "name": "Failover",
                "price": {"amount": 500, "currency": "EUR"}, "stock": 1
            })),
        };
        let answer = match request.bearer_auth(&token).send().await {
            Ok(response) if response.status().is_success() => response.json::<Value>().await,
            Ok(_) | Err(_) => {
                acks.unanswered += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // A 2xx whose body was cut off is still an unknown outcome to the client.
        let Ok(body) = answer else {
            acks.unanswered += 1;
            continue;
        };
        let id = body["id"]
            .as_str()
            .expect("the answer names the product")
            .to_string();
        let version = body["version"]
            .as_u64()
            .expect("the answer has the version");
        product = Some(id.clone());
        acks.versions.push((id, version));
    }
    acks
}

/// The promoted server's next transaction id, and the relay's checkpoint there.
async fn xids(standby: &PrivateStandby, namespace: &str) -> (i64, i64) {
    let pool = PgPool::connect(&standby.url(DATABASE)).await.unwrap();
    let checkpoint = checkpoint(&pool, namespace).await;
    let current: String = sqlx::query_scalar("SELECT pg_current_xact_id()::text")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    (current.parse().unwrap(), checkpoint)
}

async fn checkpoint(pool: &PgPool, namespace: &str) -> i64 {
    let checkpoint: String =
        sqlx::query_scalar("SELECT transaction_id::text FROM relay_checkpoints WHERE name = $1")
            .bind(namespace)
            .fetch_one(pool)
            .await
            .unwrap();
    checkpoint.parse().unwrap()
}

#[tokio::test]
async fn a_synchronous_standby_takes_over_without_losing_an_acknowledged_command() {
    let mut primary = PrivatePostgres::start().await;
    primary.migrated_database(DATABASE).await.close().await;
    let standby = primary.start_standby().await;
    // Synchronous replication is what makes "nothing acknowledged is lost" hold across a
    // failover: with `synchronous_commit = on` and the standby in `synchronous_standby_names`,
    // a commit returns (and command-api answers 2xx) only once the standby has flushed its WAL,
    // so whatever a client was told is on the server that is promoted. Asynchronous streaming
    // acknowledges on the primary's flush alone; the commits of the last moments before the
    // primary dies may never reach the standby, and after promotion their events, products and
    // idempotency keys are gone although the clients were told 2xx (and the relay may already
    // have published them, so the read models hold what the event store no longer does).
    // `remote_apply` is not needed: reads that must see a write go to the primary.
    primary.replicate_synchronously(&standby, "on").await;

    let proxy = FaultProxy::start(([127, 0, 0, 1], primary.port()).into()).await;
    let url = format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", proxy.port());
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&url)
        .await
        .unwrap();
    let system = System::start(
        pool,
        &[Service::CommandApi, Service::QueryApi, Service::Projector],
        &[],
    )
    .await;
    let command_api = system.url(Service::CommandApi);

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| {
            let urls = (command_api.clone(), system.token.clone());
            tokio::spawn(writer(urls, stop.clone(), n))
        })
        .collect();
    let stored_before = under_load(&system.pool).await;

    let stopped = primary.stop_immediately().await;
    let promoted = standby.promote().await;
    // Every transaction id the promoted server hands out is past any it replayed, the relay's
    // checkpoint included: the relay carries on from it without skipping an event.
    let (current, checkpoint_at_promotion) = xids(&standby, &system.namespace).await;
    assert!(
        current > checkpoint_at_promotion,
        "the promoted standby's transaction id {current} is not past the relay's checkpoint \
         {checkpoint_at_promotion}"
    );
    proxy.set_upstream(([127, 0, 0, 1], standby.port()).into());
    let moved = Instant::now();
    eprintln!(
        "primary stopped in {stopped:?}, standby promoted in {promoted:?}, {stored_before} \
         events stored before"
    );

    // A command acknowledged after the move, and read back through query-api: its event was
    // relayed and projected from the promoted standby. Each attempt is a new product: one whose
    // answer was lost may have been stored, and would take its SKU.
    let recovered = eventually(RECOVERY_LIMIT, || async {
        let response = system
            .client
            .post(format!("{command_api}/products"))
            .bearer_auth(&system.token)
            .json(&json!({
                "sku": format!("AFTER-{}", uuid::Uuid::new_v4().simple()),
                "name": "After failover",
                "price": {"amount": 500, "currency": "EUR"}, "stock": 1
            }))
            .send()
            .await
            .ok()?;
        match response.status() {
            StatusCode::CREATED => response.json::<Value>().await.ok(),
            _ => None,
        }
    })
    .await
    .expect("command-api acknowledges commands again on the promoted standby");
    let id = recovered["id"].as_str().unwrap().to_string();
    let read_back = eventually(RECOVERY_LIMIT, || async {
        let response = system
            .client
            .get(format!(
                "{}/products/{id}?min_version=1",
                system.url(Service::QueryApi)
            ))
            .send()
            .await
            .ok()?;
        (response.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert!(
        read_back.is_some(),
        "a command after the failover was not projected"
    );
    eprintln!(
        "a new command was acknowledged and readable {:?} after the move",
        moved.elapsed()
    );

    // The writers carry on against the promoted standby for a while.
    let more = under_load(&system.pool).await;
    stop.store(true, Ordering::Relaxed);
    let mut acks = Acks::default();
    for writer in writers {
        let mut one = writer.await.expect("a writer ran");
        acks.versions.append(&mut one.versions);
        acks.unanswered += one.unanswered;
    }
    eprintln!(
        "{} commands acknowledged, {} unanswered; {more} events stored when the load stopped",
        acks.versions.len(),
        acks.unanswered
    );
    assert!(
        acks.versions.len() > 20,
        "too little load to fail over under"
    );

    read_model_caught_up(&system.pool, Duration::from_secs(60)).await;
    let pool = system.pool.clone();

    // Every acknowledged command's event is in the promoted standby's store and both read
    // models hold its product at that version or later.
    for (id, version) in &acks.versions {
        let stored: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_id = $1 AND sequence = $2)",
        )
        .bind(id)
        .bind(*version as i64)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(
            stored,
            "{id} version {version} was acknowledged and is lost"
        );
        let in_postgres: Option<i64> =
            sqlx::query_scalar("SELECT version FROM product_view WHERE id = $1")
                .bind(id)
                .fetch_optional(&pool)
                .await
                .unwrap();
        assert!(
            in_postgres.is_some_and(|v| v >= *version as i64),
            "{id} version {version}: the PostgreSQL read model holds {in_postgres:?}"
        );
        let in_redis = system.redis.get(id).await.unwrap().map(|view| view.version);
        assert!(
            in_redis.is_some_and(|v| v >= *version),
            "{id} version {version}: Redis holds {in_redis:?}"
        );
    }
    let report =
        projector::verify::verify(&pool, &system.redis, &catalog_domain::Schema::default())
            .await
            .expect("verify runs");
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);

    // The relay carried on on the promoted standby: it published past every event written
    // there (the read model caught up with them above, through RabbitMQ).
    let after_promotion: Option<String> = sqlx::query_scalar(
        "SELECT max(transaction_id)::text FROM events WHERE transaction_id >= $1::text::xid8",
    )
    .bind(current.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    let last: i64 = after_promotion
        .expect("events were written after the promotion")
        .parse()
        .unwrap();
    let relayed = eventually(Duration::from_secs(30), || async {
        (checkpoint(&pool, &system.namespace).await >= last).then_some(())
    })
    .await;
    assert!(
        relayed.is_some(),
        "the relay's checkpoint did not pass transaction {last}, written after the promotion"
    );

    // The services go before the address and the servers they use.
    drop(system);
    drop(proxy);
}

/// Waits until some more events were stored (the writers are at work); returns how many the
/// store holds then.
async fn under_load(pool: &PgPool) -> i64 {
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
            .fetch_one(pool)
            .await
            .ok()
    };
    let target = eventually(RECOVERY_LIMIT, || async { count().await })
        .await
        .unwrap()
        + 200;
    eventually(RECOVERY_LIMIT, || async {
        count().await.filter(|n| *n >= target)
    })
    .await
    .expect("the writers store events")
}

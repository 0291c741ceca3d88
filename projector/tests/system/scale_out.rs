//! Catalog scaled out on loopback: two command-apis, two query-apis, three projectors over four
//! shards and two image workers, under load; the active projector and an image worker are
//! killed. Nothing is lost, both read models match the event store, and no product's version
//! ever went backwards in either read model.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

/// Enough products that every shard gets some: with 40 random ids over 4 shards, the chance
/// that one gets none is about 1 in 100,000.
const PRODUCTS: usize = 40;
const ROUNDS: usize = 8;

/// Records every update of the PostgreSQL read model that lowered a product's version.
async fn guard_order(pool: &PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE order_violations (id text, before bigint, after bigint); \
         CREATE FUNCTION guard_order() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.version < OLD.version THEN \
             INSERT INTO order_violations VALUES (NEW.id, OLD.version, NEW.version); \
           END IF; RETURN NEW; END $$; \
         CREATE TRIGGER guard_order BEFORE UPDATE ON product_view \
           FOR EACH ROW EXECUTE FUNCTION guard_order();",
    )
    .execute(pool)
    .await
    .unwrap();
}

async fn adjust(system: &System, base: &str, id: &str, delta: i64) {
    let response = system
        .client
        .post(format!("{base}/products/{id}/stock-adjustments"))
        .bearer_auth(&system.token)
        .json(&json!({"delta": delta, "reason": "scale-out"}))
        .send()
        .await
        .expect("command-api answers");
    assert_eq!(response.status(), StatusCode::OK);
}

/// How many of `logs` say an event was handled.
fn handled_events(logs: &[Value]) -> usize {
    logs.iter()
        .filter(|line| mentions(line, "message", "event handled"))
        .count()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_scaled_out_catalog_loses_a_projector_and_an_image_worker_and_stays_exact(pool: PgPool) {
    // The read model's tables are this release's generation's.
    let pool = read_model_pool(&pool);
    guard_order(&pool).await;
    // Three projectors share four shards: 0 and 3, 1, and 2 are their own.
    let env = [
        ("PROJECTOR_SHARDS", "4"),
        ("PROJECTOR_REPLICAS", "3"),
        ("PROJECTOR_INSTANCE", "0"),
    ];
    let mut system = System::start(pool.clone(), &Service::ALL, &env).await;
    // Within the first one's PROJECTOR_STANDBY_AFTER_SECS (10 s), so each takes its own shards.
    let projector_b = system
        .start_replica(Service::Projector, &[("PROJECTOR_INSTANCE", "1")])
        .await;
    let projector_c = system
        .start_replica(Service::Projector, &[("PROJECTOR_INSTANCE", "2")])
        .await;
    let command_b = system.start_replica(Service::CommandApi, &[]).await;
    let query_b = system.start_replica(Service::QueryApi, &[]).await;
    let mut images_b = system.start_replica(Service::ImageWorker, &[]).await;
    let commands = [system.url(Service::CommandApi), command_b.url()];

    // Every version the projectors announce in Redis, in the order they were written.
    let announced: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut pubsub = system
        .redis
        .client()
        .await
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    pubsub
        .subscribe(system.redis.versions_channel())
        .await
        .unwrap();
    let listener = {
        let announced = Arc::clone(&announced);
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let payload: String = message.get_payload().unwrap_or_default();
                if let Some((id, version)) = payload.rsplit_once(':') {
                    let version = version.parse().unwrap_or(0);
                    announced.lock().unwrap().push((id.to_string(), version));
                }
            }
        })
    };

    let mut ids = Vec::new();
    for i in 0..PRODUCTS {
        ids.push(create(&system, &format!("SCALE-{i}"), 100).await);
    }
    let mut images = Vec::new();
    for round in 0..ROUNDS {
        for (n, id) in ids.iter().enumerate() {
            adjust(&system, &commands[(round + n) % 2], id, 1).await;
        }
        if round % 2 == 1 {
            images.push(upload(&system, &ids[round % PRODUCTS], png(640, 480), &[]).await);
        }
        if round == ROUNDS / 2 {
            // Each projector has been applying its own shards' events…
            for (name, logs) in [
                ("the first projector", system.logs(Service::Projector)),
                ("the second projector", projector_b.logs()),
                ("the third projector", projector_c.logs()),
            ] {
                assert!(handled_events(&logs) > 0, "{name} is active on its shards");
            }
            // …until the first is killed: its shards must pass to the standbys, or the read
            // models never catch up below.
            system.kill(Service::Projector).await;
            images_b.kill().await;
        }
    }

    caught_up(&system).await;
    // Wait for every uploaded image to reach a terminal state, then require that state to be
    // `ready`: an image the killed worker held must be rendered by the remaining one, not
    // marked failed.
    let statuses: Vec<(String, String)> = eventually(Duration::from_secs(90), || async {
        let mut statuses: Vec<(String, String)> =
            sqlx::query_as("SELECT image_id, status FROM product_image_view")
                .fetch_all(&pool)
                .await
                .ok()?;
        statuses.sort();
        let settled = statuses.len() == images.len()
            && statuses.iter().all(|(_, status)| status != "processing");
        settled.then_some(statuses)
    })
    .await
    .expect("every uploaded image leaves processing");
    let mut expected: Vec<(String, String)> = images
        .iter()
        .map(|id| (id.clone(), "ready".to_string()))
        .collect();
    expected.sort();
    assert_eq!(
        statuses, expected,
        "every image is rendered by the remaining worker"
    );
    caught_up(&system).await;
    for id in &ids {
        let view: Value = system
            .client
            .get(format!("{}/products/{id}", query_b.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(view["stock"], 100 + ROUNDS as i64, "{id}");
    }

    let output = system
        .run_tool("projector", &["verify"], Duration::from_secs(120))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "projector verify: {stdout}");
    assert!(stdout.contains(" 0 mismatches"), "{stdout}");

    let violations: i64 = sqlx::query_scalar("SELECT count(*) FROM order_violations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        violations, 0,
        "a product's PostgreSQL version went backwards"
    );
    listener.abort();
    let mut latest: HashMap<String, u64> = HashMap::new();
    for (id, version) in announced.lock().unwrap().iter() {
        let seen = latest.entry(id.clone()).or_default();
        assert!(
            *version >= *seen,
            "{id} was announced at {version} after {seen} in Redis"
        );
        *seen = *version;
    }
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT aggregate_id, max(sequence) FROM events GROUP BY aggregate_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), PRODUCTS);
    for (id, version) in stored {
        assert_eq!(
            latest.get(&id),
            Some(&(version as u64)),
            "{id}'s last announcement"
        );
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn one_projector_drains_a_backlog_spread_over_four_shards_without_reconnecting(pool: PgPool) {
    // The read model's tables are this release's generation's.
    let pool = read_model_pool(&pool);
    // Small batches: many of them, each acknowledged as it ends.
    let env = [("PROJECTOR_SHARDS", "4"), ("PROJECTOR_PREFETCH", "8")];
    let mut system = System::start(pool.clone(), &[Service::CommandApi], &env).await;
    let base = system.url(Service::CommandApi);
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(create(&system, &format!("BACKLOG-{i}"), 100).await);
    }
    for _ in 0..8 {
        for id in &ids {
            adjust(&system, &base, id, 1).await;
        }
    }
    // Everything waits in the four shard queues before the projector starts, so its batches
    // mix deliveries from every shard.
    let last: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let relayed = eventually(Duration::from_secs(30), || async {
        let position: i64 = sqlx::query_scalar("SELECT max(position) FROM relay_checkpoints")
            .fetch_one(&pool)
            .await
            .ok()?;
        (position == last).then_some(())
    })
    .await;
    assert!(relayed.is_some(), "the relay published the backlog");
    system.start_service(Service::Projector).await;
    caught_up(&system).await;
    let reconnected = system
        .logs(Service::Projector)
        .iter()
        .filter(|line| mentions(line, "message", "consumer stopped; reconnecting"))
        .count();
    assert_eq!(reconnected, 0, "the projector kept its connection");
    let metrics = system.metrics(Service::Projector).await;
    // The counter exists from the first delivery on, so a missing series means the metric is
    // gone, not that nothing was redelivered.
    let redelivered = series(
        &metrics,
        "catalog_consumer_redeliveries_total",
        &[("consumer", "projector")],
    )
    .unwrap_or_else(|| panic!("no redelivery counter for the projector in:\n{metrics}"));
    assert_eq!(redelivered, 0.0, "no message was delivered twice");
}

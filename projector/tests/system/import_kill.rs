//! command-api SIGKILLed in the middle of a bulk import: the restarted process takes the job
//! up where its progress was saved, and the job ends with every line counted once, as what it
//! did, and every product stored once.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

const PRODUCTS: usize = 2_000;

async fn job(system: &System, location: &str) -> Value {
    system
        .client
        .get(format!("{}{location}", system.url(Service::CommandApi)))
        .bearer_auth(&system.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_killed_import_is_resumed_and_ends_exact(pool: PgPool) {
    // Few lines at once, so the kill finds the job part way.
    let mut system = System::start(
        pool.clone(),
        &[Service::CommandApi],
        &[("IMPORT_CONCURRENCY", "2")],
    )
    .await;
    let file: String = (0..PRODUCTS)
        .map(|n| {
            format!(
                "{}\n",
                json!({"sku": format!("KILL-{n}"), "name": format!("Product {n}"),
                       "price": {"amount": 100 + n, "currency": "EUR"}, "stock": n})
            )
        })
        .collect();
    let response = system
        .client
        .post(format!("{}/imports", system.url(Service::CommandApi)))
        .bearer_auth(&system.token)
        .header("content-type", "application/x-ndjson")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_string();

    // Killed once some chunks are saved and more lines are being stored.
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let part_way = eventually(Duration::from_secs(60), || async {
        let job = job(&system, &location).await;
        let processed = job["processed"].as_i64().unwrap();
        (processed >= 256 && stored().await > processed).then_some(processed)
    })
    .await
    .expect("the import made progress");
    system.kill(Service::CommandApi).await;
    let at_kill = stored().await;
    assert!(
        at_kill < PRODUCTS as i64,
        "killed part way: {at_kill} stored"
    );
    assert!(
        at_kill > part_way,
        "lines past the saved progress were stored"
    );

    system.start_service(Service::CommandApi).await;
    let ended = eventually(Duration::from_secs(120), || async {
        let job = job(&system, &location).await;
        (job["status"] != "running").then_some(job)
    })
    .await
    .expect("the import ended after the restart");
    assert_eq!(ended["status"], "done");
    for (count, expected) in [
        ("lines", PRODUCTS),
        ("processed", PRODUCTS),
        ("created", PRODUCTS),
        ("updated", 0),
        ("unchanged", 0),
        ("failed", 0),
    ] {
        assert_eq!(ended[count], expected, "{count} in {ended}");
    }
    let (events, products, creations): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT aggregate_id), \
                count(*) FILTER (WHERE event_type = 'ProductCreated') FROM events",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (events, products, creations),
        (PRODUCTS as i64, PRODUCTS as i64, PRODUCTS as i64)
    );
    let reserved: i64 = sqlx::query_scalar("SELECT count(*) FROM sku_reservations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(reserved, PRODUCTS as i64);
    let logs = system.logs(Service::CommandApi);
    assert!(
        logs.iter().any(|l| l["fields"]["message"] == "import running" || l["message"] == "import running"),
        "the restarted process says it took the job up"
    );
}

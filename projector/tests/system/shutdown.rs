//! SIGTERM under load: each process stops taking work, finishes what it holds, exits 0 by
//! itself, and nothing is lost. The writers' own count of accepted commands must match the
//! event store exactly (a request cut off after its commit would leave an event without an
//! answer), and the read models must end equal to the event store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use catalog_domain::ImageStatus;

use crate::helpers::*;

const PRODUCTS: usize = 6;
const STOCK: i64 = 100_000;

/// Sends stock adjustments of -1 until `stop`; returns the versions of those accepted.
async fn writer(
    client: reqwest::Client,
    url: String,
    token: String,
    stop: Arc<AtomicBool>,
) -> Vec<u64> {
    let mut accepted = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let sent = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"delta": -1, "reason": "sale"}))
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == StatusCode::OK => {
                let body: Value = response.json().await.expect("the answer is read whole");
                accepted.push(body["version"].as_u64().unwrap());
            }
            Ok(response) => panic!("a command was answered {}", response.status()),
            // The service is stopping or stopped: no answer, no command.
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    accepted
}

async fn events(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits until `more` events were stored since the call.
async fn under_load(pool: &PgPool, more: i64) {
    let target = events(pool).await + more;
    eventually(Duration::from_secs(30), || async {
        (events(pool).await >= target).then_some(())
    })
    .await
    .expect("commands go through");
}

async fn stop_and_restart(system: &mut System, service: Service, farewell: &str) {
    let status = system.terminate(service, Duration::from_secs(40)).await;
    assert!(status.success(), "{} exited with {status}", service.name());
    assert!(
        system
            .logs(service)
            .iter()
            .any(|line| line["message"] == farewell),
        "{} logged {farewell:?}",
        service.name()
    );
    system.start_service(service).await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn sigterm_under_load_loses_nothing(pool: PgPool) {
    // The read model's tables are this release's generation's.
    let pool = read_model_pool(&pool);
    let mut system = System::start(
        pool.clone(),
        &[
            Service::CommandApi,
            Service::Projector,
            Service::ImageWorker,
        ],
        &[],
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..PRODUCTS {
        ids.push(create(&system, &format!("TERM-{i}"), STOCK).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = ids
        .iter()
        .map(|id| {
            let url = format!(
                "{}/products/{id}/stock-adjustments",
                system.url(Service::CommandApi)
            );
            tokio::spawn(writer(
                system.client.clone(),
                url,
                system.token.clone(),
                Arc::clone(&stop),
            ))
        })
        .collect();

    under_load(&pool, 100).await;
    stop_and_restart(&mut system, Service::CommandApi, "command-api stopped").await;
    under_load(&pool, 100).await;
    stop_and_restart(&mut system, Service::Projector, "projector stopped").await;
    // Images in the worker's hands when it is told to stop.
    let pictured = ids[0].clone();
    for i in 0..4 {
        upload(&system, &pictured, png(1600 + i, 1200), &[]).await;
    }
    under_load(&pool, 50).await;
    stop_and_restart(&mut system, Service::ImageWorker, "image worker stopped").await;
    under_load(&pool, 100).await;

    stop.store(true, Ordering::Relaxed);
    let mut accepted = 0;
    for (id, writer) in ids.iter().zip(writers) {
        let versions = writer.await.expect("the writer finishes");
        accepted += versions.len();
        let stored = stock_adjustments(&pool, id).await;
        assert_eq!(
            stored as usize,
            versions.len(),
            "{id}: answers and events match"
        );
    }
    assert!(
        accepted >= 350,
        "the load ran throughout ({accepted} commands)"
    );

    caught_up(&system).await;
    for id in &ids {
        let stored = stock_adjustments(&pool, id).await;
        let view = system.redis.get(id).await.unwrap().expect("in Redis");
        assert_eq!(view.stock, STOCK - stored, "{id}");
    }
    let view = settled_in_postgres(&system, &ids[0], 4).await;
    assert!(
        view.images.iter().all(|i| i.status == ImageStatus::Ready),
        "every image was finished: {:?}",
        view.images
    );
    let mismatches =
        projector::verify::verify(&pool, &system.redis, &catalog_domain::Schema::default())
            .await
            .expect("verify runs")
            .mismatches;
    assert_eq!(mismatches, Vec::<String>::new());
}

/// Waits until the product's images have all left `processing` in the PostgreSQL read model.
async fn settled_in_postgres(
    system: &System,
    id: &str,
    images: usize,
) -> catalog_domain::ProductView {
    let model = catalog_read_model::postgres::PgReadModel::new(
        system.pool.clone(),
        catalog_domain::Schema::default(),
    );
    eventually(Duration::from_secs(90), || async {
        let view = model.get(id).await.ok()??;
        (view.images.len() == images
            && view
                .images
                .iter()
                .all(|i| i.status != ImageStatus::Processing))
        .then_some(view)
    })
    .await
    .expect("the images settled")
}

/// The StockAdjusted events stored for one product.
async fn stock_adjustments(pool: &PgPool, id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = 'StockAdjusted'",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

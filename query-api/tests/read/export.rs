//! `GET /export`: every product not archived, each at its version as of the position the
//! `Catalog-Position` header names, however the read model and concurrent writes stand.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use catalog_testkit::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

async fn world(pool: PgPool, projected: bool) -> World {
    World::start(
        pool,
        Options {
            query_api: true,
            ..Options::new(projected, projected)
        },
    )
    .await
}

/// The export's position and its lines by product id.
async fn export(world: &World) -> (i64, BTreeMap<String, Value>) {
    let response = world.read("/export", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let position: i64 = response.headers()["catalog-position"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let text = response.text().await.unwrap();
    let mut lines = BTreeMap::new();
    for line in text.lines() {
        let view: Value = serde_json::from_str(line).unwrap();
        let id = view["id"].as_str().unwrap().to_string();
        assert!(lines.insert(id, view).is_none(), "one line per product");
    }
    (position, lines)
}

/// Each product's last version among the events at or below `position`, archived ones left
/// out: what an export at `position` must hold, read from the store afterwards.
async fn expected(pool: &PgPool, position: i64) -> BTreeMap<String, u64> {
    let rows: Vec<(String, i64, bool)> = sqlx::query_as(
        "SELECT aggregate_id, max(sequence), bool_or(event_type = 'ProductArchived') \
         FROM events WHERE aggregate_type = 'Product' AND position <= $1 GROUP BY aggregate_id",
    )
    .bind(position)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .filter(|(_, _, archived)| !archived)
        .map(|(id, version, _)| (id, version as u64))
        .collect()
}

fn versions(lines: &BTreeMap<String, Value>) -> BTreeMap<String, u64> {
    lines
        .iter()
        .map(|(id, view)| (id.clone(), view["version"].as_u64().unwrap()))
        .collect()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn every_live_product_is_exported_as_its_view(pool: PgPool) {
    let world = world(pool.clone(), true).await;
    let kept = world.create("EXP-1").await;
    let adjusted = world.create("EXP-2").await;
    let archived = world.create("EXP-3").await;
    world.adjust(&adjusted, -7).await;
    let response = world
        .send(Method::DELETE, &format!("/products/{archived}"), None)
        .await;
    assert!(response.status().is_success());
    world.wait_for_quiescence().await;

    let (position, lines) = export(&world).await;
    let head: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        position, head,
        "nothing is running: the export is at the last event"
    );
    assert_eq!(lines.keys().collect::<Vec<_>>().len(), 2);
    assert_eq!(lines[&adjusted]["stock"], 93);
    assert_eq!(lines[&kept]["sku"], "EXP-1");
    assert!(!lines.contains_key(&archived));
    // As the read model holds it.
    let stored = world.postgres_view(&adjusted).await.unwrap();
    assert_eq!(lines[&adjusted], serde_json::to_value(&stored).unwrap());
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn products_the_read_model_lacks_are_folded_from_their_events(pool: PgPool) {
    // No projector: the read model stays empty.
    let world = world(pool.clone(), false).await;
    let id = world.create("FOLD-1").await;
    world.adjust(&id, 5).await;
    let (position, lines) = export(&world).await;
    assert_eq!(versions(&lines), expected(&pool, position).await);
    assert_eq!(lines[&id]["stock"], 105);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn what_a_transaction_still_running_could_precede_is_left_out(pool: PgPool) {
    let world = world(pool.clone(), true).await;
    let before = world.create("HOLD-1").await;
    world.wait_for_quiescence().await;
    // A writer holding a position, its transaction open: nothing stored after it is final.
    let mut open = pool.begin().await.unwrap();
    let held: i64 = sqlx::query_scalar(
        "INSERT INTO public.events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) \
         VALUES ('Product', gen_random_uuid()::text, 1, 'ProductPublished', '1', \
             '{\"ProductPublished\": {}}', '{\"actor\": \"late\"}') \
         RETURNING position",
    )
    .fetch_one(&mut *open)
    .await
    .unwrap();
    world.adjust(&before, -1).await;
    let after = world.create("HOLD-2").await;

    let (position, lines) = export(&world).await;
    assert!(
        position < held,
        "the export stops before the running transaction's position"
    );
    assert_eq!(lines[&before]["version"], 1);
    assert_eq!(lines[&before]["stock"], 100);
    assert!(!lines.contains_key(&after));
    open.rollback().await.unwrap();
    world.wait_for_quiescence().await;
    let (_, lines) = export(&world).await;
    assert_eq!(lines[&before]["version"], 2);
    assert!(lines.contains_key(&after));
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_document_out_of_step_with_the_store_is_folded_again(pool: PgPool) {
    let world = world(pool.clone(), true).await;
    let id = world.create("STEP-1").await;
    world.adjust(&id, -3).await;
    world.wait_for_quiescence().await;
    // As a read model already past the export's position holds it.
    sqlx::query(
        "UPDATE read_model.product_view SET version = version + 1, \
             doc = jsonb_set(doc, '{stock}', '0') WHERE id = $1",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    let (position, lines) = export(&world).await;
    assert_eq!(versions(&lines), expected(&pool, position).await);
    assert_eq!(lines[&id]["stock"], 97, "from the events, not the document");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn exports_while_writes_continue_hold_nothing_past_their_position(pool: PgPool) {
    let world = Arc::new(world(pool.clone(), true).await);
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(world.create(&format!("LIVE-{i}")).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (world, ids, stop) = (Arc::clone(&world), ids.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = &ids[(w + n * 4) % ids.len()];
                    world.adjust(id, 1).await;
                    if n % 5 == 0 {
                        world.create(&format!("LIVE-{w}-{n}")).await;
                    }
                    n += 1;
                }
            })
        })
        .collect();
    let mut positions = Vec::new();
    for _ in 0..8 {
        let (position, lines) = export(&world).await;
        assert_eq!(
            versions(&lines),
            expected(&pool, position).await,
            "the export at {position} is the store at {position}"
        );
        positions.push(position);
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(
        positions.windows(2).all(|w| w[0] <= w[1]) && positions.first() < positions.last(),
        "the writes went on between the exports: {positions:?}"
    );
}

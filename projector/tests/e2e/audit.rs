use catalog_store::audit::verify_chains;
use sqlx::PgPool;

use crate::helpers::*;

/// (product, sequence) of every broken link.
async fn broken(pool: &PgPool) -> Vec<(String, i64)> {
    verify_chains(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.aggregate_id, b.sequence))
        .collect()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn verify_names_every_event_altered_deleted_or_reordered_by_hand(pool: PgPool) {
    let world = World::start(pool.clone(), Options::new(false, false)).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = world.create(&format!("AUDIT-{i}")).await;
        for delta in [-1, -2, -3] {
            world.adjust(&id, delta).await;
        }
        ids.push(id);
    }
    assert_eq!(broken(&pool).await, vec![], "an untouched log verifies");

    // A payload changed in place.
    sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{StockAdjusted,delta}', '-100') \
         WHERE aggregate_id = $1 AND sequence = 2",
    )
    .bind(&ids[0])
    .execute(&pool)
    .await
    .unwrap();
    // Metadata changed: someone else did it.
    sqlx::query(
        "UPDATE events SET metadata = jsonb_set(metadata, '{actor}', '\"mallory\"') \
         WHERE aggregate_id = $1 AND sequence = 3",
    )
    .bind(&ids[1])
    .execute(&pool)
    .await
    .unwrap();
    // An event deleted.
    sqlx::query("DELETE FROM events WHERE aggregate_id = $1 AND sequence = 2")
        .bind(&ids[2])
        .execute(&pool)
        .await
        .unwrap();
    // Two events swapped.
    sqlx::raw_sql(&format!(
        "UPDATE events SET sequence = 100 WHERE aggregate_id = '{id}' AND sequence = 2; \
         UPDATE events SET sequence = 2 WHERE aggregate_id = '{id}' AND sequence = 3; \
         UPDATE events SET sequence = 3 WHERE aggregate_id = '{id}' AND sequence = 100;",
        id = ids[3]
    ))
    .execute(&pool)
    .await
    .unwrap();

    let mut expected = vec![
        (ids[0].clone(), 2),
        (ids[1].clone(), 3),
        (ids[2].clone(), 3),
        // A swap breaks both swapped events and the one after them, whose predecessor changed.
        (ids[3].clone(), 2),
        (ids[3].clone(), 3),
        (ids[3].clone(), 4),
    ];
    expected.sort();
    let mut found = broken(&pool).await;
    found.sort();
    assert_eq!(found, expected);
}

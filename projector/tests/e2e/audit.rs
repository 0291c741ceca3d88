use catalog_store::audit::verify_chains;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
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

/// One stored event: the fields its hash covers, in the order they are hashed, and the hash the
/// trigger stored.
#[derive(sqlx::FromRow)]
struct Stored {
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    /// PostgreSQL's text form of the jsonb, which is what is hashed: key order and spacing are
    /// PostgreSQL's, not the writer's.
    payload: String,
    metadata: String,
    event_id: uuid::Uuid,
    recorded_at: DateTime<Utc>,
    hash: Vec<u8>,
}

/// The chain's hash of `event` after `previous`, computed here from the chain's definition
/// rather than by `catalog_event_hash`: SHA-256 over the previous event's hash (nothing for a
/// first event), a NUL byte, then the fields as UTF-8 joined by U+0001, the time in UTC to the
/// microsecond.
fn chain_hash(previous: Option<&[u8]>, event: &Stored) -> Vec<u8> {
    let fields = [
        event.aggregate_type.clone(),
        event.aggregate_id.clone(),
        event.sequence.to_string(),
        event.event_type.clone(),
        event.event_version.clone(),
        event.payload.clone(),
        event.metadata.clone(),
        event.event_id.to_string(),
        event
            .recorded_at
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string(),
    ];
    let mut hasher = Sha256::new();
    hasher.update(previous.unwrap_or_default());
    hasher.update([0u8]);
    hasher.update(fields.join("\u{1}").as_bytes());
    hasher.finalize().to_vec()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn stored_hashes_match_the_chain_computed_from_its_definition(pool: PgPool) {
    let world = World::start(pool.clone(), Options::new(false, false)).await;
    // A name outside ASCII, so the payload's text is hashed as multi-byte UTF-8.
    let response = world
        .send(
            Method::POST,
            "/products",
            Some(json!({
                "sku": "AUDIT-HASH", "name": "Café ☕ Tōkyō",
                "price": {"amount": 500, "currency": "EUR"}, "stock": 100
            })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    world.adjust(&id, -3).await;

    let events: Vec<Stored> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, \
                payload::text AS payload, metadata::text AS metadata, event_id, recorded_at, hash \
         FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(&id)
    .fetch_all(&pool)
    .await
    .unwrap();
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 2]);
    assert!(
        events[0].payload.contains("Café ☕ Tōkyō"),
        "{}",
        events[0].payload
    );

    let first = chain_hash(None, &events[0]);
    assert_eq!(events[0].hash, first, "the first event's hash");
    // Chained on the hash computed here, not the stored one: the link itself is checked.
    let second = chain_hash(Some(&first), &events[1]);
    assert_eq!(events[1].hash, second, "the second event's hash");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_hash_left_out_is_computed_a_supplied_one_is_checked_and_a_wrong_one_refused(
    pool: PgPool,
) {
    let id = uuid::Uuid::now_v7().to_string();
    let insert = |sequence: i64, event_id: uuid::Uuid, hash: Option<Vec<u8>>| {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
               event_version, payload, metadata, event_id, recorded_at, hash) \
             VALUES ('Product', $1, $2, 'StockAdjusted', '1', '{\"n\": 1}', '{}', $3, \
               '2026-12-03T10:00:00.123456Z', $4)",
        )
        .bind(id.clone())
        .bind(sequence)
        .bind(event_id)
        .bind(hash)
    };
    let stored = |sequence: i64| {
        sqlx::query_as::<_, Stored>(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, \
                    payload::text AS payload, metadata::text AS metadata, event_id, recorded_at, \
                    hash FROM events WHERE aggregate_id = $1 AND sequence = $2",
        )
        .bind(id.clone())
        .bind(sequence)
    };

    // Left out: the database computes it.
    insert(1, uuid::Uuid::new_v4(), None)
        .execute(&pool)
        .await
        .unwrap();
    let first = stored(1).fetch_one(&pool).await.unwrap();
    assert_eq!(first.hash, chain_hash(None, &first));
    let first_hash = first.hash.clone();

    // Supplied, and right: stored as it is.
    let mut second = Stored {
        sequence: 2,
        event_id: uuid::Uuid::new_v4(),
        hash: Vec::new(),
        ..first
    };
    let supplied = chain_hash(Some(&first_hash), &second);
    insert(2, second.event_id, Some(supplied.clone()))
        .execute(&pool)
        .await
        .unwrap();
    second = stored(2).fetch_one(&pool).await.unwrap();
    assert_eq!(second.hash, supplied);

    // Supplied, and wrong: one that hashes the right fields after the wrong predecessor, and
    // one that is not a hash of anything. Both refused, nothing stored.
    let third = Stored {
        sequence: 3,
        event_id: uuid::Uuid::new_v4(),
        ..second
    };
    for wrong in [chain_hash(None, &third), vec![0u8; 32]] {
        let err = insert(3, third.event_id, Some(wrong))
            .execute(&pool)
            .await
            .unwrap_err();
        let code = err
            .as_database_error()
            .and_then(sqlx::error::DatabaseError::code);
        assert_eq!(code.as_deref(), Some("23000"), "{err}");
        assert!(
            err.to_string().contains("does not continue its chain"),
            "{err}"
        );
    }
    assert!(stored(3).fetch_optional(&pool).await.unwrap().is_none());
    assert!(broken(&pool).await.is_empty(), "the chain verifies");
}

/// A change made by hand to one hashed column of a product's four events ({id} stands for the
/// product), and every event verify must then name, as (product, sequence).
struct Tamper {
    column: &'static str,
    sql: &'static str,
    named: &'static [(&'static str, i64)],
}

const TAMPERS: [Tamper; 9] = [
    // A whole chain moved to another aggregate type or id: in order and unbroken, so only the
    // hashes, which cover both, tell.
    Tamper {
        column: "aggregate_type",
        sql: "UPDATE events SET aggregate_type = 'Forged' WHERE aggregate_id = '{id}'",
        named: &[("{id}", 1), ("{id}", 2), ("{id}", 3), ("{id}", 4)],
    },
    Tamper {
        column: "aggregate_id",
        sql: "UPDATE events SET aggregate_id = '{id}-forged' WHERE aggregate_id = '{id}'",
        named: &[
            ("{id}-forged", 1),
            ("{id}-forged", 2),
            ("{id}-forged", 3),
            ("{id}-forged", 4),
        ],
    },
    // Renumbered as a block: the first has no predecessor, the rest step by one but hash their
    // old sequences.
    Tamper {
        column: "sequence",
        sql: "UPDATE events SET sequence = sequence + 10 WHERE aggregate_id = '{id}'",
        named: &[("{id}", 11), ("{id}", 12), ("{id}", 13), ("{id}", 14)],
    },
    Tamper {
        column: "event_type",
        sql: "UPDATE events SET event_type = 'ProductDeleted' \
              WHERE aggregate_id = '{id}' AND sequence = 2",
        named: &[("{id}", 2)],
    },
    Tamper {
        column: "event_version",
        sql: "UPDATE events SET event_version = event_version || '.1' \
              WHERE aggregate_id = '{id}' AND sequence = 2",
        named: &[("{id}", 2)],
    },
    Tamper {
        column: "event_id",
        sql: "UPDATE events SET event_id = gen_random_uuid() \
              WHERE aggregate_id = '{id}' AND sequence = 2",
        named: &[("{id}", 2)],
    },
    // The smallest step the column can take.
    Tamper {
        column: "recorded_at",
        sql: "UPDATE events SET recorded_at = recorded_at + interval '1 microsecond' \
              WHERE aggregate_id = '{id}' AND sequence = 2",
        named: &[("{id}", 2)],
    },
    // A hash replaced: it no longer matches its event, nor links the next one.
    Tamper {
        column: "hash",
        sql: "UPDATE events SET hash = sha256('forged') \
              WHERE aggregate_id = '{id}' AND sequence = 2",
        named: &[("{id}", 2), ("{id}", 3)],
    },
    // An event altered and its own hash recomputed to match: the next event still hashes the
    // old one, so the link breaks there.
    Tamper {
        column: "hash (previous link)",
        sql: "UPDATE events SET payload = jsonb_set(payload, '{StockAdjusted,delta}', '-100') \
              WHERE aggregate_id = '{id}' AND sequence = 2; \
              UPDATE events e SET hash = catalog_event_hash(p.hash, e.aggregate_type, \
                  e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, \
                  e.metadata, e.event_id, e.recorded_at) \
              FROM events p \
              WHERE e.aggregate_id = '{id}' AND e.sequence = 2 \
                AND p.aggregate_type = e.aggregate_type AND p.aggregate_id = e.aggregate_id \
                AND p.sequence = 1",
        named: &[("{id}", 3)],
    },
];

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn verify_names_the_events_a_change_to_any_hashed_column_breaks(pool: PgPool) {
    let world = World::start(pool.clone(), Options::new(false, false)).await;
    for (n, tamper) in TAMPERS.iter().enumerate() {
        let id = world.create(&format!("TAMPER-{n}")).await;
        for delta in [-1, -2, -3] {
            world.adjust(&id, delta).await;
        }
        let before = broken(&pool).await;
        let changed = sqlx::raw_sql(&tamper.sql.replace("{id}", &id))
            .execute(&pool)
            .await
            .unwrap();
        assert!(
            changed.rows_affected() > 0,
            "{}: no row changed",
            tamper.column
        );

        let mut named: Vec<(String, i64)> = broken(&pool)
            .await
            .into_iter()
            .filter(|b| !before.contains(b))
            .collect();
        named.sort();
        let mut expected: Vec<(String, i64)> = tamper
            .named
            .iter()
            .map(|(product, sequence)| (product.replace("{id}", &id), *sequence))
            .collect();
        expected.sort();
        assert_eq!(named, expected, "{}", tamper.column);
    }
}

//! The auditor's hash of an event is PostgreSQL's `catalog_event_hash` of the same row, for
//! JSON and times whose text PostgreSQL normalises.

use catalog_feed_audit::{Broken, Chain, FeedEvent};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Data whose `jsonb` text differs from what was written and from what serde_json would print:
/// keys reordered, spacing, escapes, non-ASCII, numbers kept as written.
const PAYLOAD: &str = r#"{"b": [1, 2.50, -0.0, 1e3],  "a": "é «quoted» \"x\" \n\t \u2028 😀 \u0007",
    "c": {"z": null, "y": true}}"#;
const METADATA: &str = r#"{"actor": "auditor ✓", "correlation_id": "c-1", "request_id": "r"}"#;

/// Times in other zones, without a fraction, and with fewer than six digits.
const TIMES: [&str; 4] = [
    "2026-03-01 12:34:56.000123+02",
    "2026-03-01 00:00:00+00",
    "2026-12-31 23:59:59.999999-05",
    "2026-06-15 10:00:00.1+00",
];

/// A product's event as the database holds it, the data and metadata as PostgreSQL's text.
#[derive(sqlx::FromRow)]
struct Row {
    position: i64,
    aggregate_id: String,
    sequence: i64,
    data: String,
    metadata: String,
    event_id: Uuid,
    recorded_at: DateTime<Utc>,
    hash: Vec<u8>,
}

impl Row {
    /// The event as query-api serialises it: `data` and `metadata` passed through as text.
    fn on_the_wire(&self) -> FeedEvent {
        let id = serde_json::to_string(&self.aggregate_id).unwrap();
        let text = format!(
            r#"{{"position":{},"product_id":{id},"aggregate_type":"Product","aggregate_id":{id},"sequence":{},"type":"ProductCreated","event_version":"1","data":{},"recorded_at":{},"actor":null,"correlation_id":null,"causation_id":null,"event_id":"{}","metadata":{},"hash":"{}"}}"#,
            self.position,
            self.sequence,
            self.data,
            serde_json::to_string(&self.recorded_at).unwrap(),
            self.event_id,
            self.metadata,
            hex::encode(&self.hash),
        );
        serde_json::from_str(&text).unwrap()
    }
}

/// The row of a product's event `sequence` recorded at `recorded_at`, its hash
/// `catalog_event_hash` with `previous`, computed but not stored.
async fn hashed_by_postgres(
    pool: &PgPool,
    previous: Option<&[u8]>,
    aggregate_id: &str,
    sequence: i64,
    recorded_at: &str,
) -> Row {
    sqlx::query_as(
        "SELECT $4 AS position, $3 AS aggregate_id, $4 AS sequence, $1::jsonb::text AS data, \
                $2::jsonb::text AS metadata, $6 AS event_id, $5::timestamptz AS recorded_at, \
                catalog_event_hash($7, 'Product', $3, $4, 'ProductCreated', '1', \
                                   $1::jsonb, $2::jsonb, $6, $5::timestamptz) AS hash",
    )
    .bind(PAYLOAD)
    .bind(METADATA)
    .bind(aggregate_id)
    .bind(sequence)
    .bind(recorded_at)
    .bind(Uuid::new_v4())
    .bind(previous)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_hash_of_an_event_and_of_its_successors_is_postgresqls_own(pool: PgPool) {
    let product = Uuid::new_v4().to_string();
    let mut previous: Option<[u8; 32]> = None;
    let mut chain = Chain::new(0, false);
    for (sequence, recorded_at) in (1..).zip(TIMES) {
        let row = hashed_by_postgres(
            &pool,
            previous.as_ref().map(<[u8; 32]>::as_slice),
            &product,
            sequence,
            recorded_at,
        )
        .await;
        let event = row.on_the_wire();
        assert_eq!(
            event.expected_hash(previous.as_ref()).as_slice(),
            row.hash,
            "sequence {sequence}, recorded at {recorded_at}"
        );
        chain.verify(&event).unwrap();
        previous = Some(event.hash);
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn json_printed_again_by_serde_hashes_differently_so_the_raw_text_is_kept(pool: PgPool) {
    let mut row = hashed_by_postgres(&pool, None, &Uuid::new_v4().to_string(), 1, TIMES[0]).await;
    let value: serde_json::Value = serde_json::from_str(&row.data).unwrap();
    let reprinted = serde_json::to_string(&value).unwrap();
    assert_ne!(reprinted, row.data, "PostgreSQL's text is not serde_json's");
    row.data = reprinted;
    let broken = Chain::new(0, false).verify(&row.on_the_wire()).unwrap_err();
    assert!(
        matches!(broken, Broken::HashMismatch { position: 1, .. }),
        "{broken}"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn stored_rows_verify_against_the_hashes_their_insert_trigger_wrote(pool: PgPool) {
    let product = Uuid::new_v4().to_string();
    for sequence in 1..=3_i64 {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                                 event_version, payload, metadata) \
             VALUES ('Product', $1, $2, 'ProductCreated', '1', $3::jsonb, $4::jsonb)",
        )
        .bind(&product)
        .bind(sequence)
        .bind(PAYLOAD)
        .bind(METADATA)
        .execute(&pool)
        .await
        .unwrap();
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT position, aggregate_id, sequence, payload::text AS data, \
                metadata::text AS metadata, event_id, recorded_at, hash \
         FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(&product)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    let mut chain = Chain::new(0, false);
    for row in &rows {
        chain.verify(&row.on_the_wire()).unwrap();
    }
}

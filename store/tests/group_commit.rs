//! Group commit (`catalog_store::append`): concurrent commands' appends share one transaction,
//! and each command keeps its own outcome. A group is held open by a hand-written, uncommitted
//! row in the way of its first command, so the commands sent meanwhile queue up and are written
//! as the next group, whose transaction id their events share.

mod support;

use std::sync::Arc;
use std::time::Duration;

use catalog_domain::{ProductError, Schema};
use catalog_store::append::{answering, Grouping};
use catalog_store::event_store::ProductStore;
use catalog_store::repository::StoreError;
use sqlx::{Connection, PgConnection, PgPool};
use support::{adjust, create, run, stored_stock};

/// One writer, so a group held open keeps every later command waiting for the next.
fn store(pool: &PgPool) -> Arc<ProductStore> {
    snapshotting_every(pool, 50)
}

fn snapshotting_every(pool: &PgPool, events: usize) -> Arc<ProductStore> {
    Arc::new(
        ProductStore::new(pool.clone(), events, Schema::default()).grouped(Grouping {
            writers: 1,
            max_commands: 64,
        }),
    )
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// An uncommitted row at `id`'s first sequence, on a connection of its own: a group that
/// appends there waits until the returned transaction ends.
async fn hold_first_sequence(pool: &PgPool, id: &str) -> PgConnection {
    let options = pool.connect_options();
    let mut connection = PgConnection::connect_with(&options).await.unwrap();
    sqlx::query("BEGIN").execute(&mut connection).await.unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
           event_version, payload, metadata) VALUES ('Product', $1, 1, 'Held', '1', '{}', '{}')",
    )
    .bind(id)
    .execute(&mut connection)
    .await
    .unwrap();
    connection
}

/// Waits until a group's statement is waiting on a lock (the held row).
async fn group_waits_on_lock(pool: &PgPool) {
    for _ in 0..500 {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() \
               AND wait_event_type = 'Lock' AND query LIKE '%catalog_append_group%')",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no group waited on the held row");
}

/// The transaction that stored event `sequence` of product `id`.
async fn transaction_of(pool: &PgPool, id: &str, sequence: i64) -> String {
    sqlx::query_scalar(
        "SELECT transaction_id::text FROM events WHERE aggregate_id = $1 AND sequence = $2",
    )
    .bind(id)
    .bind(sequence)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_group_stores_its_winners_and_its_losers_are_decided_again(pool: PgPool) {
    let store = store(&pool);
    let (stored, contended, refused, held) = (new_id(), new_id(), new_id(), new_id());
    run(&store, &stored, create("GROUP-1", 0), None)
        .await
        .unwrap();
    run(&store, &contended, create("GROUP-2", 0), None)
        .await
        .unwrap();
    run(&store, &refused, create("GROUP-3", 1), None)
        .await
        .unwrap();

    let holder = hold_first_sequence(&pool, &held).await;
    let blocked = tokio::spawn({
        let store = Arc::clone(&store);
        let held = held.clone();
        async move { run(&store, &held, create("GROUP-4", 0), None).await }
    });
    group_waits_on_lock(&pool).await;

    // Meanwhile: a command that will be stored, two decided on the same version of one
    // product (one wins the group, the other loses and is decided again), and one the rules
    // refuse before it reaches a group.
    let send = |id: &String, delta: i64| {
        let (store, id) = (Arc::clone(&store), id.clone());
        tokio::spawn(async move { run(&store, &id, adjust(delta), None).await })
    };
    let commands = [
        send(&stored, 5),
        send(&contended, 1),
        send(&contended, 2),
        send(&refused, -3),
    ];
    // Long enough for each to load and decide; none can be written before the held group.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    holder.close().await.unwrap(); // rolls the held row back
    assert_eq!(
        blocked.await.unwrap().unwrap(),
        1,
        "the held group is stored"
    );

    let [stored_v, first, second, refusal] = commands;
    assert_eq!(stored_v.await.unwrap().unwrap(), 2);
    let mut contended_versions = [
        first.await.unwrap().unwrap(),
        second.await.unwrap().unwrap(),
    ];
    contended_versions.sort_unstable();
    assert_eq!(
        contended_versions,
        [2, 3],
        "both stored, one after the other"
    );
    assert!(matches!(
        refusal.await.unwrap(),
        Err(StoreError::Refused(ProductError::InsufficientStock { .. }))
    ));

    // One group held the stored command and the winner of the race; the loser was decided
    // again on the winner's version and stored later, alone.
    let group = transaction_of(&pool, &stored, 2).await;
    assert_eq!(transaction_of(&pool, &contended, 2).await, group);
    assert_ne!(transaction_of(&pool, &contended, 3).await, group);
    assert_eq!(stored_stock(&pool, &stored).await, 5);
    assert_eq!(stored_stock(&pool, &contended).await, 3);
    assert_eq!(
        stored_stock(&pool, &refused).await,
        1,
        "the refusal stored nothing"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_group_that_fails_as_a_whole_fails_only_the_command_at_fault(pool: PgPool) {
    // A rule the command path does not know of, standing for anything that fails a statement
    // as a whole: no event may carry the name POISON.
    sqlx::query(
        "ALTER TABLE events ADD CONSTRAINT no_poison CHECK (payload::text NOT LIKE '%POISON%')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let store = store(&pool);
    let held = new_id();
    let holder = hold_first_sequence(&pool, &held).await;
    let blocked = tokio::spawn({
        let store = Arc::clone(&store);
        async move { run(&store, &held, create("HELD", 0), None).await }
    });
    group_waits_on_lock(&pool).await;

    let ids: Vec<String> = (0..4).map(|_| new_id()).collect();
    let commands: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let (store, id) = (Arc::clone(&store), id.clone());
            let sku = if n == 2 {
                "POISON".to_string()
            } else {
                format!("FINE-{n}")
            };
            tokio::spawn(async move { run(&store, &id, create(&sku, 0), None).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    holder.close().await.unwrap();
    blocked.await.unwrap().unwrap();

    for (n, (command, id)) in commands.into_iter().zip(&ids).enumerate() {
        let outcome = command.await.unwrap();
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        if n == 2 {
            assert!(
                matches!(outcome, Err(StoreError::Internal(_))),
                "{outcome:?}"
            );
            assert_eq!(stored, 0);
        } else {
            assert_eq!(outcome.unwrap(), 1, "command {n} is stored");
            assert_eq!(stored, 1);
        }
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_snapshot_is_written_with_its_command_and_not_with_a_loser(pool: PgPool) {
    // Snapshots every 2 events: the second event of each product takes one.
    let store = snapshotting_every(&pool, 2);
    let id = new_id();
    run(&store, &id, create("SNAP-1", 0), None).await.unwrap();
    let (a, b) = tokio::join!(
        run(&store, &id, adjust(1), None),
        run(&store, &id, adjust(10), None)
    );
    let mut versions = [a.unwrap(), b.unwrap()];
    versions.sort_unstable();
    assert_eq!(versions, [2, 3]);
    let snapshot: (i64, serde_json::Value) =
        sqlx::query_as("SELECT last_sequence, payload FROM snapshots WHERE aggregate_id = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(snapshot.0, 2);
    // The snapshot at version 2 holds the stock of the command stored at version 2.
    let at_two: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE aggregate_id = $1 AND sequence = 2")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    let delta = at_two
        .pointer("/StockAdjusted/delta")
        .and_then(serde_json::Value::as_i64);
    assert_eq!(
        snapshot
            .1
            .pointer("/variants/0/stock")
            .and_then(serde_json::Value::as_i64),
        delta,
        "{snapshot:?} {at_two}"
    );
    assert_eq!(stored_stock(&pool, &id).await, 11);
}

/// `support::metadata()` with an idempotency key.
fn keyed(key: &str) -> std::collections::HashMap<String, String> {
    let mut metadata = support::metadata();
    metadata.insert("idempotency_key".into(), key.into());
    metadata
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_keyed_command_answers_its_record_in_the_transaction_that_stores_it(pool: PgPool) {
    let store = store(&pool);
    let id = new_id();
    run(&store, &id, create("KEYED-1", 0), None).await.unwrap();
    // The records the idempotency layer claims before its commands run.
    for key in ["first", "second", "refused"] {
        sqlx::query(
            "INSERT INTO idempotency_keys (actor, key, request_hash) VALUES ($1, $2, '\\x00')",
        )
        .bind(&support::metadata()["actor"])
        .bind(key)
        .execute(&pool)
        .await
        .unwrap();
    }
    // Both decided on version 1: unless one was decided after the other was stored, one loses
    // its race and is stored by a later transaction, which must be the one answering its record.
    let (first_key, second_key) = (keyed("first"), keyed("second"));
    let (first, second) = tokio::join!(
        answering(store.execute(&id, adjust(1), None, &first_key)),
        answering(store.execute(&id, adjust(10), None, &second_key))
    );
    assert!(first.0.is_ok() && second.0.is_ok(), "{first:?} {second:?}");
    assert!(
        first.1 && second.1,
        "a stored keyed command tells its caller"
    );
    let answered: Vec<(String, bool)> = sqlx::query_as(
        "SELECT k.key, k.xmin::text = (e.transaction_id::text::numeric % 4294967296)::text \
           FROM idempotency_keys k \
           JOIN events e ON e.metadata->>'idempotency_key' = k.key AND e.aggregate_id = $1 \
          WHERE k.completed_at IS NOT NULL AND k.status_code IS NULL ORDER BY k.key",
    )
    .bind(&id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        answered,
        [("first".to_string(), true), ("second".to_string(), true)],
        "each record answered by its own event's transaction"
    );

    // A refused command stores nothing and answers nothing.
    let refused_key = keyed("refused");
    let refused = answering(store.execute(&id, adjust(-100), None, &refused_key)).await;
    assert!(
        matches!(
            refused.0,
            Err(StoreError::Refused(ProductError::InsufficientStock { .. }))
        ),
        "{:?}",
        refused.0
    );
    assert!(!refused.1);
    let unanswered: bool = sqlx::query_scalar(
        "SELECT completed_at IS NULL FROM idempotency_keys WHERE key = 'refused'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(unanswered);
    // A command without a key has no record to answer.
    let unkeyed = answering(run(&store, &id, adjust(1), None)).await;
    assert_eq!(unkeyed.0.unwrap(), 4);
    assert!(!unkeyed.1);
}

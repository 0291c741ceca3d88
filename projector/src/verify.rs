//! `projector verify`: replays every product from the event store and compares the result with
//! both read models. Meant for a quiet system (or a moment's pause): a consumer still catching
//! up shows as a version mismatch.

use catalog_domain::Schema;
use std::collections::BTreeSet;

use catalog_domain::ProductView;
use sqlx::PgPool;

use catalog_read_model::error::ApplyError;
use catalog_read_model::redis::RedisReadModel;

/// What `verify` compared and what it found.
#[derive(Debug, Default)]
pub struct Report {
    /// Products replayed from the event store.
    pub products: u64,
    /// Events replayed.
    pub events: u64,
    /// One line per difference, prefixed with the read model (`postgres:` or `redis:`): a
    /// product missing, unreadable, differing field by field, or present without events; or
    /// (`search:`) a word of the views the search vocabulary lacks.
    pub mismatches: Vec<String>,
}

/// Replays every product and compares the views with both read models, reading the events and
/// PostgreSQL in one snapshot. Fails when the database or Redis's list of ids cannot be read;
/// everything else, a document Redis cannot return included, is a mismatch in the report.
pub async fn verify(
    pool: &PgPool,
    redis: &RedisReadModel,
    schema: &Schema,
) -> Result<Report, ApplyError> {
    // One snapshot for the events and the PostgreSQL model, so they are compared as of one moment.
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await?;
    let mut postgres = catalog_read_model::postgres::all_views(&mut tx).await?;
    let mut in_redis: BTreeSet<String> = redis
        .ids()
        .await
        .map_err(|e| ApplyError::Transient(anyhow::Error::new(e).context("Redis")))?
        .into_iter()
        .collect();

    let mut report = Report::default();
    let mut expected_views = Vec::new();
    report.events = catalog_read_model::replay::each_product(
        &mut tx,
        schema,
        async |folded| {
            expected_views.push(folded.view);
            Ok(())
        },
        |_| {},
    )
    .await?;
    for word in catalog_read_model::postgres::vocabulary_gaps(&mut tx, 10).await? {
        report
            .mismatches
            .push(format!("search: the vocabulary lacks {word:?}"));
    }
    tx.commit().await?;

    for expected in expected_views {
        report.products += 1;
        let id = expected.id.clone();
        match postgres.remove(&id) {
            None => report.mismatches.push(format!("postgres: {id} is missing")),
            Some(actual) => compare("postgres", &expected, &actual, &mut report.mismatches),
        }
        in_redis.remove(&id);
        match redis.get(&id).await {
            Ok(None) => report.mismatches.push(format!("redis: {id} is missing")),
            Ok(Some(actual)) => compare("redis", &expected, &actual, &mut report.mismatches),
            Err(err) => report
                .mismatches
                .push(format!("redis: {id} unreadable: {err}")),
        }
    }
    for id in postgres.keys() {
        report
            .mismatches
            .push(format!("postgres: {id} has no events"));
    }
    for id in in_redis {
        report.mismatches.push(format!("redis: {id} has no events"));
    }
    Ok(report)
}

fn compare(store: &str, expected: &ProductView, actual: &ProductView, out: &mut Vec<String>) {
    if expected == actual {
        return;
    }
    let expected_json = serde_json::to_value(expected).expect("serializes");
    let actual_json = serde_json::to_value(actual).expect("serializes");
    let fields: Vec<String> = expected_json
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| actual_json.get(k.as_str()) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k}: expected {v}, found {}",
                actual_json
                    .get(k.as_str())
                    .unwrap_or(&serde_json::Value::Null)
            )
        })
        .collect();
    out.push(format!(
        "{store}: {} differs: {}",
        expected.id,
        fields.join("; ")
    ));
}

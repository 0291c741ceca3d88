//! Recomputes every product's hash chain (see migrations/…_event_hash_chain.sql) and names each
//! event whose stored content no longer matches its hash, or whose place in the chain is wrong:
//! altered payload or metadata, a deleted predecessor, a changed order.

use sqlx::PgPool;

/// One broken link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The product whose chain breaks.
    pub aggregate_id: String,
    /// The event at which the chain breaks: its hash does not match, or its predecessor is
    /// missing.
    pub sequence: i64,
    /// That event's id, which names it even if its sequence was renumbered.
    pub event_id: String,
    /// What is wrong, in words: a predecessor missing, or content or order altered.
    pub problem: &'static str,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "audit: {} event {} (id {}): {}",
            self.aggregate_id, self.sequence, self.event_id, self.problem
        )
    }
}

/// Every break in every chain, in product and sequence order. One pass over the table: each
/// row's hash is recomputed from its stored predecessor's, so a change is named where it is.
pub async fn verify_chains(pool: &PgPool) -> sqlx::Result<Vec<Break>> {
    let rows: Vec<(String, i64, String, bool, Option<i64>)> = sqlx::query_as(
        "SELECT aggregate_id, sequence, event_id::text, \
                hash = catalog_event_hash(lag(hash) OVER w, aggregate_type, aggregate_id, sequence, \
                    event_type, event_version, payload, metadata, event_id, recorded_at) AS intact, \
                sequence - coalesce(lag(sequence) OVER w, 0) AS step \
         FROM events \
         WINDOW w AS (PARTITION BY aggregate_type, aggregate_id ORDER BY sequence) \
         ORDER BY aggregate_type, aggregate_id, sequence",
    )
    .fetch_all(pool)
    .await?;
    let mut breaks = Vec::new();
    for (aggregate_id, sequence, event_id, intact, step) in rows {
        let problem = if step != Some(1) {
            Some("the event before it is missing (deleted or renumbered)")
        } else if !intact {
            Some("its content or its place in the chain was altered")
        } else {
            None
        };
        if let Some(problem) = problem {
            breaks.push(Break {
                aggregate_id,
                sequence,
                event_id,
                problem,
            });
        }
    }
    Ok(breaks)
}

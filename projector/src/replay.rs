//! Streaming every product's events out of the event store, folded product by product, for
//! rebuild and verify. Events come through a server-side cursor in (product, sequence) order,
//! so memory holds one batch and one product at a time whatever the store's size.

use sqlx::PgConnection;

use crate::error::ApplyError;
use crate::postgres::{fold, Folded, StoredEvent};

const FETCH: usize = 10_000;

/// Calls `emit` with each product's final state, in id order. `on_events` is told how many
/// events each fetch brought (for progress). Must run inside a transaction (the cursor's home).
pub async fn each_product<E, P>(
    conn: &mut PgConnection,
    mut emit: E,
    mut on_events: P,
) -> Result<u64, ApplyError>
where
    E: AsyncFnMut(&mut PgConnection, Folded) -> Result<(), ApplyError>,
    P: FnMut(u64),
{
    sqlx::query(
        "DECLARE replay_events NO SCROLL CURSOR FOR \
         SELECT aggregate_id, sequence, payload, recorded_at FROM events \
         WHERE aggregate_type = 'Product' ORDER BY aggregate_id, sequence",
    )
    .execute(&mut *conn)
    .await?;
    let mut total = 0u64;
    let mut current: Vec<StoredEvent> = Vec::new();
    loop {
        let rows: Vec<StoredEvent> = sqlx::query_as(&format!("FETCH {FETCH} FROM replay_events"))
            .fetch_all(&mut *conn)
            .await?;
        if rows.is_empty() {
            break;
        }
        total += rows.len() as u64;
        on_events(rows.len() as u64);
        for row in rows {
            if current
                .first()
                .is_some_and(|c| c.aggregate_id != row.aggregate_id)
            {
                let events = std::mem::take(&mut current);
                if let Some(folded) = fold(&events[0].aggregate_id, None, &events)? {
                    emit(conn, folded).await?;
                }
            }
            current.push(row);
        }
    }
    if let Some(first) = current.first() {
        let id = first.aggregate_id.clone();
        if let Some(folded) = fold(&id, None, &current)? {
            emit(conn, folded).await?;
        }
    }
    sqlx::query("CLOSE replay_events")
        .execute(&mut *conn)
        .await?;
    Ok(total)
}

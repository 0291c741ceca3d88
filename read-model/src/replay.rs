//! Streaming every product's events out of the event store, folded product by product, for
//! rebuild and verify. Events come through a server-side cursor in (product, sequence) order,
//! so memory holds one batch and one product at a time whatever the store's size.

use catalog_domain::Schema;
use sqlx::PgConnection;

use crate::error::ApplyError;
use catalog_store::log::{ReplayCursor, StoredEvent};

use crate::postgres::{fold, Folded};

const FETCH: usize = 10_000;

/// Calls `emit` with each product's final state, in id order, events read through `schema`. `on_events` is told how many
/// events each fetch brought (for progress). `source` must be in a transaction (the cursor's
/// home). The next fetch is read while `emit` works on the last one, so a caller writing
/// elsewhere (a rebuild) keeps both the reading and the writing server busy.
pub async fn each_product<E, P>(
    source: &mut PgConnection,
    schema: &Schema,
    mut emit: E,
    mut on_events: P,
) -> Result<u64, ApplyError>
where
    E: AsyncFnMut(Folded) -> Result<(), ApplyError>,
    P: FnMut(u64),
{
    let cursor = ReplayCursor::open(&mut *source).await?;
    let (fetched, mut arrived) = tokio::sync::mpsc::channel::<Vec<StoredEvent>>(1);
    let reader = &mut *source;
    let batches = &cursor;
    // Moves the sender in, so that its end closes the channel.
    let read = async move {
        loop {
            let rows = batches.next(&mut *reader, FETCH).await?;
            // A closed channel means the folding side failed; its error is the one reported.
            if rows.is_empty() || fetched.send(rows).await.is_err() {
                return Ok::<_, ApplyError>(());
            }
        }
    };
    let fold_all = async {
        let mut total = 0u64;
        let mut current: Vec<StoredEvent> = Vec::new();
        while let Some(rows) = arrived.recv().await {
            total += rows.len() as u64;
            on_events(rows.len() as u64);
            for row in rows {
                if current
                    .first()
                    .is_some_and(|c| c.aggregate_id != row.aggregate_id)
                {
                    let events = std::mem::take(&mut current);
                    if let Some(folded) = fold(&events[0].aggregate_id, None, &events, schema)? {
                        emit(folded).await?;
                    }
                }
                current.push(row);
            }
        }
        if let Some(first) = current.first() {
            let id = first.aggregate_id.clone();
            if let Some(folded) = fold(&id, None, &current, schema)? {
                emit(folded).await?;
            }
        }
        Ok(total)
    };
    let ((), total) = futures::future::try_join(read, fold_all).await?;
    cursor.close(&mut *source).await?;
    Ok(total)
}

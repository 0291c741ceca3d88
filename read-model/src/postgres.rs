//! The PostgreSQL read model: one `product_view` row per product, plus its image rows.

use std::collections::{BTreeMap, HashMap};

use catalog_domain::{Product, ProductView, Schema, Wanted};
use cqrs_es::Aggregate;

use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use catalog_store::log::{read_events, StoredEvent};

use crate::error::ApplyError;

/// A product folded up to some version: the state the next event applies to, and its view.
#[derive(Debug, Clone)]
pub struct Folded {
    /// The aggregate's state, stored beside the view so the next event applies without a
    /// replay.
    pub state: Product,
    /// What readers are served; its `version` is the sequence of the last event folded in.
    pub view: ProductView,
}

/// Folds `events` (consecutive, starting right after `base`'s version) onto `base`, each read
/// through `schema` (older shapes upcast); the view's texts in the default locale.
pub fn fold(
    id: &str,
    base: Option<Folded>,
    events: &[StoredEvent],
    schema: &Schema,
) -> Result<Option<Folded>, ApplyError> {
    let Some(last) = events.last() else {
        return Ok(base);
    };
    let (mut state, created_at) = match base {
        Some(folded) => (folded.state, folded.view.created_at),
        None => (Product::default(), events[0].recorded_at),
    };
    for event in events {
        let event = event.decode(schema).map_err(|e| {
            ApplyError::Permanent(anyhow::anyhow!("undecodable event payload: {e}"))
        })?;
        state.apply(event);
    }
    let view = ProductView::of(
        id,
        &state,
        last.sequence as u64,
        created_at,
        last.recorded_at,
        &Wanted::default_only(schema.default_locale.clone()),
    )
    .ok_or_else(|| {
        ApplyError::Permanent(anyhow::anyhow!(
            "the event stream of {id} does not start with ProductCreated"
        ))
    })?;
    Ok(Some(Folded { state, view }))
}

/// What applying one event did.
pub enum Applied {
    /// The event (and any missing before it) was applied; the view after it.
    Applied(ProductView),
    /// The event was already applied; the current view, if the product has one.
    Skipped(Option<ProductView>),
}

/// The PostgreSQL read model's writer: applies events to `product_view` and its image rows.
pub struct PgReadModel {
    /// The read model's database, which must also hold the event store: gaps are healed from
    /// it.
    pub pool: PgPool,
    /// Reads stored events of every shape; the default locale views are rendered in.
    pub schema: Schema,
}

impl PgReadModel {
    /// The read model in `pool`'s database.
    pub fn new(pool: PgPool, schema: Schema) -> Self {
        Self { pool, schema }
    }

    /// Applies one event of its product, idempotently: an event at or below the
    /// stored version is skipped; one past the next expected is preceded by the missing events,
    /// read from the event store. The version moves in the same transaction as the row.
    pub async fn apply(&self, event: StoredEvent) -> Result<Applied, ApplyError> {
        let (applied, _) = self
            .apply_batch(vec![event])
            .await?
            .pop()
            .expect("one event is one product");
        Ok(applied)
    }

    /// Applies many events, of any products, in one transaction (one commit instead of one per
    /// event): each product's events in the order given, with the same rules as `apply`. All
    /// or nothing. Answers what happened to each product, in the order they first appear, with
    /// the number of its events the batch held.
    pub async fn apply_batch(
        &self,
        events: Vec<StoredEvent>,
    ) -> Result<Vec<(Applied, usize)>, ApplyError> {
        let mut products: Vec<(String, Vec<StoredEvent>)> = Vec::new();
        for event in events {
            match products
                .iter_mut()
                .find(|(id, _)| *id == event.aggregate_id)
            {
                Some((_, theirs)) => theirs.push(event),
                None => products.push((event.aggregate_id.clone(), vec![event])),
            }
        }
        let mut tx = self.pool.begin().await?;
        let ids: Vec<&str> = products.iter().map(|(id, _)| id.as_str()).collect();
        let mut current = load_for_update(&mut tx, &ids).await?;
        let mut outcomes = Vec::with_capacity(products.len());
        let mut writes = Vec::with_capacity(products.len());
        for (id, events) in products {
            let count = events.len();
            let base = current.remove(&id);
            let (applied, folded) = apply_in(&mut tx, &id, base, events, &self.schema).await?;
            outcomes.push((applied, count));
            writes.extend(folded);
        }
        write_views(&mut tx, &writes).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// The stored view of product `id`, if the read model has it.
    pub async fn get(&self, id: &str) -> sqlx::Result<Option<ProductView>> {
        view(&self.pool, id).await
    }
}

/// How far the read model trails the event store: the products whose view is behind one of
/// their events past `after` (a position), and when the oldest such event was recorded.
pub async fn behind_since(
    pool: &PgPool,
    after: i64,
) -> sqlx::Result<(i64, Option<chrono::DateTime<chrono::Utc>>)> {
    sqlx::query_as(
        "SELECT count(DISTINCT e.aggregate_id), min(e.recorded_at) FROM events e \
           LEFT JOIN product_view v ON v.id = e.aggregate_id \
           WHERE e.position > $1 AND e.aggregate_type = 'Product' \
             AND (v.version IS NULL OR v.version < e.sequence)",
    )
    .bind(after)
    .fetch_one(pool)
    .await
}

/// Products whose view is not at their last event's version, over the whole store: a full
/// scan, for tests and checks that wait for the read model to catch up.
pub const PRODUCTS_BEHIND: &str = "SELECT count(*) FROM (SELECT aggregate_id, max(sequence) AS v \
     FROM events WHERE aggregate_type = 'Product' GROUP BY aggregate_id) e \
     LEFT JOIN product_view p ON p.id = e.aggregate_id \
     WHERE p.version IS DISTINCT FROM e.v";

/// Images attached but not yet rendered.
pub async fn images_processing(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM product_image_view WHERE status = 'processing'")
        .fetch_one(pool)
        .await
}

/// Empties both tables, and the search vocabulary, for a rebuild, inside `tx`, which holds them locked against the live
/// consumer until it commits; readers keep reading the old rows until then.
pub async fn clear_for_rebuild(tx: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("LOCK TABLE product_view, product_image_view IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    // The search vocabulary only grows while the projector runs; a rebuild starts it afresh
    // from the views it writes. Generations before 3 have none.
    sqlx::query(
        "DO $$ BEGIN \
           IF to_regclass('search_words') IS NOT NULL THEN DELETE FROM search_words; END IF; \
         END $$",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM product_image_view")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM product_view")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Words of the views' search text that the search vocabulary lacks, so that no mistyped
/// query could be widened to them; at most `limit`, and none for a generation without a
/// vocabulary (before 3). `projector verify` reports them.
pub async fn vocabulary_gaps(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<String>> {
    let has_vocabulary: bool = sqlx::query_scalar("SELECT to_regclass('search_words') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    if !has_vocabulary {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "SELECT v.w FROM (SELECT DISTINCT w FROM product_view, \
                          unnest(tsvector_to_array(search)) w \
                          WHERE catalog_search_word(w)) v \
         WHERE NOT EXISTS (SELECT 1 FROM search_words s WHERE s.word = v.w) \
         ORDER BY v.w LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Every stored view, by product id.
pub async fn all_views(conn: &mut PgConnection) -> sqlx::Result<BTreeMap<String, ProductView>> {
    let stored: Vec<(String, Json<ProductView>)> =
        sqlx::query_as("SELECT id, doc FROM product_view")
            .fetch_all(conn)
            .await?;
    Ok(stored.into_iter().map(|(id, doc)| (id, doc.0)).collect())
}

/// Up to `limit` stored views with ids after `after`, in id order: a page of a full walk.
pub async fn views_after(pool: &PgPool, after: &str, limit: i64) -> sqlx::Result<Vec<ProductView>> {
    let page: Vec<Json<ProductView>> =
        sqlx::query_scalar("SELECT doc FROM product_view WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
    Ok(page.into_iter().map(|doc| doc.0).collect())
}

/// The stored view of product `id`, if the read model has it.
pub async fn view(pool: &PgPool, id: &str) -> sqlx::Result<Option<ProductView>> {
    let doc: Option<Json<ProductView>> =
        sqlx::query_scalar("SELECT doc FROM product_view WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(doc.map(|d| d.0))
}

/// The stored view of product `id` through the live views, with the generation it was read
/// from, which the same statement sees (the switch changes both in one transaction): where a
/// write-back to Redis belongs.
pub async fn live_view(pool: &PgPool, id: &str) -> sqlx::Result<Option<(ProductView, i32)>> {
    let row: Option<(Json<ProductView>, i32)> = sqlx::query_as(
        "SELECT doc, (SELECT generation FROM public.read_model_generations \
                      WHERE state = 'live') FROM product_view WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(doc, generation)| (doc.0, generation)))
}

/// Folds `events` (one product's, in sequence order) onto its locked row, `current`. Answers
/// what happened and the view to write, if it moved forward; the caller writes and commits.
async fn apply_in(
    conn: &mut PgConnection,
    id: &str,
    current: Option<Folded>,
    events: Vec<StoredEvent>,
    schema: &Schema,
) -> Result<(Applied, Option<Folded>), ApplyError> {
    let version = current.as_ref().map_or(0, |f| f.view.version as i64);
    let last = events.last().map_or(0, |e| e.sequence);
    if last <= version {
        return Ok((Applied::Skipped(current.map(|f| f.view)), None));
    }
    let new: Vec<StoredEvent> = events
        .into_iter()
        .filter(|e| e.sequence > version)
        .collect();
    let contiguous = new
        .iter()
        .enumerate()
        .all(|(n, e)| e.sequence == version + 1 + n as i64);
    let events = if contiguous {
        new
    } else {
        let missing = read_events(conn, id, version, last).await?;
        tracing::info!(
            product_id = id,
            from = version + 1,
            to = last,
            "healing a gap from the event store"
        );
        missing
    };
    let expected: Vec<i64> = (version + 1..=last).collect();
    let got: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    if got != expected {
        return Err(ApplyError::Transient(anyhow::anyhow!(
            "the event store does not hold events {}..{last} of {id} yet",
            version + 1,
        )));
    }
    let folded = fold(id, current, &events, schema)?.expect("events were applied");
    Ok((Applied::Applied(folded.view.clone()), Some(folded)))
}

/// Locks and reads the rows of `ids` that exist, in one round trip for the whole batch. Rows
/// are locked in id order, so two batches holding the same products (a second replica during
/// a handover, a redelivery beside a retry) cannot deadlock over them.
async fn load_for_update(
    conn: &mut PgConnection,
    ids: &[&str],
) -> Result<HashMap<String, Folded>, ApplyError> {
    // Planned afresh each time (an unnamed statement): a plan cached while the table was small
    // scans it whole once it has grown, faster than the statistics follow; a bulk import grows
    // it by thousands of rows a second, and that scan cost 35 ms a batch (PERFORMANCE.md, row 8).
    let rows: Vec<(String, serde_json::Value, serde_json::Value)> = sqlx::query_as(
        "SELECT id, state, doc FROM product_view WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .persistent(false)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, state, view)| {
            // A row stored by an older Catalog whose state no longer reads is folded again
            // from the product's first event, as if it had none: the row is only a cache.
            let readable = serde_json::from_value::<Product>(state)
                .and_then(|state| Ok((state, serde_json::from_value::<ProductView>(view)?)));
            match readable {
                Ok((state, view)) => Some((id, Folded { state, view })),
                Err(err) => {
                    tracing::info!(product_id = %id, error = %err, "stored state unreadable; folding from the first event");
                    None
                }
            }
        })
        .collect())
}

/// Upserts views and replaces their image rows, many products per statement. A row is only
/// ever moved forward: an older version never overwrites a newer one.
pub async fn write_views(conn: &mut PgConnection, folded: &[Folded]) -> sqlx::Result<()> {
    if folded.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(folded.len());
    let mut skus = Vec::with_capacity(folded.len());
    let mut names = Vec::with_capacity(folded.len());
    let mut descriptions = Vec::with_capacity(folded.len());
    let mut categories = Vec::with_capacity(folded.len());
    let mut statuses = Vec::with_capacity(folded.len());
    let mut amounts = Vec::with_capacity(folded.len());
    let mut currencies = Vec::with_capacity(folded.len());
    let mut stocks = Vec::with_capacity(folded.len());
    let mut versions = Vec::with_capacity(folded.len());
    let mut created = Vec::with_capacity(folded.len());
    let mut updated = Vec::with_capacity(folded.len());
    let mut states = Vec::with_capacity(folded.len());
    let mut docs = Vec::with_capacity(folded.len());
    for Folded { state, view } in folded {
        ids.push(view.id.clone());
        skus.push(view.sku.clone());
        names.push(view.name.clone());
        descriptions.push(view.description.clone());
        categories.push(view.category.clone());
        statuses.push(view.status.as_str().to_string());
        let price = view.base_price().expect("a product has its base price");
        amounts.push(price.amount);
        currencies.push(price.currency.clone());
        stocks.push(view.stock);
        versions.push(view.version as i64);
        created.push(view.created_at);
        updated.push(view.updated_at);
        // Serialized straight into the statement, not through a `serde_json::Value` tree.
        states.push(Json(state));
        docs.push(Json(view));
    }
    let written: Vec<(String,)> = sqlx::query_as(
        "INSERT INTO product_view (id, sku, name, description, category, status, price_amount, \
           price_currency, stock, version, created_at, updated_at, state, doc) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
           $6::text[], $7::bigint[], $8::text[], $9::bigint[], $10::bigint[], \
           $11::timestamptz[], $12::timestamptz[], $13::jsonb[], $14::jsonb[]) \
         ON CONFLICT (id) DO UPDATE SET sku = EXCLUDED.sku, name = EXCLUDED.name, \
           description = EXCLUDED.description, category = EXCLUDED.category, \
           status = EXCLUDED.status, price_amount = EXCLUDED.price_amount, \
           price_currency = EXCLUDED.price_currency, stock = EXCLUDED.stock, \
           version = EXCLUDED.version, created_at = EXCLUDED.created_at, \
           updated_at = EXCLUDED.updated_at, state = EXCLUDED.state, doc = EXCLUDED.doc \
         WHERE product_view.version < EXCLUDED.version \
         RETURNING id",
    )
    .bind(&ids)
    .bind(&skus)
    .bind(&names)
    .bind(&descriptions)
    .bind(&categories)
    .bind(&statuses)
    .bind(&amounts)
    .bind(&currencies)
    .bind(&stocks)
    .bind(&versions)
    .bind(&created)
    .bind(&updated)
    .bind(&states)
    .bind(&docs)
    .fetch_all(&mut *conn)
    .await?;
    // Image rows follow only the rows that moved forward.
    let written: std::collections::HashSet<String> =
        written.into_iter().map(|(id,): (String,)| id).collect();

    let mut product_ids = Vec::new();
    let mut image_ids = Vec::new();
    let mut ordinals = Vec::new();
    let mut image_statuses = Vec::new();
    let mut failures = Vec::new();
    let mut widths = Vec::new();
    let mut heights = Vec::new();
    let mut blurhashes = Vec::new();
    let mut renditions = Vec::new();
    for Folded { view, .. } in folded.iter().filter(|f| written.contains(&f.view.id)) {
        for (ordinal, image) in view.images.iter().enumerate() {
            product_ids.push(view.id.clone());
            image_ids.push(image.id.clone());
            ordinals.push(ordinal as i32);
            image_statuses.push(image.status.as_str().to_string());
            failures.push(image.failure.clone());
            widths.push(image.width.map(|w| w as i32));
            heights.push(image.height.map(|h| h as i32));
            blurhashes.push(image.blurhash.clone());
            renditions.push(Json(&image.renditions));
        }
    }
    let written: Vec<String> = written.into_iter().collect();
    sqlx::query("DELETE FROM product_image_view WHERE product_id = ANY($1)")
        .bind(&written)
        .execute(&mut *conn)
        .await?;
    if !product_ids.is_empty() {
        sqlx::query(
            "INSERT INTO product_image_view (product_id, image_id, ordinal, status, failure, \
               width, height, blurhash, renditions) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], \
               $6::int[], $7::int[], $8::text[], $9::jsonb[])",
        )
        .bind(&product_ids)
        .bind(&image_ids)
        .bind(&ordinals)
        .bind(&image_statuses)
        .bind(&failures)
        .bind(&widths)
        .bind(&heights)
        .bind(&blurhashes)
        .bind(&renditions)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

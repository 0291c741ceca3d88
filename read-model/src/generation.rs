//! Read-model generations: how the read models change shape without downtime.
//!
//! A view's shape is fixed per generation. When a release changes it (Catalog 2 added `type`,
//! `locale` and `translations` in generation 2, `variants` in generation 3), the release's
//! projector builds its generation beside the one query-api reads: PostgreSQL tables in a schema of their own (`read_model_<n>`; v1's
//! generation 1 is in `public`), Redis documents under a prefix of their own
//! (`<ns>:g<n>:product:{id}`), fed by a broker queue of their own (see
//! `catalog_store::broker::PROJECTOR`) so the previous release's projector keeps the old
//! generation current meanwhile. Once built and caught up, the generation goes live in one
//! transaction: the views of schema `read_model`, which query-api reads, are pointed at its
//! tables, and query-api's Redis reads follow on the notification. The older generation is
//! dropped by `projector retire` once no process of the previous release reads it.
//!
//! The states of a generation, in `read_model_generations`: `building` (declared by a
//! migration), `built` (replayed from the event store), `live` (one at a time), `retiring`
//! (replaced, still there for the previous release), `retired` (dropped).

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgExecutor, PgPool};

/// The generation this release writes: the shape of `ProductView` it produces.
pub const GENERATION: i32 = 3;

/// The schema of the views query-api reads, pointed at the live generation's tables.
pub const LIVE_SCHEMA: &str = "read_model";

/// Notified (with the generation) when a generation goes live.
pub const SWITCHED: &str = "catalog_read_model";

/// The PostgreSQL schema that holds `generation`'s tables.
pub fn schema(generation: i32) -> String {
    if generation == 1 {
        "public".to_string()
    } else {
        format!("read_model_{generation}")
    }
}

/// The prefix of `generation`'s Redis documents in `namespace`.
pub fn redis_prefix(namespace: &str, generation: i32) -> String {
    if generation == 1 {
        namespace.to_string()
    } else {
        format!("{namespace}:g{generation}")
    }
}

/// Connections to the same database as `pool` whose unqualified table names resolve in
/// `schema` first, then `public` (the event store): how one release's SQL reaches its own
/// generation's tables, or the live views, without naming them.
pub fn pool_in(pool: &PgPool, schema: &str) -> PgPool {
    let options: PgConnectOptions = (*pool.connect_options())
        .clone()
        .options([("search_path", format!("{schema},public"))]);
    PgPoolOptions::new()
        .max_connections(pool.options().get_max_connections())
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_lazy_with(options)
}

/// The state of `generation`, `None` when no migration declared it; on a pool, or inside a
/// transaction that decides on it.
pub async fn state<'c>(
    executor: impl PgExecutor<'c>,
    generation: i32,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT state FROM public.read_model_generations WHERE generation = $1")
        .bind(generation)
        .fetch_optional(executor)
        .await
}

/// Moves the generations `filter` selects (a condition on `generation`, bound as `$1`) to
/// `state`.
async fn set_state(
    conn: &mut PgConnection,
    filter: &str,
    generation: i32,
    state: &str,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "UPDATE public.read_model_generations SET state = $2, changed_at = now() WHERE {filter}"
    ))
    .bind(generation)
    .bind(state)
    .execute(conn)
    .await
    .map(drop)
}

/// The event position a built `generation` was replayed through.
pub async fn built_through(pool: &PgPool, generation: i32) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT built_through FROM public.read_model_generations WHERE generation = $1",
    )
    .bind(generation)
    .fetch_one(pool)
    .await
}

/// The generation query-api reads now.
pub async fn live(pool: &PgPool) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar("SELECT generation FROM public.read_model_generations WHERE state = 'live'")
        .fetch_optional(pool)
        .await
}

/// Marks `generation` built: replayed through event position `through` into its tables,
/// which its projector keeps current.
pub async fn mark_built(
    conn: &mut PgConnection,
    generation: i32,
    through: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE public.read_model_generations \
         SET state = 'built', built_through = $2, changed_at = now() \
         WHERE generation = $1 AND state = 'building'",
    )
    .bind(generation)
    .bind(through)
    .execute(conn)
    .await
    .map(drop)
}

/// Makes a built `generation` the one query-api reads, in one transaction: the live views
/// point at its tables and the previous live generation is retiring. Every reader sees the
/// old generation or the new one, never a mix. False when it was not built (already live, or
/// not yet built).
pub async fn go_live(pool: &PgPool, generation: i32) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    // One switch at a time, however many projectors try.
    sqlx::query("LOCK TABLE public.read_model_generations IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let built = state(&mut *tx, generation).await?.as_deref() == Some("built");
    if !built {
        return Ok(false);
    }
    // The live generation, and an older one built or building that never went live (its
    // release was skipped), are replaced.
    set_state(
        &mut tx,
        "generation <> $1 AND (state = 'live' OR (generation < $1 AND state IN ('building', 'built')))",
        generation,
        "retiring",
    )
    .await?;
    set_state(&mut tx, "generation = $1", generation, "live").await?;
    let tables = schema(generation);
    // From generation 3 on, the search vocabulary goes live with the views.
    let search = if generation >= 3 {
        &["search_words"][..]
    } else {
        &[]
    };
    for table in ["product_view", "product_image_view"].iter().chain(search) {
        // The generations share the columns the views expose; one that changes them replaces
        // the view (DROP and CREATE) in this same transaction instead.
        sqlx::query(&format!(
            "CREATE OR REPLACE VIEW {LIVE_SCHEMA}.{table} AS SELECT * FROM {tables}.{table}"
        ))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("SELECT pg_notify($1, $2::text)")
        .bind(SWITCHED)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// The generations replaced by a newer live one and not yet dropped.
pub async fn retiring(pool: &PgPool) -> sqlx::Result<Vec<i32>> {
    sqlx::query_scalar(
        "SELECT generation FROM public.read_model_generations WHERE state = 'retiring' \
         ORDER BY generation",
    )
    .fetch_all(pool)
    .await
}

/// Drops a retiring generation's tables and marks it retired. The live views no longer read
/// them, so PostgreSQL would refuse the drop if they did.
pub async fn drop_tables(pool: &PgPool, generation: i32) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    if state(&mut *tx, generation).await?.as_deref() != Some("retiring") {
        return Ok(());
    }
    let tables = schema(generation);
    if generation == 1 {
        sqlx::query("DROP TABLE IF EXISTS public.product_image_view, public.product_view")
            .execute(&mut *tx)
            .await?;
    } else {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {tables} CASCADE"))
            .execute(&mut *tx)
            .await?;
    }
    set_state(&mut tx, "generation = $1", generation, "retired").await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_one_is_where_v1_kept_it() {
        assert_eq!(schema(1), "public");
        assert_eq!(redis_prefix("catalog", 1), "catalog");
        assert_eq!(schema(2), "read_model_2");
        assert_eq!(redis_prefix("catalog", 2), "catalog:g2");
    }

    #[test]
    fn the_relay_feeds_this_generations_projector() {
        use catalog_store::broker::{projector_of, PROJECTOR};
        assert_eq!(PROJECTOR.queues, projector_of(GENERATION).queues);
        assert_ne!(PROJECTOR.queues, projector_of(1).queues);
    }
}

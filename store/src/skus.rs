//! The SKU registry: one live variant per SKU across every product, enforced by a unique table
//! beside the event store (see migrations/…_sku_reservations.sql for the protocol). A product
//! holds one reservation per variant: its master's, taken by the create, and one per variant
//! added.

use sqlx::PgPool;

/// A reservation younger than this whose product holds no variant with its SKU belongs to a
/// create or an added variant still in flight; older, its writer died between reserving and
/// storing (or the release after a removal failed), and it can be reclaimed.
const IN_FLIGHT_GRACE_SECS: f64 = 30.0;

/// The registry of reserved SKUs: a create or a new variant reserves its SKU before storing its
/// event and releases it if the command is refused; removing a variant releases its SKU, and
/// archiving a product every SKU it holds.
pub struct SkuRegistry {
    pool: PgPool,
}

impl SkuRegistry {
    /// The registry in `pool`'s database (table `sku_reservations`).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Reserves `sku` for `product_id`: false if a variant of a live product holds it (this
    /// product's own included).
    #[tracing::instrument(skip(self))]
    pub async fn reserve(&self, sku: &str, product_id: &str) -> sqlx::Result<bool> {
        // Two rounds at most: the second follows the reclaim of a dead reservation.
        for _ in 0..2 {
            let inserted = sqlx::query(
                "INSERT INTO sku_reservations (sku, product_id) VALUES ($1, $2) \
                 ON CONFLICT (sku) DO NOTHING",
            )
            .bind(sku)
            .bind(product_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(true);
            }
            if !self.reclaim_if_dead(sku).await? {
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// Deletes the reservation of `sku` if its holder is archived, or, past the grace period,
    /// holds no variant with that SKU: never created, or removed since. True if the SKU is
    /// free to reserve again.
    async fn reclaim_if_dead(&self, sku: &str) -> sqlx::Result<bool> {
        // A variant holds the SKU from the event that stored it (the creation, for the
        // master) until a later `VariantRemoved` names it. Payloads are tagged by event type.
        let deleted = sqlx::query(
            "DELETE FROM sku_reservations r \
             WHERE r.sku = $1 AND ( \
               EXISTS (SELECT 1 FROM events e WHERE e.aggregate_type = 'Product' \
                       AND e.aggregate_id = r.product_id AND e.event_type = 'ProductArchived') \
               OR (r.reserved_at < now() - make_interval(secs => $2) AND NOT EXISTS ( \
                   SELECT 1 FROM events held WHERE held.aggregate_type = 'Product' \
                     AND held.aggregate_id = r.product_id \
                     AND held.event_type IN ('ProductCreated', 'VariantAdded') \
                     AND held.payload -> held.event_type ->> 'sku' = r.sku \
                     AND NOT EXISTS ( \
                       SELECT 1 FROM events gone WHERE gone.aggregate_type = 'Product' \
                         AND gone.aggregate_id = r.product_id \
                         AND gone.event_type = 'VariantRemoved' \
                         AND gone.sequence > held.sequence \
                         AND gone.payload -> 'VariantRemoved' ->> 'sku' = r.sku))))",
        )
        .bind(sku)
        .bind(IN_FLIGHT_GRACE_SECS)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if deleted > 0 {
            tracing::info!(
                sku,
                "reclaimed the reservation of an archived product or of a variant it does not hold"
            );
        }
        Ok(deleted > 0)
    }

    /// Releases `product_id`'s hold on `sku`: after a refused create or new variant
    /// (compensation), or a variant's removal. A failure is logged, not returned: the next
    /// reservation of the SKU reclaims it anyway.
    pub async fn release(&self, sku: &str, product_id: &str) {
        self.release_many(&[sku], product_id).await;
    }

    /// Releases `product_id`'s hold on each of `skus`, in one statement: what a refused
    /// import line reserved. Failures are logged, as [`Self::release`]'s are.
    pub async fn release_many<S: AsRef<str>>(&self, skus: &[S], product_id: &str) {
        if skus.is_empty() {
            return;
        }
        let skus: Vec<&str> = skus.iter().map(AsRef::as_ref).collect();
        let result =
            sqlx::query("DELETE FROM sku_reservations WHERE sku = ANY($1) AND product_id = $2")
                .bind(&skus)
                .bind(product_id)
                .execute(&self.pool)
                .await;
        if let Err(err) = result {
            tracing::warn!(?skus, product_id, error = %err, "could not release SKU reservations; they will be reclaimed lazily");
        }
    }

    /// The product holding `sku`, if one does: how an import finds the product a line is
    /// for. The holder may be archived, or a create still in flight; the caller loads it.
    pub async fn holder(&self, sku: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT product_id FROM sku_reservations WHERE sku = $1")
            .bind(sku)
            .fetch_optional(&self.pool)
            .await
    }

    /// The holders of `skus`, those that have one: an import's chunk looks its lines up at
    /// once.
    pub async fn holders(
        &self,
        skus: &[String],
    ) -> sqlx::Result<std::collections::HashMap<String, String>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT sku, product_id FROM sku_reservations WHERE sku = ANY($1)")
                .bind(skus)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// Reserves each `(sku, product_id)` that no one holds, in one statement, and answers the
    /// ones taken. Nothing held is reclaimed here: a SKU someone holds, dead or alive, is left
    /// to [`Self::reserve`], one by one.
    pub async fn reserve_free(
        &self,
        wanted: &[(String, String)],
    ) -> sqlx::Result<std::collections::HashSet<(String, String)>> {
        let (skus, products): (Vec<&str>, Vec<&str>) = wanted
            .iter()
            .map(|(sku, product)| (sku.as_str(), product.as_str()))
            .unzip();
        let rows: Vec<(String, String)> = sqlx::query_as(
            "INSERT INTO sku_reservations (sku, product_id) \
             SELECT * FROM unnest($1::text[], $2::text[]) \
             ON CONFLICT (sku) DO NOTHING RETURNING sku, product_id",
        )
        .bind(&skus)
        .bind(&products)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Releases every SKU `product_id` holds: after its archive. A failure is logged, not
    /// returned: the next reservation of each SKU reclaims it anyway.
    pub async fn release_all(&self, product_id: &str) {
        let result = sqlx::query("DELETE FROM sku_reservations WHERE product_id = $1")
            .bind(product_id)
            .execute(&self.pool)
            .await;
        if let Err(err) = result {
            tracing::warn!(product_id, error = %err, "could not release the SKU reservations of an archived product; they will be reclaimed lazily");
        }
    }
}

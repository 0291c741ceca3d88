//! The SKU registry: one live product per SKU, enforced by a unique table beside the event
//! store (see migrations/…_sku_reservations.sql for the protocol).

use sqlx::PgPool;

/// A reservation younger than this whose product has no events yet belongs to a create still in
/// flight; older, its creator died between reserving and storing, and it can be reclaimed.
const IN_FLIGHT_GRACE_SECS: f64 = 30.0;

/// The registry of reserved SKUs: a create reserves its SKU before storing its event and
/// releases it if the create fails; an archive releases it for reuse.
pub struct SkuRegistry {
    pool: PgPool,
}

impl SkuRegistry {
    /// The registry in `pool`'s database (table `sku_reservations`).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Reserves `sku` for `product_id`: false if a live product holds it.
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

    /// Deletes the reservation of `sku` if its holder is archived, or never got created and is
    /// past its grace period. True if the SKU is free to reserve again.
    async fn reclaim_if_dead(&self, sku: &str) -> sqlx::Result<bool> {
        let deleted = sqlx::query(
            "DELETE FROM sku_reservations r \
             WHERE r.sku = $1 AND ( \
               EXISTS (SELECT 1 FROM events e WHERE e.aggregate_type = 'Product' \
                       AND e.aggregate_id = r.product_id AND e.event_type = 'ProductArchived') \
               OR (NOT EXISTS (SELECT 1 FROM events e WHERE e.aggregate_type = 'Product' \
                               AND e.aggregate_id = r.product_id) \
                   AND r.reserved_at < now() - make_interval(secs => $2)))",
        )
        .bind(sku)
        .bind(IN_FLIGHT_GRACE_SECS)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if deleted > 0 {
            tracing::info!(
                sku,
                "reclaimed the reservation of an archived or never-created product"
            );
        }
        Ok(deleted > 0)
    }

    /// Releases `product_id`'s hold on `sku`: after a failed create (compensation) or an archive.
    /// A failure is logged, not returned: the next create of the SKU reclaims it anyway.
    pub async fn release(&self, sku: &str, product_id: &str) {
        let result = sqlx::query("DELETE FROM sku_reservations WHERE sku = $1 AND product_id = $2")
            .bind(sku)
            .bind(product_id)
            .execute(&self.pool)
            .await;
        if let Err(err) = result {
            tracing::warn!(sku, product_id, error = %err, "could not release SKU reservation; it will be reclaimed lazily");
        }
    }
}

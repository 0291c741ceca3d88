//! What the write path's tests share: commands, and running them.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;

use catalog_domain::{Attributes, CreateProduct, Money, ProductCommand, Schema, MASTER};
use catalog_store::event_store::ProductStore;
use catalog_store::repository::StoreError;
use sqlx::PgPool;

pub fn metadata() -> HashMap<String, String> {
    HashMap::from([("actor".to_string(), "cache-test".to_string())])
}

pub fn create(sku: &str, stock: i64) -> ProductCommand {
    ProductCommand::Create(CreateProduct {
        sku: sku.into(),
        product_type: None,
        name: "Mug".into(),
        description: None,
        category: None,
        attributes: Attributes::new(),
        price: Money::new(900, "EUR"),
        stock,
        variant_attributes: Attributes::new(),
    })
}

pub fn adjust(delta: i64) -> ProductCommand {
    ProductCommand::AdjustStock {
        variant_id: MASTER.into(),
        delta,
        reason: "count".into(),
    }
}

/// Runs `command` through `store`; the version after it.
pub async fn run(
    store: &ProductStore,
    id: &str,
    command: ProductCommand,
    expected: Option<u64>,
) -> Result<u64, StoreError> {
    store
        .execute(id, command, expected, &metadata())
        .await
        .map(|committed| committed.version)
}

pub async fn stored_stock(pool: &PgPool, id: &str) -> i64 {
    let (product, _) = ProductStore::new(pool.clone(), 50, Schema::default())
        .load(id)
        .await
        .unwrap();
    product.variants[0].stock
}

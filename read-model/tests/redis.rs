//! The Redis read model against a real Redis (`REDIS_URL`, else the local one), each test in a
//! key prefix of its own.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use catalog_domain::{Money, ProductStatus, ProductView};
use catalog_read_model::redis::RedisReadModel;
use catalog_support::config::RedisSettings;
use chrono::Utc;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Deletes its namespace's documents when dropped, even while a failed test unwinds: on a
/// thread and a runtime of its own, since drop cannot wait on the test's.
struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let namespace = self.0.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async {
                if let Ok(redis) =
                    RedisReadModel::connect(&RedisSettings::direct(redis_url()), &namespace).await
                {
                    let _ = redis.delete_all().await;
                }
            });
        })
        .join();
    }
}

async fn model() -> (RedisReadModel, Namespace) {
    // Process id and clock together: tests of concurrent runs never share a key.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_nanos();
    let namespace = format!("t{}x{nanos}", std::process::id());
    let redis = RedisReadModel::connect(&RedisSettings::direct(redis_url()), &namespace)
        .await
        .expect("Redis answers");
    (redis, Namespace(namespace))
}

fn view(id: &str, version: u64, stock: i64) -> ProductView {
    let now = Utc::now();
    ProductView {
        id: id.to_string(),
        sku: "GUARD-1".into(),
        name: format!("at version {version}"),
        description: None,
        price: Some(Money {
            amount: 500,
            currency: "EUR".into(),
        }),
        stock,
        category: None,
        attributes: BTreeMap::new(),
        status: ProductStatus::Draft,
        images: Vec::new(),
        product_type: None,
        locale: "en".into(),
        translations: Default::default(),
        variants: Vec::new(),
        version,
        created_at: now,
        updated_at: now,
    }
}

#[tokio::test]
async fn an_older_version_never_replaces_a_newer_document() {
    let (redis, _namespace) = model().await;
    let id = "0190a000-0000-7000-8000-000000000001";
    let newer = view(id, 5, 50);
    let older = view(id, 4, 40);

    assert!(redis.put(&newer).await.unwrap(), "the first write lands");
    // A projector redelivered an earlier event, or a slower one raced a faster one.
    assert!(
        !redis.put(&older).await.unwrap(),
        "a write of version 4 over version 5 is refused"
    );
    assert_eq!(redis.get(id).await.unwrap(), Some(newer.clone()));
    // The batched path (refill, rebuild) runs the same script.
    redis.put_many(&[older]).await.unwrap();
    assert_eq!(redis.get(id).await.unwrap(), Some(newer.clone()));

    // The guard only holds back the past: the next version goes through.
    let next = view(id, 6, 60);
    assert!(redis.put(&next).await.unwrap());
    assert_eq!(redis.get(id).await.unwrap(), Some(next));
}

#[tokio::test]
async fn a_write_back_never_replaces_the_same_version() {
    let (redis, _namespace) = model().await;
    let id = "0190a000-0000-7000-8000-000000000002";
    let generation = redis.generation();
    let projected = view(id, 3, 30);
    assert!(redis.put(&projected).await.unwrap());
    // A view of the same version read from PostgreSQL (across a switch of generations, in
    // another shape) stays out; the projector's document stays.
    let mut loaded = view(id, 3, 30);
    loaded.locale = String::new();
    assert!(!redis.write_back(generation, &loaded).await.unwrap());
    assert_eq!(redis.get(id).await.unwrap(), Some(projected));
    // A newer one, or one Redis lacks, is written back.
    assert!(redis
        .write_back(generation, &view(id, 4, 40))
        .await
        .unwrap());
    let other = "0190a000-0000-7000-8000-000000000003";
    assert!(redis
        .write_back(generation, &view(other, 1, 10))
        .await
        .unwrap());
    assert_eq!(redis.get(other).await.unwrap().map(|v| v.version), Some(1));
}

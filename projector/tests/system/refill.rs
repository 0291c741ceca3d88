//! Redis keeps nothing on disk: when it comes back empty, the projector fills it again from
//! the PostgreSQL read model, including the products nobody touches afterwards.

use std::time::Duration;

use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn an_emptied_redis_is_refilled_by_the_projector(pool: PgPool) {
    // The read model's tables are this release's generation's.
    let pool = read_model_pool(&pool);
    let system = System::start(
        pool.clone(),
        &[Service::CommandApi, Service::Projector],
        &[],
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(create(&system, &format!("REFILL-{i}"), i).await);
    }
    caught_up(&system).await;
    for id in &ids {
        assert!(
            system.redis.get(id).await.unwrap().is_some(),
            "{id} is in Redis"
        );
    }

    // What a restart of Redis (or FLUSHALL) does to this namespace: every key is gone.
    let deleted = system.redis.delete_all().await.unwrap();
    assert_eq!(deleted, ids.len());
    for id in &ids[..3] {
        assert!(system.redis.get(id).await.unwrap().is_none());
    }

    // No command follows: only the projector's own check can bring the documents back.
    let refilled = eventually(Duration::from_secs(30), || async {
        let stored = system.redis.ids().await.ok()?;
        (stored.len() == ids.len()).then_some(())
    })
    .await;
    assert!(refilled.is_some(), "the projector refilled Redis");
    let mismatches =
        projector::verify::verify(&pool, &system.redis, &catalog_domain::Schema::default())
            .await
            .unwrap()
            .mismatches;
    assert_eq!(mismatches, Vec::<String>::new());
    let logged = system.logs(Service::Projector).iter().any(|line| {
        mentions(
            line,
            "message",
            "Redis lacked the read model (new, emptied or failed over); refilled it from the PostgreSQL read model",
        )
    });
    assert!(logged, "the refill is logged");
}

//! An upload that dies between storing its original and attaching the image leaves an intent
//! behind; the image worker deletes the original once the intent is older than any request,
//! and only if no event attached the image.

use std::path::Path;
use std::time::Duration;

use sqlx::PgPool;

use crate::helpers::*;

async fn intent(pool: &PgPool, image_id: &str, product_id: &str, age_secs: i64) {
    sqlx::query(
        "INSERT INTO upload_intents (image_id, product_id, created_at) \
         VALUES ($1, $2, now() - make_interval(secs => $3))",
    )
    .bind(image_id)
    .bind(product_id)
    .bind(age_secs as f64)
    .execute(pool)
    .await
    .unwrap();
}

async fn intents(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT image_id FROM upload_intents ORDER BY image_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Whether the image's directory in the blob store holds anything.
fn stored(blob_dir: &Path, image_id: &str) -> bool {
    std::fs::read_dir(blob_dir.join("images").join(image_id))
        .is_ok_and(|mut entries| entries.next().is_some())
}

/// An original as a dead upload leaves it.
fn left_behind(blob_dir: &Path, image_id: &str) {
    let dir = blob_dir.join("images").join(image_id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("original-0ff1ce.png"), png(8, 8)).unwrap();
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn originals_of_uploads_that_were_never_attached_are_swept(pool: PgPool) {
    let system = System::start(
        pool.clone(),
        &[Service::CommandApi, Service::ImageWorker],
        &[
            ("UPLOAD_SWEEP_EVERY_SECS", "1"),
            ("UPLOAD_ABANDONED_AFTER_SECS", "600"),
        ],
    )
    .await;
    let blob_dir = system.blob_dir();
    let product = create(&system, "SWEEP-1", 1).await;
    let attached = upload(&system, &product, png(64, 48), &[]).await;
    assert!(stored(&blob_dir, &attached));
    assert_eq!(
        intents(&pool).await,
        Vec::<String>::new(),
        "a finished upload settles its intent"
    );

    // As if the attached upload's answer had been lost: its intent outlived the request.
    intent(&pool, &attached, &product, 3600).await;
    // A request that died after storing its original.
    let orphan = uuid::Uuid::now_v7().to_string();
    left_behind(&blob_dir, &orphan);
    intent(&pool, &orphan, &product, 3600).await;
    // An upload that may still be running.
    let young = uuid::Uuid::now_v7().to_string();
    left_behind(&blob_dir, &young);
    intent(&pool, &young, &product, 0).await;

    let swept = eventually(Duration::from_secs(30), || async {
        (intents(&pool).await == vec![young.clone()]).then_some(())
    })
    .await;
    assert!(
        swept.is_some(),
        "the abandoned intents are swept: {:?}",
        intents(&pool).await
    );
    assert!(
        !stored(&blob_dir, &orphan),
        "the unattached original is deleted"
    );
    assert!(
        stored(&blob_dir, &attached),
        "an attached image keeps its blobs"
    );
    assert!(stored(&blob_dir, &young), "a young upload is left alone");
    let logged = system.logs(Service::ImageWorker).iter().any(|line| {
        mentions(line, "image_id", &orphan)
            && mentions(
                line,
                "message",
                "deleted the original of an upload that was never attached",
            )
    });
    assert!(logged, "the deletion is logged with the image's id");
}

//! The image pipeline end to end: uploads through command-api, renditions by the image worker,
//! image state in the read models, rendition bytes through query-api.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use catalog_read_model::error::ApplyError;
use catalog_renditions::Limits;
use catalog_store::broker::{ConsumerSpec, WireEvent};
use catalog_store::event_store::ProductStore;
use catalog_support::shutdown::Shutdown;
use projector::consumer::{Consumer, Handler, Placement, Stats};
use projector::images::ImageWorker;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::helpers::*;

#[path = "../../../renditions/tests/support/mod.rs"]
mod samples;

async fn upload(
    world: &World,
    id: &str,
    bytes: Vec<u8>,
    file_name: &str,
    content_type: &str,
) -> reqwest::Response {
    let part = Part::bytes(bytes)
        .file_name(file_name.to_string())
        .mime_str(content_type)
        .unwrap();
    world
        .client
        .post(format!("{}/products/{id}/images", world.base))
        .bearer_auth(&world.token)
        .header("x-correlation-id", "upload-corr-1")
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap()
}

/// Waits until every image of the product has left `processing`, and returns the product.
async fn settled(world: &World, id: &str) -> Value {
    eventually(Duration::from_secs(60), || async {
        let response = world.read(&format!("/products/{id}"), None).await;
        let view: Value = response.json().await.ok()?;
        let images = view["images"].as_array()?;
        (!images.is_empty() && images.iter().all(|i| i["status"] != "processing")).then_some(view)
    })
    .await
    .expect("every image left processing")
}

fn image<'a>(view: &'a Value, image_id: &str) -> &'a Value {
    view["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == image_id)
        .expect("the image is in the view")
}

async fn fetch(world: &World, path: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let response = world.read(path, None).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let headers = response.headers().clone();
    (headers, response.bytes().await.unwrap().to_vec())
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn uploaded_images_become_ready_with_every_rendition(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let id = world.create("IMG-E2E").await;

    // A 2000x1000 photo taken with the camera turned: EXIF orientation 6 (rotate 90°).
    let photo = samples::with_exif_orientation(&samples::jpeg(&samples::gradient(2000, 1000)), 6);
    let response = upload(&world, &id, photo, "photo.jpg", "image/jpeg").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["version"], 2);
    let photo_id = body["image_id"].as_str().unwrap().to_string();

    // A small PNG, named and typed wrongly on purpose: the bytes decide.
    let small = samples::png(&image::DynamicImage::ImageRgb8(samples::gradient(300, 200)));
    let response = upload(&world, &id, small, "small.gif", "application/octet-stream").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let small_id = response.json::<Value>().await.unwrap()["image_id"]
        .as_str()
        .unwrap()
        .to_string();

    let attached = world
        .read(&format!("/products/{id}?min_version=3"), None)
        .await;
    let attached: Value = attached.json().await.unwrap();
    for image in attached["images"].as_array().unwrap() {
        assert!(["processing", "ready"].contains(&image["status"].as_str().unwrap()));
    }

    let view = settled(&world, &id).await;
    let photo = image(&view, &photo_id);
    assert_eq!(photo["status"], "ready", "{photo}");
    assert_eq!(
        (photo["width"].as_u64(), photo["height"].as_u64()),
        (Some(1000), Some(2000)),
        "orientation applied"
    );
    assert!(photo["blurhash"].as_str().is_some_and(|b| !b.is_empty()));
    let expected = [
        ("thumb", 80, 160),
        ("small", 200, 400),
        ("medium", 400, 800),
        ("large", 800, 1600),
    ];
    for (name, width, height) in expected {
        let rendition = &photo["renditions"][name];
        assert_eq!(
            (rendition["width"].as_u64(), rendition["height"].as_u64()),
            (Some(width), Some(height)),
            "{name}"
        );
        let webp_url = rendition["url"].as_str().unwrap();
        assert_eq!(webp_url, format!("/images/{photo_id}/{name}.webp"));
        for (url, content_type) in [
            (webp_url.to_string(), "image/webp"),
            (webp_url.replace(".webp", ".jpg"), "image/jpeg"),
        ] {
            let (headers, bytes) = fetch(&world, &url).await;
            assert_eq!(headers["content-type"], content_type);
            assert_eq!(
                headers["cache-control"],
                "public, max-age=31536000, immutable"
            );
            assert!(headers.contains_key("etag"));
            let decoded = samples::decoded(&bytes);
            assert_eq!(
                (u64::from(decoded.width()), u64::from(decoded.height())),
                (width, height),
                "{url}"
            );
            assert!(!samples::contains(&bytes, b"Exif"), "{url} carries no EXIF");
        }
    }

    let small = image(&view, &small_id);
    assert_eq!(small["status"], "ready");
    assert_eq!(
        (small["width"].as_u64(), small["height"].as_u64()),
        (Some(300), Some(200))
    );
    assert_eq!(small["renditions"]["thumb"]["width"], 160);
    for name in ["small", "medium", "large"] {
        let r = &small["renditions"][name];
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(300), Some(200)),
            "{name} not upscaled"
        );
    }

    // The worker's commands are traced to the upload: caused by its event, in its correlation.
    let auditor = world.token_for("auditor", "catalog:audit");
    let history: Value = world
        .read(&format!("/products/{id}/history"), Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    let items = history["items"].as_array().unwrap();
    let attached_event = items
        .iter()
        .find(|i| i["type"] == "ImageAttached" && i["data"]["image_id"] == photo_id.as_str())
        .unwrap();
    let processed = items
        .iter()
        .find(|i| i["type"] == "ImageProcessed" && i["data"]["image_id"] == photo_id.as_str())
        .unwrap();
    assert_eq!(processed["actor"], "image-worker");
    assert_eq!(processed["causation_id"], attached_event["event_id"]);
    assert_eq!(processed["correlation_id"], "upload-corr-1");

    // Removing an image deletes its blobs once the event is stored.
    let removed = world
        .send(
            reqwest::Method::DELETE,
            &format!("/products/{id}/images/{small_id}"),
            None,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::OK);
    let removed_at = removed.json::<Value>().await.unwrap()["version"]
        .as_u64()
        .unwrap();
    let gone = eventually(Duration::from_secs(20), || async {
        world
            .blobs
            .list(&format!("images/{small_id}"))
            .await
            .ok()
            .filter(std::vec::Vec::is_empty)
    })
    .await;
    assert!(gone.is_some(), "the removed image's blobs are deleted");
    let missing = world
        .read(&format!("/images/{small_id}/thumb.webp"), None)
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // The blobs' cleaner and the projector consume the removal independently: the read models
    // may not hold it yet when the blobs are gone.
    world.wait_for_version(&id, removed_at).await;
    assert_eq!(world.verify().await, Vec::<String>::new());
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn hostile_uploads_are_refused_or_fail_without_harm(pool: PgPool) {
    let options = Options {
        command_api: vec![("UPLOAD_MAX_BYTES", "300000".to_string())],
        ..Options::everything()
    };
    let world = World::start(pool, options).await;
    let id = world.create("IMG-HOSTILE").await;

    let problem = |response: reqwest::Response, status: StatusCode| async move {
        assert_eq!(response.status(), status);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        response.json::<Value>().await.unwrap()
    };
    // A decompression bomb: a tiny PNG that declares 50000x50000 pixels.
    let bomb = samples::png(&image::DynamicImage::ImageRgb8(samples::gradient(1, 1)));
    let mut bomb = bomb;
    bomb[16..20].copy_from_slice(&50_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&50_000u32.to_be_bytes());
    // IHDR's CRC covers its type and data (bytes 12..29).
    let crc = crc32fast::hash(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let refused = problem(
        upload(&world, &id, bomb, "bomb.png", "image/png").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "file");

    problem(
        upload(&world, &id, Vec::new(), "empty.jpg", "image/jpeg").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    problem(
        upload(
            &world,
            &id,
            b"just some text, honestly".to_vec(),
            "photo.jpg",
            "image/jpeg",
        )
        .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    let big = samples::jpeg(&samples::gradient(16, 16))
        .into_iter()
        .chain(samples::noise(400_000, 7))
        .collect();
    problem(
        upload(&world, &id, big, "big.jpg", "image/jpeg").await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = $1")
        .bind(&id)
        .fetch_one(&world.pool)
        .await
        .unwrap();
    assert_eq!(events, 1, "refused uploads write nothing");

    // A truncated JPEG passes the header checks, then fails in the worker, which lives on.
    let whole = samples::jpeg(&samples::gradient(640, 480));
    let truncated = whole[..whole.len() / 2].to_vec();
    let response = upload(&world, &id, truncated, "cut.jpg", "image/jpeg").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let cut_id = response.json::<Value>().await.unwrap()["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    let view = settled(&world, &id).await;
    let cut = image(&view, &cut_id);
    assert_eq!(cut["status"], "failed");
    assert!(
        cut["failure"].as_str().is_some_and(|f| !f.is_empty()),
        "{cut}"
    );
    let leftovers = world.blobs.list(&format!("images/{cut_id}")).await.unwrap();
    assert!(
        leftovers.iter().all(|k| k.contains("/original-")),
        "no renditions left: {leftovers:?}"
    );

    let fine = upload(&world, &id, whole, "fine.jpg", "image/jpeg").await;
    assert_eq!(fine.status(), StatusCode::ACCEPTED);
    let fine_id = fine.json::<Value>().await.unwrap()["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ready = eventually(Duration::from_secs(60), || async {
        let view: Value = world
            .read(&format!("/products/{id}"), None)
            .await
            .json()
            .await
            .ok()?;
        let ready = view["images"]
            .as_array()?
            .iter()
            .any(|i| i["id"] == fine_id.as_str() && i["status"] == "ready");
        ready.then_some(())
    })
    .await;
    assert!(
        ready.is_some(),
        "the worker still processes images after a bad one"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_failing_blob_store_is_retried_until_it_recovers(pool: PgPool) {
    let options = Options {
        image_worker: false,
        ..Options::everything()
    };
    let world = World::start(pool, options).await;
    let id = world.create("IMG-RETRY").await;
    let response = upload(
        &world,
        &id,
        samples::jpeg(&samples::gradient(500, 400)),
        "a.jpg",
        "image/jpeg",
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let image_id = response.json::<Value>().await.unwrap()["image_id"]
        .as_str()
        .unwrap()
        .to_string();

    // A directory where the thumb must go: every write of it fails until it is removed.
    let blocked = world
        .blob_dir
        .join("images")
        .join(&image_id)
        .join("thumb.webp");
    std::fs::create_dir_all(blocked.join("blocker")).unwrap();
    world.start_image_worker();
    let retried = eventually(Duration::from_secs(20), || async {
        (world
            .image_stats
            .retried
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1)
            .then_some(())
    })
    .await;
    assert!(retried.is_some(), "the failed write was retried");
    let view: Value = world
        .read(&format!("/products/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        image(&view, &image_id)["status"],
        "processing",
        "not failed while the store is down"
    );

    std::fs::remove_dir_all(&blocked).unwrap();
    let view = settled(&world, &id).await;
    assert_eq!(image(&view, &image_id)["status"], "ready");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_bomb_that_reaches_the_worker_fails_without_being_decoded(pool: PgPool) {
    // Past the upload checks (a replica with a laxer limit, say): the worker has its own.
    let world = World::start(pool.clone(), Options::everything()).await;
    let id = world.create("IMG-BOMB").await;
    let mut bomb = samples::png(&image::DynamicImage::ImageRgb8(samples::gradient(1, 1)));
    bomb[16..20].copy_from_slice(&50_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&50_000u32.to_be_bytes());
    let crc = crc32fast::hash(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let image_id = uuid::Uuid::now_v7().to_string();
    let key = catalog_store::blobs::original_key(&image_id, "bomb", "png");
    world.blobs.put(&key, bomb.into()).await.unwrap();
    let store =
        catalog_store::event_store::ProductStore::new(pool, 50, catalog_domain::Schema::default());
    let command = catalog_domain::ProductCommand::AttachImage(catalog_domain::AttachImage {
        image_id: image_id.clone(),
        original: catalog_domain::ImageOriginal {
            key,
            content_type: "image/png".into(),
            width: 50_000,
            height: 50_000,
            bytes: 60,
        },
    });
    let metadata = std::collections::HashMap::from([("actor".to_string(), "test".to_string())]);
    store.execute(&id, command, None, &metadata).await.unwrap();

    let view = settled(&world, &id).await;
    let bomb = image(&view, &image_id);
    assert_eq!(bomb["status"], "failed");
    assert!(
        bomb["failure"].as_str().unwrap().starts_with("too_large"),
        "{bomb}"
    );
}

/// The image worker, counting the deliveries it handled successfully. A delivery that fails is
/// retried and handled again, so once every delivery published has a success here, none is left
/// in hand, in a queue or waiting for a retry.
struct Counted {
    worker: ImageWorker,
    succeeded: Arc<AtomicU64>,
}

impl Handler for Counted {
    fn spec(&self) -> ConsumerSpec {
        self.worker.spec()
    }

    async fn handle(&self, event: &WireEvent) -> Result<(), ApplyError> {
        let handled = self.worker.handle(event).await;
        if handled.is_ok() {
            self.succeeded.fetch_add(1, Ordering::SeqCst);
        }
        handled
    }

    async fn dead_lettered(&self, event: &WireEvent, reason: &str) {
        self.worker.dead_lettered(event, reason).await;
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn an_image_delivered_to_two_workers_is_processed_once(pool: PgPool) {
    // No relay: the test publishes the upload's event itself, three times (once in a message
    // with the product's other event), to two competing image workers of its own, which count
    // what they handled.
    let world = World::start(pool.clone(), Options::new(false, false)).await;
    let stats = Arc::new(Stats::default());
    let succeeded = Arc::new(AtomicU64::new(0));
    let shutdown = Shutdown::default();
    for _ in 0..2 {
        let worker = Consumer {
            handler: Arc::new(Counted {
                worker: ImageWorker {
                    store: ProductStore::new(pool.clone(), 50, catalog_domain::Schema::default()),
                    blobs: world.blobs.clone(),
                    limits: Limits::default(),
                    cpu: Arc::new(Semaphore::new(2)),
                    stats: stats.clone(),
                },
                succeeded: succeeded.clone(),
            }),
            topology: world.topology(),
            placement: Placement::default(),
            stats: stats.clone(),
            concurrency: 2,
        };
        let (amqp_url, shutdown) = (world.amqp_url.clone(), shutdown.clone());
        tokio::spawn(async move { worker.run(&amqp_url, 4, &shutdown).await });
    }
    let id = world.create("IMG-TWICE").await;
    let response = upload(
        &world,
        &id,
        samples::jpeg(&samples::gradient(900, 600)),
        "a.jpg",
        "image/jpeg",
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let stored = world.wire_events(&id).await;
    let attached = stored.last().expect("the upload's event");
    assert_eq!(attached.event_type, "ImageAttached");
    // Once alone, once in a message with the product's creation (routed to the worker for the
    // image it holds, which is all the worker is handed), and once alone as a v1 relay sent it.
    let alone = std::slice::from_ref(attached);
    world.publish_messages(&[alone, &stored]).await;
    world.publish(alone).await;

    let handled = eventually(Duration::from_secs(60), || async {
        (succeeded.load(Ordering::SeqCst) >= 3).then_some(())
    })
    .await;
    shutdown.trigger();
    assert!(handled.is_some(), "every delivery was handled");
    assert_eq!(stats.dead_lettered.load(Ordering::SeqCst), 0);
    // Every delivery is done with, so no outcome can follow the ones stored now.
    let outcomes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 \
         AND event_type IN ('ImageProcessed', 'ImageProcessingFailed')",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(outcomes, 1, "one outcome recorded for three deliveries");
    let types: Vec<String> = world
        .wire_events(&id)
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, ["ProductCreated", "ImageAttached", "ImageProcessed"]);
}

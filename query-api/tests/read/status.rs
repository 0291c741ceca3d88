//! `GET /status`: the relay's backlog, the projection's lag and the images still rendering, as
//! the console's status strip shows them.

use std::time::Duration;

use base64::Engine;
use catalog_testkit::*;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

/// A 1×1 PNG: the smallest upload command-api accepts as an image.
const PIXEL_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==";

async fn status(world: &World) -> Value {
    let response = world.read("/status", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn status_counts_what_neither_relay_nor_projector_has_done(pool: PgPool) {
    let world = World::start(
        pool,
        Options {
            query_api: true,
            ..Options::new(false, false)
        },
    )
    .await;
    let first = world.create("STATUS-1").await;
    world.create("STATUS-2").await;
    world.adjust(&first, 5).await;

    let body = status(&world).await;
    assert_eq!(body["events"]["last_position"], 3);
    assert!(body["events"]["last_recorded_at"].is_string());
    assert_eq!(body["relay"]["backlog"], 3, "{body}");
    assert_eq!(body["relay"]["backlog_capped"], false);
    assert_eq!(body["projection"]["products_behind"], 2, "{body}");
    assert!(body["projection"]["lag_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(body["images"]["processing"], 0);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn status_is_clear_once_caught_up_and_counts_images_rendering(pool: PgPool) {
    // No image worker: an uploaded image stays in processing.
    let world = World::start(
        pool,
        Options {
            query_api: true,
            ..Options::new(true, true)
        },
    )
    .await;
    let id = world.create("STATUS-IMG").await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(PIXEL_PNG)
        .unwrap();
    let part = Part::bytes(png)
        .file_name("pixel.png")
        .mime_str("image/png")
        .unwrap();
    let uploaded = world
        .client
        .post(format!("{}/products/{id}/images", world.base))
        .bearer_auth(&world.token)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::ACCEPTED);
    world.wait_for_version(&id, 2).await;

    // The relay's checkpoint follows the broker's confirms, and answers are shared for a
    // second: wait for a fresh one.
    let settled = eventually(Duration::from_secs(20), || async {
        let body = status(&world).await;
        (body["relay"]["backlog"] == 0).then_some(body)
    })
    .await
    .expect("the relay's backlog drains");
    assert_eq!(settled["projection"]["products_behind"], 0, "{settled}");
    assert_eq!(settled["projection"]["lag_seconds"], 0.0);
    assert_eq!(settled["images"]["processing"], 1, "{settled}");
    assert_eq!(settled["events"]["last_position"], 2);
}

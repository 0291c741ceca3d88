//! Every process exposes its series at `/metrics` once traffic has passed through it.

use std::time::Duration;

use lapin::options::{BasicGetOptions, BasicPublishOptions};
use lapin::BasicProperties;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

/// Asserts the series exists with at least `min`.
fn at_least(metrics: &str, name: &str, labels: &[(&str, &str)], min: f64) {
    let value = series(metrics, name, labels)
        .unwrap_or_else(|| panic!("no series {name}{labels:?} in:\n{metrics}"));
    assert!(
        value >= min,
        "{name}{labels:?} = {value}, expected >= {min}"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn every_process_exposes_its_series_after_traffic(pool: PgPool) {
    let mut system = System::start(
        pool,
        &[Service::CommandApi, Service::QueryApi, Service::Projector],
        &[],
    )
    .await;
    let command = system.url(Service::CommandApi);
    let id = create(&system, "METRICS-1", 3).await;
    let refused = system
        .client
        .post(format!("{command}/products/{id}/stock-adjustments"))
        .bearer_auth(&system.token)
        .json(&json!({"delta": -10, "reason": "more than there is"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let image_id = upload(&system, &id, png(64, 48), &[]).await;

    // Take the image's message from the queue without settling it, as a worker that dies with
    // it in hand would: the broker delivers it again, marked as redelivered.
    let topology = Topology::new(&system.namespace);
    let images_queue = topology.queue(&catalog_store::broker::IMAGES);
    let connection = catalog_store::broker::connect(AMQP_URL).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let taken = eventually(Duration::from_secs(20), || async {
        channel
            .basic_get(images_queue.as_str().into(), BasicGetOptions::default())
            .await
            .ok()
            .flatten()
    })
    .await
    .expect("the upload's event reaches the images queue");
    assert!(!taken.delivery.redelivered);
    // And a message no consumer can read, which the projector must dead-letter.
    channel
        .basic_publish(
            topology.exchange().as_str().into(),
            "product.Garbled".into(),
            BasicPublishOptions::default(),
            b"{not json",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    connection.close(200, "done".into()).await.unwrap();
    system.start_service(Service::ImageWorker).await;

    let view = settled(&system, &id, 1).await;
    assert_eq!(view["images"][0]["id"], image_id.as_str());
    assert_eq!(view["images"][0]["status"], "ready");
    let read = format!("{}/products/{id}", system.url(Service::QueryApi));
    for _ in 0..3 {
        let response = system.client.get(&read).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    caught_up(&system).await;

    let metrics = system.metrics(Service::CommandApi).await;
    let create = [
        ("method", "POST"),
        ("route", "/products"),
        ("status", "201"),
    ];
    at_least(&metrics, "catalog_http_requests_total", &create, 1.0);
    at_least(
        &metrics,
        "catalog_http_request_duration_seconds_count",
        &create,
        1.0,
    );
    at_least(
        &metrics,
        "catalog_http_requests_total",
        &[
            ("route", "/products/{id}/stock-adjustments"),
            ("status", "409"),
        ],
        1.0,
    );
    at_least(
        &metrics,
        "catalog_commands_total",
        &[("command", "create"), ("outcome", "accepted")],
        1.0,
    );
    at_least(
        &metrics,
        "catalog_commands_total",
        &[
            ("command", "adjust_stock"),
            ("outcome", "insufficient_stock"),
        ],
        1.0,
    );
    at_least(
        &metrics,
        "catalog_command_duration_seconds_count",
        &[("command", "attach_image")],
        1.0,
    );
    // Three events (created, image attached, image processed) went out.
    at_least(&metrics, "catalog_relay_published_total", &[], 3.0);
    at_least(&metrics, "catalog_relay_publish_seconds_count", &[], 1.0);
    let backlog = series(&metrics, "catalog_relay_backlog", &[]).expect("the relay's backlog");
    assert_eq!(backlog, 0.0, "everything was published");

    let metrics = system.metrics(Service::QueryApi).await;
    at_least(
        &metrics,
        "catalog_http_requests_total",
        &[
            ("method", "GET"),
            ("route", "/products/{id}"),
            ("status", "200"),
        ],
        3.0,
    );
    at_least(
        &metrics,
        "catalog_cache_requests_total",
        &[("result", "hit")],
        1.0,
    );
    // Every read by id is answered through the cache and counted there exactly once, whichever
    // level (the process's own, Redis, or PostgreSQL behind them) answered it.
    let reads = series(
        &metrics,
        "catalog_http_requests_total",
        &[("method", "GET"), ("route", "/products/{id}")],
    )
    .expect("the reads by id");
    let lookups = series(&metrics, "catalog_cache_requests_total", &[]).expect("the lookups");
    assert_eq!(lookups, reads, "one cache lookup per read by id");

    let metrics = system.metrics(Service::Projector).await;
    let projector = [("consumer", "projector")];
    at_least(
        &metrics,
        "catalog_projection_lag_seconds_count",
        &projector,
        3.0,
    );
    // The relay stamps what it publishes, so each of those events' lag is split in three.
    for stage in ["relay", "broker", "consumer"] {
        at_least(
            &metrics,
            "catalog_projection_stage_seconds_count",
            &[("consumer", "projector"), ("stage", stage)],
            3.0,
        );
    }
    at_least(
        &metrics,
        "catalog_projection_last_position",
        &projector,
        3.0,
    );
    // The three events reach position 3 (above); a product's consecutive events may travel
    // as one message, so as few as one message carries them.
    at_least(
        &metrics,
        "catalog_consumer_messages_total",
        &[("consumer", "projector"), ("outcome", "ack")],
        1.0,
    );
    at_least(
        &metrics,
        "catalog_consumer_dead_letters_total",
        &projector,
        1.0,
    );
    at_least(
        &metrics,
        "catalog_consumer_messages_total",
        &[("consumer", "projector"), ("outcome", "dead_letter")],
        1.0,
    );

    let metrics = system.metrics(Service::ImageWorker).await;
    at_least(&metrics, "catalog_image_processing_seconds_count", &[], 1.0);
    at_least(
        &metrics,
        "catalog_consumer_redeliveries_total",
        &[("consumer", "images")],
        1.0,
    );
    at_least(
        &metrics,
        "catalog_commands_total",
        &[
            ("command", "record_image_processed"),
            ("outcome", "accepted"),
        ],
        1.0,
    );
    // Nothing failed, so no failure series exists yet; its absence is the count of zero.
    assert_eq!(series(&metrics, "catalog_image_failures_total", &[]), None);
    system.kill(Service::ImageWorker).await;
}

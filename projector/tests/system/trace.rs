//! One upload followed from its HTTP request to the image worker's `ImageProcessed`, by the ids
//! the request carried: through the command-api's log, the stored events, the AMQP message,
//! and the projector's and the image worker's logs.

use std::time::Duration;

use futures::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::AMQPValue;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn one_upload_is_traced_through_every_hop(pool: PgPool) {
    let system = System::start(pool.clone(), &Service::ALL, &[]).await;

    // A queue of the test's own on the events exchange, to see the messages as they travel.
    let connection = catalog_store::broker::connect(AMQP_URL).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut consumer = tap_events(
        &channel,
        &Topology::new(&system.namespace),
        "trace-tap",
        BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        },
    )
    .await;

    // The product's creation is published before the upload begins: were both pending
    // together, the relay would carry them in one message, under the creation's ids.
    let id = create(&system, "TRACE-1", 1).await;
    let (_, body) = next_message(&mut consumer, "the creation").await;
    assert_eq!(body["event_type"], "ProductCreated", "{body}");

    let unique = uuid::Uuid::new_v4().simple().to_string();
    let request_id = format!("req-{unique}");
    let correlation_id = format!("corr-{unique}");
    let image_id = upload(
        &system,
        &id,
        png(120, 80),
        &[
            ("x-request-id", &request_id),
            ("x-correlation-id", &correlation_id),
        ],
    )
    .await;
    let view = settled(&system, &id, 1).await;
    assert_eq!(view["images"][0]["status"], "ready");

    // The events: the upload's, with the request's ids; the worker's, caused by it.
    let events: Vec<(String, String, Value)> = sqlx::query_as(
        "SELECT event_id::text, event_type, metadata FROM events \
         WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(&id)
    .fetch_all(&pool)
    .await
    .unwrap();
    let types: Vec<&str> = events.iter().map(|(_, t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        ["ProductCreated", "ImageAttached", "ImageProcessed"],
        "{events:?}"
    );
    let (attached_id, _, attached) = &events[1];
    let (processed_id, _, processed) = &events[2];
    assert_eq!(attached["request_id"], request_id.as_str());
    assert_eq!(attached["correlation_id"], correlation_id.as_str());
    assert_eq!(attached["causation_id"], request_id.as_str());
    assert_eq!(processed["correlation_id"], correlation_id.as_str());
    assert_eq!(processed["request_id"], request_id.as_str());
    assert_eq!(processed["causation_id"], attached_id.as_str());

    // The messages: correlation id as the AMQP property, every id as a header.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let (delivery, body) = next_message(&mut consumer, "the upload's events").await;
        let properties = &delivery.properties;
        assert_eq!(
            properties
                .correlation_id()
                .as_ref()
                .map(lapin::types::ShortString::as_str),
            Some(correlation_id.as_str())
        );
        let headers = properties.headers().clone().expect("headers");
        let header = |name: &str| match headers.inner().get(name) {
            Some(AMQPValue::LongString(value)) => value.to_string(),
            other => panic!("header {name}: {other:?}"),
        };
        assert_eq!(header("request_id"), request_id);
        assert_eq!(header("correlation_id"), correlation_id);
        seen.push((
            body["event_type"].as_str().unwrap().to_string(),
            header("causation_id"),
        ));
    }
    assert_eq!(
        seen,
        [
            ("ImageAttached".to_string(), request_id.clone()),
            ("ImageProcessed".to_string(), attached_id.clone()),
        ]
    );
    let _ = connection.close(200, "done".into()).await;

    // The logs. command-api: the request's line carries both ids.
    let logs = system.logs(Service::CommandApi);
    assert!(
        logs.iter()
            .any(|line| mentions(line, "request_id", &request_id)
                && mentions(line, "correlation_id", &correlation_id)
                && line["message"] == "finished processing request"),
        "command-api logged the request"
    );
    // The image worker: its line about the image, in the span of the event that asked for it.
    let traced = |service: Service, message: &str, event_id: &str| {
        system.logs(service).iter().any(|line| {
            line["message"] == message
                && mentions(line, "event_id", event_id)
                && mentions(line, "correlation_id", &correlation_id)
                && mentions(line, "request_id", &request_id)
        })
    };
    let logged = eventually(Duration::from_secs(10), || async {
        (traced(Service::ImageWorker, "image processed", attached_id)
            && traced(Service::Projector, "event handled", attached_id)
            && traced(Service::Projector, "event handled", processed_id))
        .then_some(())
    })
    .await;
    assert!(
        logged.is_some(),
        "the worker and the projector logged both events with their trace; logs in {} and {}",
        system.log_path(Service::ImageWorker).display(),
        system.log_path(Service::Projector).display()
    );
    // The projector's line for the worker's event names what caused it.
    assert!(system.logs(Service::Projector).iter().any(|line| {
        mentions(line, "event_id", processed_id) && mentions(line, "causation_id", attached_id)
    }));
    let image_line = system
        .logs(Service::ImageWorker)
        .into_iter()
        .find(|line| line["message"] == "image processed")
        .unwrap();
    assert!(mentions(&image_line, "image_id", &image_id), "{image_line}");
}

/// The tap's next message and its body, which the relay publishes within 20 s.
async fn next_message(
    consumer: &mut lapin::Consumer,
    what: &str,
) -> (lapin::message::Delivery, Value) {
    let delivery = tokio::time::timeout(Duration::from_secs(20), consumer.next())
        .await
        .unwrap_or_else(|_| panic!("the relay publishes {what}"))
        .expect("the tap is open")
        .expect("a delivery");
    let body = serde_json::from_slice(&delivery.data).expect("a JSON body");
    (delivery, body)
}

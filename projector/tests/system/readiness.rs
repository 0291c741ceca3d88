//! Readiness follows the dependencies: it turns 503, naming the one that went, while a
//! dependency a process needs is away, and back to 200 when it returns. Liveness does not
//! change. The Redis stopped here is a private one on a spare port, never the shared server.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::helpers::*;

/// A redis-server of the test's own, keeping nothing on disk.
fn private_redis(port: u16) -> Child {
    Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server starts")
}

async fn health(system: &System, service: Service, path: &str) -> (StatusCode, Value) {
    let response = system
        .client
        .get(format!("{}{path}", system.url(service)))
        .send()
        .await
        .expect("the health endpoint answers");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

/// Waits until readiness answers `status`; returns its body.
async fn ready_becomes(system: &System, service: Service, status: StatusCode) -> Value {
    let url = format!("{}/health/ready", system.url(service));
    eventually(Duration::from_secs(30), || async {
        // Not listening yet is "not yet" too.
        let response = system.client.get(&url).send().await.ok()?;
        (response.status() == status).then_some(response.json().await.ok()?)
    })
    .await
    .unwrap_or_else(|| panic!("{} readiness never became {status}", service.name()))
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn readiness_follows_a_dependency_that_goes_and_comes_back(pool: PgPool) {
    let port = free_port();
    let mut redis = private_redis(port);
    let redis_url = format!("redis://127.0.0.1:{port}");
    let system = System::start(
        pool,
        &[Service::QueryApi, Service::Projector],
        &[("REDIS_URL", &redis_url)],
    )
    .await;

    let body = ready_becomes(&system, Service::Projector, StatusCode::OK).await;
    assert_eq!(body["checks"]["postgres"], "up");
    assert_eq!(body["checks"]["redis"], "up");
    assert_eq!(body["checks"]["rabbitmq"], "up");

    redis.start_kill().unwrap();
    redis.wait().await.unwrap();
    // The projector cannot update the Redis read model: not ready, and it says why.
    let body = ready_becomes(&system, Service::Projector, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["type"], "urn:catalog:problem:not-ready");
    assert_eq!(body["detail"], "redis unavailable");
    assert_eq!(body["checks"]["redis"], "down");
    assert_eq!(body["checks"]["postgres"], "up");
    // query-api reads from PostgreSQL meanwhile: degraded, still ready.
    let (status, body) = health(&system, Service::QueryApi, "/health/ready").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["redis"], "degraded");
    for service in [Service::Projector, Service::QueryApi] {
        let (status, _) = health(&system, service, "/health/live").await;
        assert_eq!(status, StatusCode::OK, "{} is alive", service.name());
    }

    let _redis = private_redis(port);
    let body = ready_becomes(&system, Service::Projector, StatusCode::OK).await;
    assert_eq!(body["checks"]["redis"], "up");
    let (_, body) = health(&system, Service::QueryApi, "/health/ready").await;
    assert_eq!(body["checks"]["redis"], "up");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_broker_that_is_not_up_yet_is_retried_with_backoff_not_fatal(pool: PgPool) {
    // Nothing listens on this port: the broker "has not started yet".
    let amqp_url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port());
    let mut system = System::start(pool, &[], &[("AMQP_URL", &amqp_url)]).await;
    system.spawn(Service::Projector);
    let body = ready_becomes(&system, Service::Projector, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["checks"]["rabbitmq"], "down");
    assert_eq!(body["detail"], "rabbitmq unavailable");
    let (status, _) = health(&system, Service::Projector, "/health/live").await;
    assert_eq!(status, StatusCode::OK);
    // It keeps trying, further apart each time, and says so.
    let retries = eventually(Duration::from_secs(20), || async {
        let delays: Vec<String> = system
            .logs(Service::Projector)
            .iter()
            .filter(|l| l["message"] == "consumer stopped; reconnecting")
            .filter_map(|l| l["retry_in"].as_str().map(str::to_string))
            .collect();
        (delays.len() >= 3).then_some(delays)
    })
    .await
    .expect("the projector logs its reconnection attempts");
    assert_ne!(retries[0], retries[2], "the delay grows: {retries:?}");
    assert!(
        !std::fs::read_to_string(system.log_path(Service::Projector))
            .unwrap()
            .contains("panicked"),
    );
    let status = system
        .terminate(Service::Projector, Duration::from_secs(10))
        .await;
    assert!(status.success(), "{status}");
}

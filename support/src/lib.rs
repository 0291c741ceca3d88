//! Plumbing shared by Catalog's services, kept here so each service reads as its own logic.
//!
//! - [`amqp`]: the RabbitMQ topology and the event as it travels on the broker.
//! - [`blobs`]: the blob store of image originals and renditions (filesystem or S3).
//! - [`config`]: reading typed settings from the environment, one clear error per bad value.
//! - [`redis_model`]: the Redis read model, shared by the projector (writes) and query-api.
//! - [`secret`]: a string whose `Debug` and `Display` print nothing, for keys and passwords.
//! - [`telemetry`]: tracing set-up, JSON lines in production, readable text in a terminal.
//! - [`db`]: the PostgreSQL pool and the embedded migrations.
//! - [`event_store`]: the write path — load, decide, append, retry on contention.
//! - [`health`]: liveness and readiness routes.
//! - [`http`]: the layers every HTTP service wraps its routes in.
//! - [`metrics`]: the Prometheus recorder and `GET /metrics`.
//! - [`openapi`]: what both services' OpenAPI documents share, `GET /openapi.json` and `GET /docs`.
//! - [`problem`]: RFC 9457 problem+json responses, the one error shape of every service.
//! - [`auth`]: JWT bearer authentication and scope checks.
//! - [`shutdown`]: the signal that stops every service gracefully.

pub mod amqp;
pub mod auth;
pub mod blobs;
pub mod config;
pub mod db;
pub mod event_store;
pub mod health;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod redis_model;
pub mod secret;
pub mod shutdown;
pub mod telemetry;

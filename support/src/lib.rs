//! Plumbing shared by Catalog's processes, kept here so each one reads as its own logic. Nothing
//! here knows the event store, the broker or the read models (those are `catalog-store` and
//! `catalog-read-model`): a reader following the flow never needs to open this crate.
//!
//! - [`config`]: reading typed settings from the environment, one clear error per bad value.
//! - [`secret`]: a string whose `Debug` and `Display` print nothing, for keys and passwords.
//! - [`telemetry`]: tracing set-up, JSON lines in production, readable text in a terminal.
//! - [`db`]: the PostgreSQL pool and the embedded migrations.
//! - [`health`]: liveness and readiness routes.
//! - [`http`]: the layers every HTTP service wraps its routes in.
//! - [`metrics`]: the Prometheus recorder and `GET /metrics`.
//! - [`openapi`]: what both services' OpenAPI documents share, `GET /openapi.json` and `GET /docs`.
//! - [`problem`]: RFC 9457 problem+json responses, the one error shape of every service.
//! - [`auth`]: JWT bearer authentication and scope checks.
//! - [`scopes`]: the scopes tokens and sessions grant.
//! - [`people`]: the people who sign in: roles, argon2id password hashes, `people` table.
//! - [`session`]: signed-in sessions and the sign-in lock-out, in Redis.
//! - [`lazy_redis`]: a Redis connection opened on first use (rate limits, sessions).
//! - [`jwks`]: an outside issuer's public keys (JWKS), refetched when a token names a new one.
//! - [`shutdown`]: the signal that stops every service gracefully.
//! - [`tasks`]: a process's long-running tasks, supervised: one that ends early stops the process.

pub mod auth;
pub mod config;
pub mod db;
pub mod health;
pub mod http;
pub mod jwks;
pub mod lazy_redis;
pub mod metrics;
pub mod openapi;
pub mod people;
pub mod problem;
pub mod scopes;
pub mod secret;
pub mod session;
pub mod shutdown;
pub mod tasks;
pub mod telemetry;

//! End-to-end tests of command-api: real HTTP against the real service on a fresh PostgreSQL
//! database per test (sqlx::test creates and drops it).

mod auth;
mod catalog2;
mod commands;
mod concurrency;
mod create;
mod disconnect;
mod helpers;
mod idempotency;
mod imports;
mod openapi;
mod rate_limit;
mod security;
mod subscriptions;
mod variants;

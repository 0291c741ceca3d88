//! Tests of the processes as operators run them: the real binaries, each on its own port,
//! logging JSON to files, on the test's own database, namespace and blob directory. What they
//! show — metrics, readiness, logs, signals, exit codes — only exists at that level.

mod config;
mod failover;
mod helpers;
mod identity;
mod import_kill;
mod metrics;
mod readiness;
mod refill;
mod scale_out;
mod shutdown;
mod sweep;
mod trace;

//! Private instances of Catalog's dependencies that a test may stop and start again: the
//! shared PostgreSQL (5432), Redis (6379) and RabbitMQ (5672) serve every other test and must
//! never be stopped. Each instance runs from the system's installation, on loopback ports of its
//! own, with all its files under one temporary directory that dropping it deletes.

mod postgres;
pub(crate) mod process;
mod rabbit;
mod rabbit_cluster;
mod redis;
mod redis_sentinel;

pub use postgres::PrivatePostgres;
pub use postgres::PrivateStandby;
pub use process::free_port;
pub(crate) use process::free_ports;
pub use rabbit::PrivateRabbit;
pub use rabbit_cluster::{PrivateRabbitCluster, QueuePlacement};
pub use redis::PrivateRedis;
pub use redis_sentinel::PrivateRedisSentinel;

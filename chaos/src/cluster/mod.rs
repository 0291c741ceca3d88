//! Scenarios on real clusters (`scripts/chaos --cluster`): a PostgreSQL primary with a streaming
//! standby, a three-node RabbitMQ cluster, Redis with a replica and three Sentinels. Each
//! scenario starts its cluster on loopback ports of its own beside the suite's single private
//! instances, injects its faults under the mixed workload and checks the system like every other
//! scenario: 0 lost, 0 duplicated, 0 mismatches.

mod postgres;
mod rabbitmq;
mod redis;

use bytes::Bytes;

use crate::scenarios::{Deps, Row, Settings};

pub const SCENARIOS: [&str; 3] = ["postgres-failover", "rabbitmq-cluster", "redis-sentinel"];

pub async fn run(name: &str, deps: &Deps, settings: Settings, photo: Bytes) -> Row {
    match name {
        "postgres-failover" => postgres::failover(deps, settings, photo).await,
        "rabbitmq-cluster" => rabbitmq::node_loss(deps, settings, photo).await,
        "redis-sentinel" => redis::failover(deps, settings, photo).await,
        _ => unreachable!("names are checked by the caller"),
    }
}

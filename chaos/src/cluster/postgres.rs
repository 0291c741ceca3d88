//! PostgreSQL failed over to its streaming standby under the mixed workload. The scenario runs
//! its own primary and synchronous hot standby (the suite's Redis and RabbitMQ serve as they
//! are), and the services reach PostgreSQL through one address, a loopback proxy standing in
//! for the DNS name, virtual IP or TCP proxy an operator moves to the promoted standby (sqlx
//! has no multi-host URL). The primary is stopped in immediate mode, as a crash would leave
//! it; the standby is promoted and the address moved to it. Recovery is the time from the
//! primary's death until a new command was acknowledged and readable through query-api.

use std::time::{Duration, Instant};

use bytes::Bytes;
use catalog_testkit::private::{PrivatePostgres, PrivateStandby};
use catalog_testkit::proxy::FaultProxy;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::checks::Findings;
use crate::scenarios::{Deps, Routes, Row, Settings, Stage};
use crate::workload::Mix;

pub async fn failover(deps: &Deps, settings: Settings, photo: Bytes) -> Row {
    let database = format!("chaos_{}", uuid::Uuid::new_v4().simple());
    let mut primary = PrivatePostgres::start().await;
    primary.migrated_database(&database).await.close().await;
    let standby = primary.start_standby().await;
    // Synchronous replication: a commit (and so a command's 2xx) returns only once the standby
    // has flushed it, so nothing acknowledged is lost when the standby takes over. With
    // asynchronous streaming the last commits before the primary dies may never reach the
    // standby, and their acknowledged commands would be lost.
    primary.replicate_synchronously(&standby, "on").await;

    let proxy = FaultProxy::start(([127, 0, 0, 1], primary.port()).into()).await;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            proxy.port()
        ))
        .await
        .expect("the scenario's database answers through the proxy");
    let routes = Routes {
        database: Some(pool),
        ..Routes::default()
    };
    let mut stage = Stage::start_with(deps, settings, Mix::SHOP, photo, routes).await;
    let wait = stage.pause(Duration::from_secs(2), Duration::from_secs(5));
    stage.run_for(wait).await;

    let failed = Instant::now();
    primary.stop_immediately().await;
    let promoted = standby.promote().await;
    let xids = Xids::at_promotion(&standby, &database, &stage.system.namespace).await;
    proxy.set_upstream(([127, 0, 0, 1], standby.port()).into());
    let moved = failed.elapsed();
    stage.probe(failed).await;
    stage.run_for(Duration::from_secs(3)).await;

    let faults = format!(
        "primary stopped (immediate), standby promoted in {:.1} s, address moved after {:.1} s",
        promoted.as_secs_f64(),
        moved.as_secs_f64()
    );
    let row = stage
        .finish_with(
            "PostgreSQL failed over",
            faults,
            async |system, findings| {
                xids.check(&system.pool, &system.namespace, findings).await;
            },
        )
        .await;
    // The servers and the address outlive the services that used them.
    drop(proxy);
    drop(standby);
    row
}

/// The relay's checkpoint is a transaction id (xid8) with a position: it resumes on the
/// promoted standby only if that server's transaction ids continue past it.
struct Xids {
    /// The first transaction id the promoted standby handed out.
    first: i64,
    /// The relay's checkpoint as the standby had replayed it.
    checkpoint: i64,
}

impl Xids {
    async fn at_promotion(standby: &PrivateStandby, database: &str, namespace: &str) -> Self {
        let mut connection = PgConnection::connect(&standby.url(database))
            .await
            .expect("the promoted standby answers");
        let checkpoint = text_i64(
            sqlx::query_scalar(
                "SELECT coalesce(max(transaction_id), '0')::text FROM relay_checkpoints \
                 WHERE name = $1",
            )
            .bind(namespace)
            .fetch_one(&mut connection)
            .await,
        );
        let first = text_i64(
            sqlx::query_scalar("SELECT pg_current_xact_id()::text")
                .fetch_one(&mut connection)
                .await,
        );
        let _ = connection.close().await;
        Self { first, checkpoint }
    }

    /// The promoted standby's transaction ids continued past the checkpoint, and the relay
    /// published every event written there (the common checks found them projected).
    async fn check(&self, pool: &PgPool, namespace: &str, findings: &mut Findings) {
        if self.first <= self.checkpoint {
            findings.lost += 1;
            findings.note(format!(
                "the promoted standby's transaction ids start at {}, not past the relay's \
                 checkpoint {}: events written there would never be relayed",
                self.first, self.checkpoint
            ));
        }
        let last_written: Option<String> = sqlx::query_scalar(
            "SELECT max(transaction_id)::text FROM events WHERE transaction_id >= $1::text::xid8",
        )
        .bind(self.first.to_string())
        .fetch_one(pool)
        .await
        .expect("the event store answers");
        let Some(last_written) = last_written else {
            findings.note("no event was written on the promoted standby".into());
            findings.failed_probes += 1;
            return;
        };
        let relayed = text_i64(
            sqlx::query_scalar(
                "SELECT transaction_id::text FROM relay_checkpoints WHERE name = $1",
            )
            .bind(namespace)
            .fetch_one(pool)
            .await,
        );
        let last_written = text_i64(Ok(last_written));
        if relayed < last_written {
            findings.lost += 1;
            findings.note(format!(
                "the relay's checkpoint ({relayed}) did not pass the events written on the \
                 promoted standby (up to transaction {last_written})"
            ));
        }
    }
}

/// A 64-bit transaction id read as text: sqlx has no xid8 type.
fn text_i64(answer: sqlx::Result<String>) -> i64 {
    answer
        .expect("the server answers")
        .parse()
        .expect("a transaction id is a number")
}

//! A streaming hot standby of a [`PrivatePostgres`]: a copy made by `pg_basebackup -R` that
//! replays the primary's WAL as it streams in and answers read-only queries meanwhile, on its
//! own port and in its own temporary directory. It can be paused (replay stops, WAL still
//! arrives) to make replication lag visible on demand, and promoted to a primary of its own.
//! Dropping it stops the server at once and deletes its directory, like the primary.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use super::PrivatePostgres;

/// How long the standby may take to catch up, pause, resume or become synchronous.
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// How long a promotion may take until the server accepts writes (usually well under 1 s).
const PROMOTE_LIMIT: Duration = Duration::from_secs(60);

/// A streaming hot standby of a [`PrivatePostgres`]; see the module's doc.
pub struct PrivateStandby {
    server: PrivatePostgres,
    /// The standby's `cluster_name`, which its WAL receiver gives the primary as its
    /// `application_name`: what `synchronous_standby_names` and `pg_stat_replication` know it by.
    name: String,
}

impl PrivatePostgres {
    /// Starts a streaming hot standby of this server and waits until it answers queries (it
    /// then holds everything the primary had committed when the copy began).
    ///
    /// The copy takes the primary's postgresql.auto.conf with it: call
    /// [`PrivatePostgres::replicate_synchronously`] after this, or the standby would wait for
    /// itself once promoted.
    pub async fn start_standby(&self) -> PrivateStandby {
        let name = format!(
            "standby_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let settings = format!(
            "\n# A streaming standby\n\
             hot_standby = on\n\
             cluster_name = '{name}'\n\
             hot_standby_feedback = on\n"
        );
        let server = PrivatePostgres::base_backup_of(self, settings).await;
        PrivateStandby { server, name }
    }

    /// Makes `standby` this server's synchronous standby: from now on a commit is acknowledged
    /// only once the standby has it, as `synchronous_commit` says (`on`: flushed to the
    /// standby's disk; `remote_apply`: replayed there, so visible to its readers too). Waits until
    /// the primary reports the standby as `sync`.
    ///
    /// The settings go into the primary's postgresql.auto.conf, which no standby receives
    /// through the WAL: a standby promoted later commits on its own, without waiting for one.
    pub async fn replicate_synchronously(
        &self,
        standby: &PrivateStandby,
        synchronous_commit: &str,
    ) {
        let mut connection = connect(&self.url("postgres")).await;
        // ALTER SYSTEM refuses to run in a transaction block, so one statement at a time.
        for statement in [
            format!(
                "ALTER SYSTEM SET synchronous_standby_names = '\"{}\"'",
                standby.name
            ),
            format!("ALTER SYSTEM SET synchronous_commit = '{synchronous_commit}'"),
            "SELECT pg_reload_conf()".to_string(),
        ] {
            sqlx::raw_sql(&statement)
                .execute(&mut connection)
                .await
                .unwrap_or_else(|err| panic!("{statement}: {err}"));
        }
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let state: Option<String> = sqlx::query_scalar(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1",
            )
            .bind(&standby.name)
            .fetch_optional(&mut connection)
            .await
            .expect("pg_stat_replication can be read");
            if state.as_deref() == Some("sync") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the standby {} did not become synchronous within {WAIT_LIMIT:?} (state {state:?})",
                standby.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = connection.close().await;
    }

    /// The server's current WAL insert position, as text (`0/3000148`).
    pub async fn current_lsn(&self) -> String {
        let mut connection = connect(&self.url("postgres")).await;
        let lsn = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&mut connection)
            .await
            .expect("the primary reports its WAL position");
        let _ = connection.close().await;
        lsn
    }
}

impl PrivateStandby {
    /// The URL of `database` on the standby (read-only until promoted).
    pub fn url(&self, database: &str) -> String {
        self.server.url(database)
    }

    /// The standby's loopback port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The name the primary knows the standby by (its `application_name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops replaying WAL (it still arrives and is flushed, so a synchronous primary is not
    /// held up by `on`, only by `remote_apply`) and waits until replay has stopped: from here
    /// on the standby's readers see the state of that moment.
    pub async fn pause_replay(&self) {
        self.set_replay("SELECT pg_wal_replay_pause()", "paused")
            .await;
    }

    /// Replays WAL again, and waits until the standby says so.
    pub async fn resume_replay(&self) {
        self.set_replay("SELECT pg_wal_replay_resume()", "not paused")
            .await;
    }

    async fn set_replay(&self, statement: &str, state: &str) {
        let mut connection = connect(&self.url("postgres")).await;
        sqlx::raw_sql(statement)
            .execute(&mut connection)
            .await
            .unwrap_or_else(|err| panic!("{statement}: {err}"));
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let now: String = sqlx::query_scalar("SELECT pg_get_wal_replay_pause_state()")
                .fetch_one(&mut connection)
                .await
                .expect("the standby reports its replay state");
            if now == state {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the standby's replay is still {now:?} after {WAIT_LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = connection.close().await;
    }

    /// Waits until the standby has replayed everything `primary` had written when this was
    /// called; returns how long that took. Panics after a minute.
    pub async fn wait_caught_up(&self, primary: &PrivatePostgres) -> Duration {
        let target = primary.current_lsn().await;
        let started = Instant::now();
        let mut connection = connect(&self.url("postgres")).await;
        loop {
            let replayed: bool = sqlx::query_scalar(
                "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)",
            )
            .bind(&target)
            .fetch_one(&mut connection)
            .await
            .expect("the standby reports its replay position");
            if replayed {
                break;
            }
            assert!(
                started.elapsed() < WAIT_LIMIT,
                "the standby did not replay up to {target} within {WAIT_LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = connection.close().await;
        started.elapsed()
    }

    /// Promotes the standby to a primary of its own and waits until it accepts writes; returns
    /// how long that took. Replay is resumed first: a paused standby would otherwise promote
    /// without the WAL it holds but has not applied.
    pub async fn promote(&self) -> Duration {
        let started = Instant::now();
        let mut connection = connect(&self.url("postgres")).await;
        let paused: String = sqlx::query_scalar("SELECT pg_get_wal_replay_pause_state()")
            .fetch_one(&mut connection)
            .await
            .expect("the standby reports its replay state");
        if paused != "not paused" {
            sqlx::raw_sql("SELECT pg_wal_replay_resume()")
                .execute(&mut connection)
                .await
                .expect("replay resumes");
        }
        let promoted: bool = sqlx::query_scalar("SELECT pg_promote(true, $1)")
            .bind(PROMOTE_LIMIT.as_secs() as i32)
            .fetch_one(&mut connection)
            .await
            .expect("pg_promote runs");
        assert!(
            promoted,
            "the standby was not promoted within {PROMOTE_LIMIT:?}"
        );
        let _ = connection.close().await;
        // Accepting writes is what matters, so a write-only function says when: it fails while
        // the server is still in recovery, and new sessions see the end of recovery first.
        loop {
            let mut connection = connect(&self.url("postgres")).await;
            let write = sqlx::query_scalar::<_, String>("SELECT pg_current_xact_id()::text")
                .fetch_one(&mut connection)
                .await;
            let _ = connection.close().await;
            match write {
                Ok(_) => return started.elapsed(),
                Err(err) => assert!(
                    started.elapsed() < PROMOTE_LIMIT,
                    "the promoted standby does not accept writes: {err}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Shuts the standby down (sessions are ended); returns how long that took.
    pub async fn stop(&mut self) -> Duration {
        self.server.stop().await
    }

    /// Starts the stopped standby again, on the same port and data: it resumes streaming from
    /// where it stopped (or, once promoted, runs as a primary). Returns how long that took.
    pub async fn start_again(&mut self) -> Duration {
        self.server.start_again().await
    }
}

/// A session on a server of the test's own, which is expected to answer.
async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .unwrap_or_else(|err| panic!("{url} accepts connections: {err}"))
}

//! A private PostgreSQL cluster that a test may stop and start again. The shared server at
//! 127.0.0.1:5432 serves every other test and must never be stopped.
//!
//! The cluster is made by the newest `initdb` installed and run by its `pg_ctl`, with its data,
//! socket, configuration and log under one temporary directory. Stopping it shuts the server
//! down (`-m fast`: sessions are ended, nothing is lost); starting it again reuses the data.
//! PostgreSQL refuses to run as root, so when the tests do, every program of the cluster runs
//! as the `postgres` OS user, who owns the directory.
//!
//! Every cluster is ready to be a primary: it writes enough WAL for a standby, accepts
//! replication connections from loopback, and keeps some WAL for a standby that falls behind
//! (see [`PrivateStandby`]).

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use super::process::{accepts, alive, free_port, keep_unclaimed, tail};

// The standby is a kind of private cluster: a file of its own, and a child of this module so
// that it is made and run like the primary.
#[path = "standby.rs"]
mod standby;
pub use standby::PrivateStandby;

/// How long the server may take to start and answer a query (it usually needs well under 1 s).
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long the server may take to shut down and close its port.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// Where Debian's packages install each major version's server programs.
const INSTALLATIONS: &str = "/usr/lib/postgresql";
/// The OS user that runs the cluster when the tests run as root.
const OS_USER: &str = "postgres";

#[derive(Debug, Clone)]
struct Cluster {
    /// The server programs' directory; empty when they are found on PATH.
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// Whether the programs must run as [`OS_USER`] (the tests run as root).
    as_os_user: bool,
}

/// A PostgreSQL server of the test's own, on its own port and data, that it may stop and start
/// again. Its only role is `postgres`, trusted without a password. Dropping it stops the server
/// at once and deletes its directory.
pub struct PrivatePostgres {
    cluster: Cluster,
    /// Whether the server may be running (it may be half-started after a failed start).
    maybe_running: bool,
}

impl PrivatePostgres {
    /// Creates a fresh cluster, starts it and waits until it answers queries.
    pub async fn start() -> Self {
        Self::make(Cluster::init).await
    }

    /// A copy of `primary` by `pg_basebackup -R`, started as its streaming standby (see
    /// [`PrivateStandby`]); `settings` are appended to its postgresql.conf.
    async fn base_backup_of(primary: &PrivatePostgres, settings: String) -> Self {
        let source = primary.cluster.port;
        Self::make(move |cluster| cluster.copy(source, &settings)).await
    }

    /// A new cluster in a directory and on a port of its own, made by `create` and started.
    async fn make(create: impl FnOnce(&Cluster) -> Result<(), String> + Send + 'static) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut postgres = Self {
            cluster: Cluster {
                bin: installation(),
                dir: std::env::temp_dir().join(format!("catalog-pg-{id}")),
                port: free_port(),
                as_os_user: running_as_root(),
            },
            maybe_running: false,
        };
        let cluster = postgres.cluster.clone();
        tokio::task::spawn_blocking(move || create(&cluster))
            .await
            .expect("the task making the cluster ran")
            .unwrap_or_else(|err| panic!("the private PostgreSQL cluster was not created: {err}"));
        // A fresh server moves to another port rather than fail on one taken during initdb.
        if keep_unclaimed(std::slice::from_mut(&mut postgres.cluster.port)) {
            postgres
                .cluster
                .configure()
                .unwrap_or_else(|err| panic!("the private PostgreSQL cluster moves port: {err}"));
        }
        postgres.start_again().await;
        postgres
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.cluster.port
        )
    }

    /// The server's loopback port, kept across restarts.
    pub fn port(&self) -> u16 {
        self.cluster.port
    }

    /// Creates an empty database (from `template1`, like the shared server's).
    pub async fn create_database(&self, name: &str) {
        let mut connection = PgConnection::connect(&self.url("postgres"))
            .await
            .expect("the private PostgreSQL server accepts connections");
        let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        sqlx::raw_sql(&create)
            .execute(&mut connection)
            .await
            .unwrap_or_else(|err| panic!("{create}: {err}"));
        let _ = connection.close().await;
    }

    /// Creates a database with Catalog's schema: [`Self::create_database`], then the
    /// migrations. Returns a pool of 8 connections on it.
    pub async fn migrated_database(&self, name: &str) -> PgPool {
        self.create_database(name).await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(&self.url(name))
            .await
            .expect("the new database answers");
        catalog_support::db::MIGRATOR
            .run(&pool)
            .await
            .expect("the migrations run");
        pool
    }

    /// Starts the stopped server again, on the same port and data, and waits until it answers
    /// queries. Returns how long that took.
    pub async fn start_again(&mut self) -> Duration {
        assert!(!self.maybe_running, "the server is already running");
        self.maybe_running = true;
        let cluster = self.cluster.clone();
        let started = Instant::now();
        let launched = tokio::task::spawn_blocking(move || cluster.launch())
            .await
            .expect("the start task ran");
        let ready = match launched {
            Ok(()) => self.answers(started + START_LIMIT).await,
            Err(err) => Err(err),
        };
        match ready {
            Ok(()) => started.elapsed(),
            // Drop stops whatever did start.
            Err(err) => panic!(
                "the private PostgreSQL server on port {} did not start: {err}\n{}",
                self.cluster.port,
                tail(&self.cluster.log(), 30)
            ),
        }
    }

    /// Shuts the server down (sessions are ended) and waits until its port refuses connections.
    /// Returns how long that took.
    pub async fn stop(&mut self) -> Duration {
        self.halt("fast").await
    }

    /// Stops the server at once, as a crash would (`-m immediate`: no shutdown checkpoint,
    /// sessions and WAL senders dropped mid-flight; the next start recovers from the WAL), and
    /// waits until its port refuses connections. Returns how long that took.
    pub async fn stop_immediately(&mut self) -> Duration {
        self.halt("immediate").await
    }

    /// Stops the server in `pg_ctl stop` mode `mode`; returns how long that took.
    async fn halt(&mut self, mode: &'static str) -> Duration {
        assert!(self.maybe_running, "the server is not running");
        let cluster = self.cluster.clone();
        let started = Instant::now();
        let stopped = tokio::task::spawn_blocking(move || cluster.halt(mode))
            .await
            .expect("the stop task ran");
        self.maybe_running = false;
        stopped.unwrap_or_else(|err| {
            panic!(
                "the private PostgreSQL server on port {} did not stop: {err}",
                self.cluster.port
            )
        });
        started.elapsed()
    }

    /// Stops the server and starts it again; returns how long both took.
    pub async fn restart(&mut self) -> Duration {
        self.stop().await + self.start_again().await
    }

    /// Waits until a real query succeeds: the port may open before the server accepts sessions.
    async fn answers(&self, deadline: Instant) -> Result<(), String> {
        let url = self.url("postgres");
        loop {
            let attempt = async {
                let mut connection = PgConnection::connect(&url).await?;
                sqlx::raw_sql("SELECT 1").execute(&mut connection).await?;
                connection.close().await
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() >= deadline => {
                    return Err(format!("no answer after {START_LIMIT:?}: {err}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.maybe_running {
            if let Err(err) = self.cluster.halt("immediate") {
                eprintln!(
                    "private PostgreSQL server on port {}: {err}",
                    self.cluster.port
                );
            }
        }
        let _ = fs::remove_dir_all(&self.cluster.dir);
    }
}

impl Cluster {
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// Runs one of the server's programs, as [`OS_USER`] when the tests run as root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.as_os_user {
            let mut command = Command::new("runuser");
            command.args(["-u", OS_USER, "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        // The test's own directory may be closed to the OS user.
        command.current_dir(&self.dir).stdin(Stdio::null());
        command
    }

    /// Runs a program to completion; its output is the error when it fails.
    fn run(&self, command: &mut Command) -> Result<(), String> {
        let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
        if output.status.success() {
            return Ok(());
        }
        Err(format!(
            "{command:?} exited with {}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }

    /// Creates the directory and the cluster in it, and writes the server's settings.
    fn init(&self) -> Result<(), String> {
        self.make_dir()?;
        self.run(
            self.command("initdb")
                .arg("-D")
                .arg(self.data())
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ])
                // A crash during initdb only loses a cluster that is thrown away anyway.
                .arg("--no-sync"),
        )?;
        // initdb's own file trusts replication from loopback too; said here, so that a standby
        // does not depend on initdb's defaults.
        let hba = self.data().join("pg_hba.conf");
        let mut text = fs::read_to_string(&hba).map_err(|e| format!("{}: {e}", hba.display()))?;
        text.push_str("\nhost replication postgres 127.0.0.1/32 trust\n");
        fs::write(&hba, text).map_err(|e| format!("{}: {e}", hba.display()))?;
        self.configure()
    }

    /// Creates the directory and a copy of the server on `source_port` in it, by
    /// `pg_basebackup -R` (which writes `primary_conninfo` and `standby.signal`, so the copy
    /// starts as a streaming standby of the source), and writes its own settings and `more`.
    fn copy(&self, source_port: u16, more: &str) -> Result<(), String> {
        self.make_dir()?;
        self.run(
            self.command("pg_basebackup")
                .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
                .arg(source_port.to_string())
                .arg("-D")
                .arg(self.data())
                // -X stream: the WAL written during the copy comes with it; --checkpoint=fast:
                // the copy starts at once instead of at the source's next checkpoint.
                .args(["-R", "-X", "stream", "--checkpoint=fast", "--no-sync"]),
        )?;
        self.configure()?;
        self.append_settings(more)
    }

    /// Creates the cluster's directory, owned by the OS user who runs its programs.
    fn make_dir(&self) -> Result<(), String> {
        fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        if self.as_os_user {
            self.run(
                Command::new("chown")
                    .arg(format!("{OS_USER}:"))
                    .arg(&self.dir),
            )?;
        }
        Ok(())
    }

    /// Appends the server's settings to postgresql.conf; the last value of a setting wins, so
    /// appending again moves the server to `self.port` (and a copy of another cluster's
    /// configuration, which names that cluster's port and directory, to its own).
    fn configure(&self) -> Result<(), String> {
        // The postgresql.conf initdb wrote would listen on 5432, the shared server's port.
        let settings = format!(
            "\n# A private test server: {dir}\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{dir}'\n\
             max_connections = 200\n\
             shared_buffers = 64MB\n\
             wal_level = replica\n\
             max_wal_senders = 10\n\
             wal_keep_size = '256MB'\n\
             hot_standby = on\n",
            dir = self.dir.display(),
            port = self.port,
        );
        self.append_settings(&settings)
    }

    /// Appends `settings` to postgresql.conf.
    fn append_settings(&self, settings: &str) -> Result<(), String> {
        let conf = self.data().join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).map_err(|e| format!("{}: {e}", conf.display()))?;
        text.push_str(settings);
        fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))
    }

    /// Starts the server and waits until it reports itself ready.
    fn launch(&self) -> Result<(), String> {
        if accepts(self.port) {
            return Err(format!("port {} is taken by someone else", self.port));
        }
        self.run(
            self.command("pg_ctl")
                .arg("start")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.log())
                .args(["-w", "-t", &START_LIMIT.as_secs().to_string()]),
        )
    }

    /// Shuts the server down in `mode` and waits until its port refuses connections. SIGKILL if
    /// it does not go by itself.
    fn halt(&self, mode: &str) -> Result<(), String> {
        // The shared server is never ours to stop.
        assert!(self.port != 5432 && self.dir.starts_with(std::env::temp_dir()));
        // No postmaster.pid: no server, and pg_ctl would only complain.
        let Some(postmaster) = self.postmaster() else {
            return Ok(());
        };
        let deadline = Instant::now() + STOP_LIMIT;
        let mut report = self
            .run(
                self.command("pg_ctl")
                    .arg("stop")
                    .arg("-D")
                    .arg(self.data())
                    .args(["-m", mode, "-w", "-t", &STOP_LIMIT.as_secs().to_string()]),
            )
            .err()
            .unwrap_or_default();
        if !report.is_empty() && self.is_postmaster(postmaster) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(postmaster.to_string())
                .status();
            report.push_str(&format!("; killed the postmaster, pid {postmaster}"));
        }
        while accepts(self.port) {
            if Instant::now() >= deadline {
                return Err(format!("{report}; port {} still open", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        match report.is_empty() {
            true => Ok(()),
            false => Err(report),
        }
    }

    /// The server's process as its postmaster.pid names it (the file outlives a crash).
    fn postmaster(&self) -> Option<u32> {
        let pid = fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        pid.lines().next()?.trim().parse().ok()
    }

    /// Whether `pid` is still this cluster's postmaster, not a process that reused its pid: the
    /// postmaster works in its data directory.
    fn is_postmaster(&self, pid: u32) -> bool {
        alive(pid) && fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == self.data())
    }
}

/// The server programs of the newest major version installed; none (so PATH) when the system
/// does not lay them out the Debian way.
fn installation() -> PathBuf {
    let versions = fs::read_dir(INSTALLATIONS).into_iter().flatten().flatten();
    versions
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map_or_else(PathBuf::new, |(_, bin)| bin)
}

/// `/proc/self` belongs to the process's effective user: root owns it when the tests run as
/// root. (No `geteuid` call: the workspace forbids `unsafe`.)
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

//! A private Redis server that a test may stop and start again. The shared server at
//! 127.0.0.1:6379 serves every other test and must never be stopped.
//!
//! The server persists nothing (no snapshots, no append-only file): starting it again after a
//! stop begins empty, as a Redis that lost its memory would.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{accepts, free_port, keep_unclaimed, tail};

/// How long the server may take to start and answer PING (it usually needs a few ms).
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long the server may take to exit and close its port.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// A Redis server of the test's own, on its own port, that it may stop and start again.
/// Dropping it kills the server and deletes its directory.
pub struct PrivateRedis {
    port: u16,
    dir: PathBuf,
    server: Option<Child>,
}

impl PrivateRedis {
    /// Starts a fresh server and waits until it answers PING.
    pub async fn start() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("catalog-redis-{id}"));
        fs::create_dir_all(&dir)
            .unwrap_or_else(|err| panic!("the directory {} is made: {err}", dir.display()));
        let mut redis = Self {
            port: free_port(),
            dir,
            server: None,
        };
        // A fresh server takes another port rather than fail on a taken one.
        keep_unclaimed(std::slice::from_mut(&mut redis.port));
        redis.start_again().await;
        redis
    }

    /// The URL of this server.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's loopback port, kept across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the stopped server again, on the same port and empty, and waits until it answers
    /// PING. Returns how long that took.
    pub async fn start_again(&mut self) -> Duration {
        assert!(self.server.is_none(), "the server is already running");
        assert!(
            !accepts(self.port),
            "port {} is taken by someone else",
            self.port
        );
        let started = Instant::now();
        let log = self.log();
        let server = spawn(&self.dir, &log, &server_args(self.port, &self.dir));
        let server = self.server.insert(server);
        wait_until_answering(self.port, None, server, &log).await;
        started.elapsed()
    }

    /// Shuts the server down (SHUTDOWN NOSAVE; SIGKILL if it does not go) and waits until its
    /// port refuses connections. Returns how long that took.
    pub async fn stop(&mut self) -> Duration {
        let mut server = self.server.take().expect("the server is running");
        let started = Instant::now();
        let deadline = started + STOP_LIMIT;
        // The server closes the connection instead of answering: the error is the success.
        let _ = query::<()>(self.port, None, redis::cmd("SHUTDOWN").arg("NOSAVE")).await;
        while server.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = server.kill();
                let _ = server.wait();
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let exited = Instant::now();
        while accepts(self.port) {
            assert!(
                exited.elapsed() < STOP_LIMIT,
                "the private Redis server's port {} is still open after it exited",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed()
    }

    /// Deletes every key.
    pub async fn flush_all(&self) {
        query::<()>(self.port, None, &redis::cmd("FLUSHALL"))
            .await
            .unwrap_or_else(|err| panic!("FLUSHALL: {err}"));
    }

    fn log(&self) -> PathBuf {
        self.dir.join("redis.log")
    }
}

/// The arguments of a data server on loopback `port` that keeps nothing on disk, its working
/// directory `dir`.
pub(super) fn server_args(port: u16, dir: &Path) -> Vec<String> {
    let port = port.to_string();
    let dir = dir.display().to_string();
    [
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        &dir,
    ]
    .map(str::to_string)
    .to_vec()
}

/// Starts `redis-server` with `args` in `dir`, its output appended to `log`.
pub(super) fn spawn(dir: &Path, log: &Path, args: &[String]) -> Child {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("the server's log opens");
    Command::new("redis-server")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the server's log opens twice"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|err| panic!("redis-server: {err}"))
}

/// Waits until the server on `port` answers PING; panics with its log's tail when it exits or
/// does not answer within [`START_LIMIT`] (the caller's drop kills whatever did start).
pub(super) async fn wait_until_answering(
    port: u16,
    password: Option<&str>,
    server: &mut Child,
    log: &Path,
) {
    let deadline = Instant::now() + START_LIMIT;
    loop {
        if query::<String>(port, password, &redis::cmd("PING"))
            .await
            .is_ok()
        {
            return;
        }
        let exited = server.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() >= deadline {
            panic!(
                "the private Redis server on port {port} did not start ({}):\n{}",
                exited.map_or("no PONG".to_string(), |status| status.to_string()),
                tail(log, 30)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `command` on a connection of its own to the server on `port`, signed in with
/// `password` when there is one.
pub(super) async fn query<T: redis::FromRedisValue>(
    port: u16,
    password: Option<&str>,
    command: &redis::Cmd,
) -> redis::RedisResult<T> {
    // The shared server is never ours to flush or shut down.
    assert_ne!(port, 6379);
    let url = catalog_support::lazy_redis::redis_url(&format!("127.0.0.1:{port}"), password)?;
    let client = redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    command.query_async(&mut connection).await
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

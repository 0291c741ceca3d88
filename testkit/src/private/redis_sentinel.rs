//! A private Redis with a replica and three Sentinels, whose primary a test may kill: the
//! Sentinels then promote the replica, as they would in production. Nothing is persisted, so a
//! server started again begins empty, and the Sentinels make it a replica of the new primary.
//!
//! Five processes on loopback ports of their own: the primary, its replica (`replicaof`) and
//! three `redis-server --sentinel`, quorum 2, a server counted down after 1 s. Each Sentinel
//! has its own config file, which it rewrites as it learns the others and follows a failover.
//! [`PrivateRedisSentinel::start_with_password`] puts all five behind one password, as a
//! production set would be: the servers' `requirepass` and `masterauth`, the Sentinels'
//! `requirepass` and `auth-pass`.

use std::fs;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use super::process::{free_ports, keep_unclaimed, rss_kib, tail};
use super::redis::{query, server_args, spawn, wait_until_answering};

/// The name the Sentinels know the primary by (`REDIS_MASTER_NAME`).
const MASTER_NAME: &str = "catalog";
/// A server that has not answered for this long is down, in a Sentinel's view.
const DOWN_AFTER_MS: u64 = 1000;
/// How long one failover attempt may take before another Sentinel tries again.
const FAILOVER_TIMEOUT_MS: u64 = 5000;
/// How long the set may take to start: replication up, every Sentinel knowing the others.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// How long a failover, or a server's return as a replica, may take.
const FAILOVER_LIMIT: Duration = Duration::from_secs(30);
/// Any one question to a server or a Sentinel.
const ASK_LIMIT: Duration = Duration::from_secs(2);

/// Two data servers (a primary and its replica) and three Sentinels watching them. Dropping
/// it kills all five and deletes their directory.
pub struct PrivateRedisSentinel {
    dir: PathBuf,
    /// The data servers: the first starts as the primary.
    servers: [Server; 2],
    sentinels: Vec<Server>,
    /// When the primary was killed, and which server it was.
    killed: Option<(Instant, usize)>,
    /// The one password of every server and Sentinel, if they have one.
    password: Option<String>,
}

struct Server {
    port: u16,
    process: Option<Child>,
}

impl PrivateRedisSentinel {
    /// Starts the primary, its replica and three Sentinels, and waits until the replica is in
    /// sync and every Sentinel knows the replica and the two other Sentinels: only then can a
    /// failover be agreed on.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// [`Self::start`], with every server and Sentinel requiring `password`.
    pub async fn start_with_password(password: &str) -> Self {
        Self::start_with(Some(password.to_string())).await
    }

    async fn start_with(password: Option<String>) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("catalog-redis-sentinel-{id}"));
        fs::create_dir_all(&dir)
            .unwrap_or_else(|err| panic!("the directory {} is made: {err}", dir.display()));
        let mut ports = free_ports(5);
        keep_unclaimed(&mut ports);
        let server = |port| Server {
            port,
            process: None,
        };
        let mut set = Self {
            dir,
            servers: [server(ports[0]), server(ports[1])],
            sentinels: ports[2..].iter().map(|&port| server(port)).collect(),
            killed: None,
            password,
        };
        let primary = set.servers[0].port;
        set.start_server(0, &[]).await;
        set.start_server(1, &["--replicaof", "127.0.0.1", &primary.to_string()])
            .await;
        set.wait_in_sync(1).await;
        for n in 0..set.sentinels.len() {
            set.start_sentinel(n, primary).await;
        }
        set.wait_sentinels_know_everyone().await;
        set
    }

    /// `host:port` of every Sentinel (`REDIS_SENTINELS`, joined with commas).
    pub fn sentinels(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect()
    }

    /// The name the Sentinels know the primary by (`REDIS_MASTER_NAME`).
    pub fn master_name(&self) -> &str {
        MASTER_NAME
    }

    /// The primary's port, as the first Sentinel that answers names it.
    pub async fn current_primary(&self) -> u16 {
        for sentinel in &self.sentinels {
            if sentinel.process.is_none() {
                continue;
            }
            let asked = self
                .ask::<(String, u16)>(
                    sentinel.port,
                    redis::cmd("SENTINEL")
                        .arg("get-master-addr-by-name")
                        .arg(MASTER_NAME),
                )
                .await;
            if let Ok((_, port)) = asked {
                return port;
            }
        }
        panic!("no Sentinel names the primary")
    }

    /// SIGKILLs the primary, as a machine that dies would leave it.
    pub async fn kill_primary(&mut self) {
        let primary = self.current_primary().await;
        let n = self
            .servers
            .iter()
            .position(|s| s.port == primary)
            .expect("the primary is one of the set's servers");
        let mut process = self.servers[n]
            .process
            .take()
            .expect("the primary is running");
        let _ = process.kill();
        let _ = process.wait();
        self.killed = Some((Instant::now(), n));
    }

    /// Waits until the Sentinels have promoted the replica and it acts as the primary; returns
    /// the time since [`Self::kill_primary`].
    pub async fn wait_failover(&self) -> Duration {
        let (killed_at, n) = self.killed.expect("the primary was killed");
        let old = self.servers[n].port;
        let deadline = killed_at + FAILOVER_LIMIT;
        loop {
            let primary = self.current_primary().await;
            if primary != old && self.role(primary).await.as_deref() == Some("master") {
                return killed_at.elapsed();
            }
            assert!(
                Instant::now() < deadline,
                "no failover within {FAILOVER_LIMIT:?} of killing the primary:\n{}",
                tail(&self.dir.join("sentinel-0.log"), 30)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the killed primary again, empty and on its old port, as it would come back with
    /// its own configuration (a primary of its own), and waits until the Sentinels have made
    /// it a replica of the new primary, in sync. Returns how long that took.
    pub async fn start_again_old_primary(&mut self) -> Duration {
        let (_, n) = self.killed.take().expect("the primary was killed");
        let started = Instant::now();
        self.start_server(n, &[]).await;
        self.wait_in_sync(n).await;
        started.elapsed()
    }

    /// Resident memory of each of the five processes, in KiB, by name (`primary`, `replica`,
    /// `sentinel-0`…): the servers by their role now.
    pub async fn memory_kib(&self) -> Vec<(String, u64)> {
        let primary = self.current_primary().await;
        let servers = self.servers.iter().map(|s| {
            let name = if s.port == primary {
                "primary"
            } else {
                "replica"
            };
            (name.to_string(), s)
        });
        let sentinels =
            (self.sentinels.iter().enumerate()).map(|(n, s)| (format!("sentinel-{n}"), s));
        servers
            .chain(sentinels)
            .filter_map(|(name, s)| Some((name, rss_kib(s.process.as_ref()?.id())?)))
            .collect()
    }

    async fn start_server(&mut self, n: usize, more: &[&str]) {
        let port = self.servers[n].port;
        let dir = self.dir.join(format!("server-{n}"));
        fs::create_dir_all(&dir).expect("the server's directory is made");
        let log = self.dir.join(format!("server-{n}.log"));
        let mut args = server_args(port, &dir);
        if let Some(password) = &self.password {
            // Either server may become the primary, or a replica of the other.
            for (option, value) in [("--requirepass", password), ("--masterauth", password)] {
                args.extend([option.to_string(), value.clone()]);
            }
        }
        args.extend(more.iter().map(|arg| (*arg).to_string()));
        let process = self.servers[n].process.insert(spawn(&dir, &log, &args));
        wait_until_answering(port, self.password.as_deref(), process, &log).await;
    }

    /// Sentinel rewrites its config file as it learns the set, so each has a writable file of
    /// its own in the set's directory.
    async fn start_sentinel(&mut self, n: usize, primary: u16) {
        let port = self.sentinels[n].port;
        let config = self.dir.join(format!("sentinel-{n}.conf"));
        fs::write(
            &config,
            format!(
                "bind 127.0.0.1\n\
                 port {port}\n\
                 daemonize no\n\
                 dir {dir}\n\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2\n\
                 sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n\
                 sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n\
                 {auth}",
                dir = self.dir.display(),
                // Clients, and the other Sentinels, sign in with `requirepass`; the servers
                // are signed in to with `auth-pass`.
                auth = self
                    .password
                    .as_ref()
                    .map_or_else(String::new, |password| format!(
                        "requirepass {password}\nsentinel auth-pass {MASTER_NAME} {password}\n"
                    )),
            ),
        )
        .expect("the Sentinel's config is written");
        let log = self.dir.join(format!("sentinel-{n}.log"));
        let args = [config.display().to_string(), "--sentinel".to_string()];
        let process = self.sentinels[n]
            .process
            .insert(spawn(&self.dir, &log, &args));
        wait_until_answering(port, self.password.as_deref(), process, &log).await;
    }

    /// Waits until server `n` is a replica whose link to its primary is up and synced.
    async fn wait_in_sync(&self, n: usize) {
        let port = self.servers[n].port;
        let deadline = Instant::now() + FAILOVER_LIMIT.max(SETTLE_LIMIT);
        loop {
            let info = self
                .ask::<redis::InfoDict>(port, redis::cmd("INFO").arg("replication"))
                .await;
            let synced = info.is_ok_and(|info| {
                info.get::<String>("role").as_deref() == Some("slave")
                    && info.get::<String>("master_link_status").as_deref() == Some("up")
                    && info.get::<i64>("master_sync_in_progress") == Some(0)
            });
            if synced {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server {n} on port {port} is not an up-to-date replica:\n{}",
                tail(&self.dir.join(format!("server-{n}.log")), 30)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every Sentinel has found the replica and the two other Sentinels (they
    /// announce themselves through the primary every 2 s).
    async fn wait_sentinels_know_everyone(&self) {
        let deadline = Instant::now() + SETTLE_LIMIT;
        for (n, sentinel) in self.sentinels.iter().enumerate() {
            loop {
                let count = |sub: &'static str| async move {
                    self.ask::<Vec<redis::Value>>(
                        sentinel.port,
                        redis::cmd("SENTINEL").arg(sub).arg(MASTER_NAME),
                    )
                    .await
                    .map_or(0, |list| list.len())
                };
                if count("replicas").await >= 1 && count("sentinels").await >= 2 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "Sentinel {n} did not find the replica and the other Sentinels:\n{}",
                    tail(&self.dir.join(format!("sentinel-{n}.log")), 30)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// [`query`], signed in and bounded: a server that hangs fails the question instead of the
    /// test.
    async fn ask<T: redis::FromRedisValue>(
        &self,
        port: u16,
        command: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        tokio::time::timeout(ASK_LIMIT, query(port, self.password.as_deref(), command))
            .await
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "no answer in time",
                )))
            })
    }

    /// What the server on `port` says it is (`master`, `slave`), if it answers.
    async fn role(&self, port: u16) -> Option<String> {
        let role = self
            .ask::<Vec<redis::Value>>(port, &redis::cmd("ROLE"))
            .await
            .ok()?;
        match role.first()? {
            redis::Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
            redis::Value::SimpleString(text) => Some(text.clone()),
            _ => None,
        }
    }
}

impl Drop for PrivateRedisSentinel {
    fn drop(&mut self) {
        // The Sentinels first, so that none starts a failover while the servers go.
        for server in self.sentinels.iter_mut().chain(self.servers.iter_mut()) {
            if let Some(mut process) = server.process.take() {
                let _ = process.kill();
                let _ = process.wait();
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

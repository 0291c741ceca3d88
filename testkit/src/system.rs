//! The whole of Catalog as the processes operators run — the `command-api`, `query-api` and
//! `projector` binaries — on a test's own database, namespace and blob directory, each on a
//! loopback port of its own and logging JSON lines to a file the test can read. Dropping the
//! [`System`] kills whatever still runs and deletes the namespace; the logs of a failed test
//! are kept and their place printed.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use catalog_read_model::redis::RedisReadModel;
use catalog_store::broker::Topology;
use serde_json::Value;
use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::{database_url, delete_namespace, eventually, AMQP_URL, REDIS_URL, SECRET};

/// The processes a [`System`] runs, each from its workspace binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// `command-api serve`: the write API, with its outbox relay.
    CommandApi,
    /// `query-api`: the read API.
    QueryApi,
    /// `projector run`: keeps the read models.
    Projector,
    /// `projector images`: the image worker.
    ImageWorker,
    /// `projector webhooks`: the webhook dispatcher. Not in [`Service::ALL`]: only the tests
    /// of webhook delivery need it.
    Webhooks,
}

impl Service {
    /// Every service: `System::start(pool, &Service::ALL, &[])` runs the whole of Catalog.
    pub const ALL: [Service; 4] = [
        Service::CommandApi,
        Service::QueryApi,
        Service::Projector,
        Service::ImageWorker,
    ];

    /// Every service a [`System`] can run: each gets a port of its own.
    const EVERY: [Service; 5] = [
        Service::CommandApi,
        Service::QueryApi,
        Service::Projector,
        Service::ImageWorker,
        Service::Webhooks,
    ];

    /// The service's name in messages and in its log file's name: `image-worker` for the image
    /// worker, whose binary is `projector`.
    pub fn name(self) -> &'static str {
        match self {
            Service::CommandApi => "command-api",
            Service::QueryApi => "query-api",
            Service::Projector => "projector",
            Service::ImageWorker => "image-worker",
            Service::Webhooks => "webhooks",
        }
    }

    fn command(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Service::CommandApi => ("command-api", &["serve"]),
            Service::QueryApi => ("query-api", &[]),
            Service::Projector => ("projector", &["run"]),
            Service::ImageWorker => ("projector", &["images"]),
            Service::Webhooks => ("projector", &["webhooks"]),
        }
    }

    /// The variable naming where the service listens (its API, or its metrics and health).
    fn addr_var(self) -> &'static str {
        match self {
            Service::CommandApi => "COMMAND_API_ADDR",
            Service::QueryApi => "QUERY_API_ADDR",
            Service::Projector => "PROJECTOR_HTTP_ADDR",
            Service::ImageWorker => "IMAGE_WORKER_HTTP_ADDR",
            Service::Webhooks => "WEBHOOK_HTTP_ADDR",
        }
    }
}

/// A workspace binary, built next to the running one: a test binary lives in
/// `target/<profile>/deps` and the workspace's test run builds every binary of the workspace
/// into `target/<profile>`; a tool binary lives in `target/<profile>` itself.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the running binary has a path");
    let mut dir = exe.parent().expect("a binary lives in a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("deps lives in target/<profile>");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests of the whole workspace (cargo nextest run --workspace)",
        path.display()
    );
    path
}

/// Below the kernel's ephemeral range, like the private instances' ports: a port from that
/// range can be taken by any outgoing connection before the service binds it.
pub use crate::private::free_port;

struct Running {
    child: Child,
}

/// The whole of Catalog as separate processes; see the module's doc.
pub struct System {
    /// The test's own database, which every service's `DATABASE_URL` names, with the
    /// read-model tables of this release's generation (see [`crate::read_model_pool`]).
    pub pool: PgPool,
    /// `s<uuid>`: the services' `CATALOG_NAMESPACE`.
    pub namespace: String,
    /// A token with every scope (write, audit, admin).
    pub token: String,
    /// The client of the test's requests, with a 30-second timeout.
    pub client: reqwest::Client,
    /// The Redis read model in the system's namespace, on the `REDIS_URL` the services started
    /// with.
    pub redis: RedisReadModel,
    env: Vec<(String, String)>,
    addrs: HashMap<Service, SocketAddr>,
    running: HashMap<Service, Running>,
    dir: PathBuf,
    /// Keep the services' logs when dropped, as after a failed test.
    keep_logs: bool,
    /// Replicas started so far, for their log files' names.
    replicas: usize,
}

/// One more process of a service, started by [`System::start_replica`]; killed when dropped.
pub struct Replica {
    /// The service this process is one more of.
    pub service: Service,
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
}

impl Replica {
    /// The replica's base URL: its API, or the projector's and image worker's `/metrics` and
    /// `/health/*`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the process without warning (SIGKILL).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Every JSON line the replica has logged so far.
    pub fn logs(&self) -> Vec<Value> {
        read_logs(&self.log)
    }
}

impl System {
    /// Starts `services` and waits until each is ready. `env` adds or overrides variables.
    pub async fn start(pool: PgPool, services: &[Service], env: &[(&str, &str)]) -> Self {
        let namespace = format!("s{}", uuid::Uuid::new_v4().simple());
        let dir = std::env::temp_dir().join(format!("catalog-system-{namespace}"));
        std::fs::create_dir_all(dir.join("logs")).expect("the system's directory can be made");
        let addrs: HashMap<Service, SocketAddr> = Service::EVERY
            .into_iter()
            .zip(crate::private::free_ports(Service::EVERY.len()))
            .map(|(s, port)| (s, SocketAddr::from(([127, 0, 0, 1], port))))
            .collect();
        let mut vars: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database_url(&pool)),
            ("REDIS_URL".into(), REDIS_URL.into()),
            ("AMQP_URL".into(), AMQP_URL.into()),
            ("CATALOG_NAMESPACE".into(), namespace.clone()),
            (
                "BLOB_STORE".into(),
                format!("file://{}", dir.join("blobs").display()),
            ),
            ("JWT_SECRET".into(), SECRET.into()),
            ("LOG_FORMAT".into(), "json".into()),
            ("RUST_LOG".into(), "info".into()),
            ("MIGRATE_ON_START".into(), "false".into()),
            ("RELAY_POLL_INTERVAL_MS".into(), "100".into()),
            // Tests drive hundreds of commands a second from one client.
            ("RATE_LIMIT_PER_SECOND".into(), "0".into()),
            ("IMAGE_CONCURRENCY".into(), "2".into()),
            ("PROJECTOR_STATUS_EVERY_SECS".into(), "1".into()),
        ];
        for (service, addr) in &addrs {
            vars.push((service.addr_var().into(), addr.to_string()));
        }
        for (key, value) in env {
            set(&mut vars, key, value);
        }
        // The services' own reading of REDIS_URL and REDIS_SENTINELS, so that the system's
        // handle reaches the Redis they write to.
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let redis_settings = catalog_support::config::from_pairs(&pairs)
            .redis_settings()
            .expect("valid Redis settings");
        let redis = RedisReadModel::connect(&redis_settings, &namespace)
            .await
            .expect("Redis answers");
        let mut system = Self {
            token: crate::issue(
                SECRET,
                "system-tester",
                "catalog:write catalog:audit catalog:admin",
            ),
            pool: crate::read_model_pool(&pool),
            namespace,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client"),
            redis,
            env: vars,
            addrs,
            running: HashMap::new(),
            dir,
            keep_logs: false,
            replicas: 0,
        };
        for service in services {
            system.start_service(*service).await;
        }
        system
    }

    /// Starts `service` (again) on its port and waits until it is ready.
    pub async fn start_service(&mut self, service: Service) {
        self.spawn(service);
        self.wait_until_ready(&self.url(service), service.name(), &self.log_path(service))
            .await;
        // Another process on the port would answer the readiness probe for a service that
        // could not bind it.
        let exited = self
            .running
            .get_mut(&service)
            .and_then(|running| running.child.try_wait().ok().flatten());
        assert!(
            exited.is_none(),
            "{} exited ({exited:?}) although its port answered; its log: {}",
            service.name(),
            self.log_path(service).display()
        );
    }

    async fn wait_until_ready(&self, base: &str, what: &str, log: &Path) {
        let ready = format!("{base}/health/ready");
        let client = &self.client;
        let answered = eventually(Duration::from_secs(60), || async {
            let response = client.get(&ready).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
        assert!(
            answered.is_some(),
            "{what} did not become ready; its log: {}",
            log.display()
        );
    }

    /// Starts `service` without waiting for it.
    pub fn spawn(&mut self, service: Service) {
        assert!(
            !self.running.contains_key(&service),
            "{} runs already",
            service.name()
        );
        let child = self.launch(service, self.addrs[&service], &self.log_path(service), &[]);
        self.running.insert(service, Running { child });
    }

    fn launch(
        &self,
        service: Service,
        addr: SocketAddr,
        log: &Path,
        env: &[(String, String)],
    ) -> Child {
        let (program, args) = service.command();
        // Appended to, so the log of a restarted service holds every run.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the log file opens");
        Command::new(binary(program))
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(service.addr_var(), addr.to_string())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program} starts: {e}"))
    }

    /// Starts one more process of `service`, as a second replica would run: the same
    /// configuration, its own port and log file (`<service>-<n>.log`), and `env` on top. Waits
    /// until it is ready.
    pub async fn start_replica(&mut self, service: Service, env: &[(&str, &str)]) -> Replica {
        self.replicas += 1;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = self
            .dir
            .join("logs")
            .join(format!("{}-{}.log", service.name(), self.replicas));
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = self.launch(service, addr, &log, &env);
        let replica = Replica {
            service,
            child: Some(child),
            addr,
            log,
        };
        let what = format!("a replica of {}", service.name());
        self.wait_until_ready(&replica.url(), &what, &replica.log)
            .await;
        replica
    }

    /// The value of one of the services' environment variables.
    pub fn var(&self, key: &str) -> &str {
        value(&self.env, key)
    }

    /// Sets one of the services' environment variables for the services started from now on:
    /// with `start(pool, &[], ..)` first, a variable can name another service's address.
    pub fn set_var(&mut self, key: &str, value: &str) {
        set(&mut self.env, key, value);
    }

    /// Keeps the services' logs after the system is dropped; returns where they are.
    pub fn keep_logs(&mut self) -> PathBuf {
        self.keep_logs = true;
        self.dir.join("logs")
    }

    /// The directory of the services' blob store.
    pub fn blob_dir(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    /// Whether `service` was started and has not been stopped by the test.
    pub fn is_running(&self, service: Service) -> bool {
        self.running.contains_key(&service)
    }

    /// Runs a workspace binary to completion with the services' environment (`projector
    /// verify`, say), killing it after `limit`.
    pub async fn run_tool(
        &self,
        program: &str,
        args: &[&str],
        limit: Duration,
    ) -> std::io::Result<std::process::Output> {
        self.run_tool_with_input(program, args, &[], limit).await
    }

    /// [`System::run_tool`] with `input` on the program's standard input (`command-api user
    /// add` reads the password there), closed after it.
    pub async fn run_tool_with_input(
        &self,
        program: &str,
        args: &[&str],
        input: &[u8],
        limit: Duration,
    ) -> std::io::Result<std::process::Output> {
        let mut child = Command::new(binary(program))
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("LOG_FORMAT", "text")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        // A few bytes: written at once into the pipe's buffer, which holds far more.
        let stdin = child
            .stdin
            .take()
            .expect("stdin is piped")
            .into_owned_fd()?;
        std::io::Write::write_all(&mut std::fs::File::from(stdin), input)?;
        tokio::time::timeout(limit, child.wait_with_output())
            .await
            .map_err(|_| std::io::Error::other(format!("{program} ran over {limit:?}")))?
    }

    /// The base URL of `service`: its API, or the projector's and image worker's `/metrics`
    /// and `/health/*`. The port is chosen at start and kept across restarts.
    pub fn url(&self, service: Service) -> String {
        format!("http://{}", self.addrs[&service])
    }

    /// The file that receives `service`'s log (its stderr), appended to by every run.
    pub fn log_path(&self, service: Service) -> PathBuf {
        self.dir
            .join("logs")
            .join(format!("{}.log", service.name()))
    }

    /// Sends SIGTERM and waits (at most `limit`) for the process to exit.
    pub async fn terminate(&mut self, service: Service, limit: Duration) -> ExitStatus {
        let mut running = self
            .running
            .remove(&service)
            .unwrap_or_else(|| panic!("{} is not running", service.name()));
        let pid = running.child.id().expect("a running child has a pid");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM reached {}", service.name());
        match tokio::time::timeout(limit, running.child.wait()).await {
            Ok(status) => status.expect("the exit status is read"),
            Err(_) => panic!(
                "{} did not exit within {limit:?} of SIGTERM",
                service.name()
            ),
        }
    }

    /// Kills the process without warning (SIGKILL).
    pub async fn kill(&mut self, service: Service) {
        if let Some(mut running) = self.running.remove(&service) {
            let _ = running.child.start_kill();
            let _ = running.child.wait().await;
        }
    }

    /// Every JSON line the service has logged so far.
    pub fn logs(&self, service: Service) -> Vec<Value> {
        read_logs(&self.log_path(service))
    }

    /// The service's `/metrics` text.
    pub async fn metrics(&self, service: Service) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.url(service)))
            .send()
            .await
            .expect("/metrics answers");
        assert!(response.status().is_success(), "{}", response.status());
        response.text().await.expect("the metrics are text")
    }
}

impl Drop for System {
    fn drop(&mut self) {
        for running in self.running.values_mut() {
            let _ = running.child.start_kill();
        }
        let shards = self
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PROJECTOR_SHARDS")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(1);
        let topology = Topology::new(&self.namespace).with_shards(shards);
        delete_namespace(self.var("AMQP_URL"), self.var("REDIS_URL"), topology);
        if std::thread::panicking() || self.keep_logs {
            eprintln!(
                "the services' logs are kept in {}",
                self.dir.join("logs").display()
            );
            let _ = std::fs::remove_dir_all(self.dir.join("blobs"));
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// How many of a service's log lines have `message` as their message.
pub fn logged(logs: &[Value], message: &str) -> usize {
    logs.iter()
        .filter(|line| line["message"].as_str() == Some(message))
        .count()
}

fn read_logs(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Sets `key`, replacing any earlier value.
fn set(vars: &mut Vec<(String, String)>, key: &str, value: &str) {
    vars.retain(|(k, _)| k != key);
    vars.push((key.to_string(), value.to_string()));
}

fn value<'a>(vars: &'a [(String, String)], key: &str) -> &'a str {
    vars.iter().rev().find(|(k, _)| k == key).map_or_else(
        || panic!("{key} is set for every service"),
        |(_, v)| v.as_str(),
    )
}

/// Whether `value` holds `key` with `expected` anywhere inside it: a log line's fields sit at
/// its top level or in the span objects it carries.
pub fn mentions(value: &Value, key: &str, expected: &str) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| (k == key && v.as_str() == Some(expected)) || mentions(v, key, expected)),
        Value::Array(items) => items.iter().any(|v| mentions(v, key, expected)),
        _ => false,
    }
}

/// The value of the Prometheus series `name` whose labels include every one of `labels`, summed
/// over the series that match (None when none does).
pub fn series(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let all = labels
            .iter()
            .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")));
        if all {
            let value: f64 = value.parse().unwrap_or(f64::NAN);
            total = Some(total.unwrap_or(0.0) + value);
        }
    }
    total
}

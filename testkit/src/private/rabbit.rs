//! A private RabbitMQ node that a test may stop and start again. The shared broker at
//! 127.0.0.1:5672 serves every other test and must never be stopped.
//!
//! The node runs from the system's RabbitMQ installation with its own name, ports, Erlang
//! cookie, configuration, plugins, data and logs, all under one temporary directory. Stopping
//! it halts the Erlang VM; starting it again reuses the data directory, so durable queues and
//! persistent messages survive the outage. Dropping it stops the node and deletes the directory.
//!
//! [`Node`] is how every private node is started and stopped, alone here or as a member of a
//! [`super::PrivateRabbitCluster`].

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::process::{accepts, alive, free_ports, keep_unclaimed, tail};

/// How long the node may take to boot (it usually needs about 5 s).
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long the node may take to stop and leave the system.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// Marks the node's own processes, so they can be found (and only they) if all else fails.
const MARKER: &str = "CATALOG_PRIVATE_RABBIT";

/// The server scripts themselves, not the Debian wrappers on PATH: run as root, those switch to
/// the `rabbitmq` user, who could not write the node's directory and would use the shared
/// node's cookie.
const SCRIPTS: &str = "/usr/lib/rabbitmq/bin";

/// One private RabbitMQ node: its name, ports and directory, and how to boot and halt it.
#[derive(Debug, Clone)]
pub(super) struct Node {
    /// `catalog-test-…@localhost`: the prefix is what `halt` checks before stopping anything.
    pub(super) name: String,
    /// The AMQP listener on 127.0.0.1.
    pub(super) port: u16,
    /// Erlang distribution (RABBITMQ_DIST_PORT): between cluster members and from the CLI.
    pub(super) dist_port: u16,
    /// Configuration, cookie, data and logs; also the node's and its CLI's $HOME.
    pub(super) dir: PathBuf,
    /// The Erlang name service the node registers with and its CLI asks: a cluster's own
    /// epmd, or the system's (4369) when `None`.
    pub(super) epmd_port: Option<u16>,
}

/// A RabbitMQ node of the test's own, on its own ports and data, that it may stop and start
/// again. Dropping it stops the node and deletes its directory.
pub struct PrivateRabbit {
    process: NodeProcess,
}

impl PrivateRabbit {
    /// Starts a fresh node and waits until it accepts AMQP connections.
    pub async fn start() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        // AMQP and Erlang distribution; a fresh node takes other ports rather than fail on a
        // taken one.
        let mut ports = free_ports(2);
        keep_unclaimed(&mut ports);
        let node = Node {
            name: format!("catalog-test-{}@localhost", &id[..12]),
            port: ports[0],
            dist_port: ports[1],
            dir: std::env::temp_dir().join(format!("catalog-rabbit-{id}")),
            epmd_port: None,
        };
        node.prepare(&uuid::Uuid::new_v4().simple().to_string())
            .expect("the node's directory is prepared");
        let mut rabbit = Self {
            process: NodeProcess::new(node),
        };
        rabbit.start_again().await;
        rabbit
    }

    /// The URL of the node's default vhost, as `guest`.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port())
    }

    /// The node's loopback AMQP port, kept across restarts.
    pub fn port(&self) -> u16 {
        self.process.node.port
    }

    /// Starts the stopped node again, on the same ports and data, and waits until it accepts
    /// AMQP connections. Returns how long that took.
    pub async fn start_again(&mut self) -> Duration {
        self.process.boot().await
    }

    /// Stops the node (the whole VM, so its port closes) and waits until its port refuses
    /// connections. Returns how long that took.
    pub async fn stop(&mut self) -> Duration {
        self.process.stop().await
    }
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        self.process.halt_if_running();
        let _ = fs::remove_dir_all(&self.process.node.dir);
    }
}

/// A private node and what is known of its VM: how [`PrivateRabbit`] and each member of a
/// [`super::PrivateRabbitCluster`] start, stop and drop one.
pub(super) struct NodeProcess {
    pub(super) node: Node,
    /// The OS process of the running node's VM.
    pub(super) pid: Option<u32>,
    /// Whether the node may be running (it may be half-started after a failed start).
    pub(super) maybe_running: bool,
}

impl NodeProcess {
    /// `node`, not started.
    pub(super) fn new(node: Node) -> Self {
        Self {
            node,
            pid: None,
            maybe_running: false,
        }
    }

    /// Boots the stopped node on its ports and data and waits until it is ready; returns how
    /// long that took. Panics with the node's log when it does not start (dropping the owner
    /// stops whatever did).
    pub(super) async fn boot(&mut self) -> Duration {
        assert!(
            !self.maybe_running,
            "the node {} is already running",
            self.node.name
        );
        self.maybe_running = true;
        let node = self.node.clone();
        let started = Instant::now();
        let booted = tokio::task::spawn_blocking(move || node.boot())
            .await
            .expect("the boot task ran");
        match booted {
            Ok(pid) => {
                self.pid = Some(pid);
                started.elapsed()
            }
            Err(err) => panic!(
                "the private RabbitMQ node {} did not start: {err}\n--- node log (tail) ---\n{}",
                self.node.name,
                self.node.log_tail()
            ),
        }
    }

    /// Stops the node (the whole VM) and waits until its port refuses connections. Returns how
    /// long that took.
    pub(super) async fn stop(&mut self) -> Duration {
        assert!(
            self.maybe_running,
            "the node {} is not running",
            self.node.name
        );
        let node = self.node.clone();
        let pid = self.pid.take();
        let started = Instant::now();
        let stopped = tokio::task::spawn_blocking(move || node.halt(pid))
            .await
            .expect("the stop task ran");
        self.maybe_running = false;
        stopped.unwrap_or_else(|err| panic!("the node {} did not stop: {err}", self.node.name));
        started.elapsed()
    }

    /// Halts the node if it may be running: what dropping its owner does.
    pub(super) fn halt_if_running(&self) {
        if self.maybe_running {
            if let Err(err) = self.node.halt(self.pid) {
                eprintln!("private RabbitMQ node {}: {err}", self.node.name);
            }
        }
    }
}

impl Node {
    /// Writes the node's cookie, configuration and plugin list into its fresh directory. The
    /// members of a cluster share one `cookie`: it is what lets them (and their CLI) connect.
    pub(super) fn prepare(&self, cookie: &str) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        // Not the system's rabbitmq-env.conf: it names the shared node.
        fs::write(
            self.dir.join("rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS=127.0.0.1\n",
        )?;
        // Not the system's rabbitmq.conf: it binds the shared node's port.
        fs::write(
            self.dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = 127.0.0.1:{}\nlog.console = false\n",
                self.port
            ),
        )?;
        // No management plugin: it would bind the fixed port 15672. The consistent-hash
        // exchange, for sharded projectors.
        fs::write(
            self.dir.join("enabled_plugins"),
            "[rabbitmq_consistent_hash_exchange].\n",
        )?;
        // The node and the CLI find the cookie in $HOME, which is this directory.
        let path = self.dir.join(".erlang.cookie");
        let mut file = fs::File::create(&path)?;
        file.write_all(cookie.as_bytes())?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400))
    }

    /// Environment shared by the server and the CLI.
    fn command(&self, script: &str) -> Command {
        let installed = Path::new(SCRIPTS).join(script);
        let mut command = match installed.exists() {
            true => Command::new(installed),
            // Other installations put the scripts themselves on PATH.
            false => Command::new(script),
        };
        command
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env("RABBITMQ_CONF_ENV_FILE", self.dir.join("rabbitmq-env.conf"))
            .env("ERL_FLAGS", "-kernel inet_dist_use_interface {127,0,0,1}")
            .env("ERL_CRASH_DUMP", self.dir.join("erl_crash.dump"))
            .stdin(Stdio::null());
        if let Some(port) = self.epmd_port {
            // Read by every Erlang VM, the node's and the CLI's alike.
            command.env("ERL_EPMD_PORT", port.to_string());
        }
        command
    }

    /// Runs `rabbitmqctl -n <node> <args>`, killing it after `limit`.
    pub(super) fn ctl(&self, args: &[&str], limit: Duration) -> Result<Output, String> {
        self.cli("rabbitmqctl", args, limit)
    }

    /// Runs one of the CLI tools (`rabbitmqctl`, `rabbitmq-queues`, …) against this node,
    /// killing it after `limit`.
    pub(super) fn cli(&self, tool: &str, args: &[&str], limit: Duration) -> Result<Output, String> {
        let mut command = self.command(tool);
        command
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| format!("{tool}: {e}"))?;
        let deadline = Instant::now() + limit;
        loop {
            if child.try_wait().map_err(|e| e.to_string())?.is_some() {
                return child.wait_with_output().map_err(|e| e.to_string());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{tool} {args:?} took over {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Launches the node detached and waits until it is ready; returns its VM's OS pid.
    pub(super) fn boot(&self) -> Result<u32, String> {
        if accepts(self.port) {
            return Err(format!("port {} is taken by someone else", self.port));
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("launch.log"))
            .map_err(|e| e.to_string())?;
        let status = self
            .command("rabbitmq-server")
            .arg("-detached")
            .env(MARKER, &self.name)
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_PID_FILE", self.dir.join("node.pid"))
            // The node shares a small machine with the system under test (and, in a cluster,
            // with two more nodes): schedulers that spin while idle would take the CPU the
            // others need.
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "+sbwt none +sbwtdcpu none +sbwtdio none",
            )
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .status()
            .map_err(|e| format!("rabbitmq-server: {e}"))?;
        if !status.success() {
            return Err(format!("rabbitmq-server -detached exited with {status}"));
        }
        // The listener opens near the end of the boot: poll it cheaply first (every CLI call
        // starts an Erlang VM), then let the node confirm that it has fully started.
        let deadline = Instant::now() + START_LIMIT;
        while !accepts(self.port) {
            if Instant::now() >= deadline {
                return Err(format!(
                    "port {} still closed after {START_LIMIT:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = left.as_secs().max(1).to_string();
        let output = self.ctl(
            &["await_startup", "--timeout", &timeout],
            left + Duration::from_secs(5),
        )?;
        if !output.status.success() {
            return Err(format!(
                "await_startup failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        self.find_vm()
            .ok_or_else(|| "the node runs, but its VM process was not found".to_string())
    }

    /// Stops the node's VM and waits until it is gone and its port refuses connections.
    /// SIGKILL if it does not go by itself.
    pub(super) fn halt(&self, pid: Option<u32>) -> Result<(), String> {
        // The shared broker is never ours to stop.
        assert!(self.name.starts_with("catalog-test-") && self.port != 5672);
        let pid = pid.or_else(|| self.find_vm());
        let deadline = Instant::now() + STOP_LIMIT;
        let stopped = self.ctl(&["stop"], STOP_LIMIT);
        let mut report = match &stopped {
            Ok(output) if output.status.success() => String::new(),
            Ok(output) => format!(
                "rabbitmqctl stop failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(err) => err.clone(),
        };
        if let Some(pid) = pid {
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if alive(pid) {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
                report.push_str(&format!("; killed pid {pid} after {STOP_LIMIT:?}"));
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        while accepts(self.port) {
            if Instant::now() >= deadline {
                return Err(format!("{report}; port {} still open", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        match (pid, report.is_empty()) {
            (Some(_), _) | (None, true) => Ok(()),
            (None, false) => Err(report),
        }
    }

    /// The node's Erlang VM: the beam.smp process started with this node's marker.
    pub(super) fn find_vm(&self) -> Option<u32> {
        let marker = format!("{MARKER}={}", self.name);
        fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = fs::read_to_string(entry.path().join("comm")).ok()?;
            if comm.trim() != "beam.smp" {
                return None;
            }
            let environ = fs::read(entry.path().join("environ")).ok()?;
            environ
                .split(|b| *b == 0)
                .any(|var| var == marker.as_bytes())
                .then_some(pid)
        })
    }

    pub(super) fn log_tail(&self) -> String {
        let mut log = tail(&self.dir.join("launch.log"), 30);
        log.push_str(&tail(
            &self.dir.join("log").join(format!("{}.log", self.name)),
            30,
        ));
        log
    }
}

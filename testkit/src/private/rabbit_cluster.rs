//! A private three-node RabbitMQ cluster on loopback, whose nodes a test may kill, stop and
//! start again one at a time. The shared broker at 127.0.0.1:5672 serves every other test and
//! is never part of it.
//!
//! Each node is a [`Node`] as the single private node is: its own name, AMQP and distribution
//! ports, configuration, plugins (the consistent-hash exchange), data and logs under its own
//! directory. What makes them one cluster: one Erlang cookie, and one name service, an `epmd`
//! of the cluster's own on a port of its own. The system's epmd (4369) would do, as it is only a
//! name service and the names are unique, but then the first node to start on a machine
//! without one would leave a daemon behind, and a test's cluster would depend on a process it
//! does not own; the cluster's epmd lives and dies with the cluster. Nodes 2 and 3 join node 1
//! (`stop_app`, `join_cluster`, `start_app`) and the cluster is handed over once
//! `cluster_status` lists all three running. Dropping it stops every node and the name service
//! and deletes every directory.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{accepts, alive, free_ports, keep_unclaimed, rss_kib};
use super::rabbit::{Node, NodeProcess};

/// How many nodes the cluster has: a quorum survives the loss of one.
pub const NODES: usize = 3;
/// How long the nodes may take to join and all report running.
const FORM_LIMIT: Duration = Duration::from_secs(120);
/// How long one CLI command may take (each starts an Erlang VM of its own).
const CLI_LIMIT: Duration = Duration::from_secs(60);
/// How long a killed node's VM may take to vanish and its port to close.
const KILL_LIMIT: Duration = Duration::from_secs(10);

/// Three RabbitMQ nodes of the test's own, clustered, on their own ports and data. Dropping it
/// stops them and deletes their directories.
pub struct PrivateRabbitCluster {
    nodes: Vec<NodeProcess>,
    /// The cluster's own Erlang name service.
    epmd: Option<Child>,
    epmd_port: u16,
    /// Holds the cluster's directories (each node's, and the name service's log).
    dir: PathBuf,
    started_in: Duration,
}

/// Where a queue lives in the cluster: nodes by their index, 0 to 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlacement {
    /// The queue's name.
    pub name: String,
    /// The node leading it, if a leader is known.
    pub leader: Option<usize>,
    /// The nodes holding a member (replica) of it.
    pub members: Vec<usize>,
}

impl PrivateRabbitCluster {
    /// Starts three fresh nodes, clusters them and waits until all three run as one cluster.
    pub async fn start() -> Self {
        let started = Instant::now();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("catalog-rabbit-cluster-{id}"));
        fs::create_dir_all(&dir)
            .unwrap_or_else(|err| panic!("the directory {} is made: {err}", dir.display()));
        // Per node: AMQP and distribution; then the name service's.
        let mut ports = free_ports(2 * NODES + 1);
        keep_unclaimed(&mut ports);
        let epmd_port = ports[2 * NODES];
        let cookie = uuid::Uuid::new_v4().simple().to_string();
        let nodes = (0..NODES)
            .map(|i| {
                let letter = char::from(b'a' + i as u8);
                let node = Node {
                    name: format!("catalog-test-{letter}-{}@localhost", &id[..12]),
                    port: ports[2 * i],
                    dist_port: ports[2 * i + 1],
                    dir: dir.join(letter.to_string()),
                    epmd_port: Some(epmd_port),
                };
                node.prepare(&cookie)
                    .expect("the node's directory is prepared");
                NodeProcess::new(node)
            })
            .collect();
        let mut cluster = Self {
            nodes,
            epmd: None,
            epmd_port,
            dir,
            started_in: Duration::ZERO,
        };
        cluster.start_epmd();
        // The three boot at once; each is a cluster of one until it joins the first.
        futures::future::join_all(cluster.nodes.iter_mut().map(NodeProcess::boot)).await;
        let seed = cluster.nodes[0].node.name.clone();
        for i in 1..NODES {
            let node = cluster.nodes[i].node.clone();
            let into = seed.clone();
            let joined = tokio::task::spawn_blocking(move || join(&node, &into))
                .await
                .expect("the join task ran");
            if let Err(err) = joined {
                panic!(
                    "the private RabbitMQ node {} did not join {seed}: {err}\n--- node log (tail) ---\n{}",
                    cluster.nodes[i].node.name,
                    cluster.nodes[i].node.log_tail()
                );
            }
        }
        cluster.await_running(NODES).await;
        cluster.started_in = started.elapsed();
        cluster
    }

    /// The AMQP URL of every node's default vhost, as `guest`, in node order.
    pub fn amqp_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|m| format!("amqp://guest:guest@127.0.0.1:{}/%2f", m.node.port))
            .collect()
    }

    /// Every node's URL in one comma-separated list: what `AMQP_URL` takes for a cluster.
    pub fn amqp_url_list(&self) -> String {
        self.amqp_urls().join(",")
    }

    /// The Erlang node name of node `i` (`catalog-test-<letter>-<id>@localhost`).
    pub fn node_name(&self, i: usize) -> &str {
        &self.nodes[i].node.name
    }

    /// The node whose AMQP listener is on `port`.
    pub fn node_for_port(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|m| m.node.port == port)
    }

    /// The node whose Erlang name is `name`.
    pub fn node_named(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|m| m.node.name == name)
    }

    /// How long [`PrivateRabbitCluster::start`] took: three boots, two joins.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The resident memory of each running node's VM, in KiB (0 for a node that is down).
    pub fn rss_kib(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|m| m.pid.and_then(rss_kib).unwrap_or(0))
            .collect()
    }

    /// Whether node `i` is running (started and neither killed nor stopped since).
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].pid.is_some()
    }

    /// SIGKILLs node `i`'s VM, as a machine that lost power would go, and waits until it is gone
    /// and its AMQP port refuses connections. Its data stays for [`Self::start_again`].
    pub async fn kill(&mut self, i: usize) {
        let member = &mut self.nodes[i];
        assert!(member.maybe_running, "node {i} is not running");
        let pid = member.pid.take().or_else(|| member.node.find_vm());
        member.maybe_running = false;
        let node = member.node.clone();
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + KILL_LIMIT;
            if let Some(pid) = pid {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
                while alive(pid) {
                    assert!(Instant::now() < deadline, "pid {pid} outlived SIGKILL");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            while accepts(node.port) {
                assert!(
                    Instant::now() < deadline,
                    "port {} open after the kill",
                    node.port
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .await
        .expect("the kill task ran");
    }

    /// Stops node `i` cleanly and waits until its port refuses connections; returns how long
    /// that took.
    pub async fn stop(&mut self, i: usize) -> Duration {
        self.nodes[i].stop().await
    }

    /// Starts the killed or stopped node `i` again on its ports and data, and waits until it is
    /// back in the cluster with every other running node. Returns how long that took.
    pub async fn start_again(&mut self, i: usize) -> Duration {
        let started = Instant::now();
        self.nodes[i].boot().await;
        let running = self.nodes.iter().filter(|m| m.pid.is_some()).count();
        self.await_running(running).await;
        started.elapsed()
    }

    /// Every queue of the default vhost with the node leading it and the nodes holding a member
    /// of it (quorum queues), as one running node's `list_queues` reports them. Empty when no
    /// running node answers.
    pub async fn placements(&self) -> Vec<QueuePlacement> {
        let listing = self
            .ctl_json(&[
                "list_queues",
                "-p",
                "/",
                "name",
                "leader",
                "members",
                "--formatter",
                "json",
            ])
            .await;
        let Some(queues) = listing.as_ref().and_then(serde_json::Value::as_array) else {
            return Vec::new();
        };
        queues
            .iter()
            .filter_map(|entry| {
                let members = self.nodes_in(&entry["members"]);
                Some(QueuePlacement {
                    name: entry["name"].as_str()?.to_string(),
                    leader: entry["leader"].as_str().and_then(|n| self.node_named(n)),
                    members,
                })
            })
            .collect()
    }

    /// Where quorum queue `queue` of the default vhost lives (see [`Self::placements`]); `None`
    /// when it is not there or no running node answers.
    pub async fn placement_of(&self, queue: &str) -> Option<QueuePlacement> {
        self.placements()
            .await
            .into_iter()
            .find(|q| q.name == queue)
    }

    /// The node leading quorum queue `queue` of the default vhost; `None` while a leader is
    /// being elected (see [`Self::placements`]).
    pub async fn leader_of(&self, queue: &str) -> Option<usize> {
        self.placement_of(queue).await?.leader
    }

    /// The nodes `cluster_status` reports running, asked of any running node.
    pub async fn running_nodes(&self) -> Vec<usize> {
        let Some(status) = self
            .ctl_json(&["cluster_status", "--formatter", "json"])
            .await
        else {
            return Vec::new();
        };
        let mut running = self.nodes_in(&status["running_nodes"]);
        running.sort_unstable();
        running
    }

    /// The nodes a JSON array of Erlang node names names, by index; names not of this
    /// cluster are left out.
    fn nodes_in(&self, names: &serde_json::Value) -> Vec<usize> {
        names
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().and_then(|n| self.node_named(n)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs a `rabbitmqctl` command with JSON output on the first running node that answers.
    async fn ctl_json(&self, args: &[&str]) -> Option<serde_json::Value> {
        for member in self.nodes.iter().filter(|m| m.pid.is_some()) {
            let node = member.node.clone();
            let args: Vec<String> = args.iter().map(ToString::to_string).collect();
            let output = tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                node.ctl(&args, CLI_LIMIT)
            })
            .await
            .expect("the CLI task ran");
            if let Ok(output) = output {
                if output.status.success() {
                    if let Ok(value) = serde_json::from_slice(&output.stdout) {
                        return Some(value);
                    }
                }
            }
        }
        None
    }

    /// Waits until `cluster_status` lists `count` running nodes, within [`FORM_LIMIT`].
    async fn await_running(&self, count: usize) {
        let deadline = Instant::now() + FORM_LIMIT;
        loop {
            let running = self.running_nodes().await;
            if running.len() == count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the private RabbitMQ cluster lists {running:?} running after {FORM_LIMIT:?}, \
                 not {count} nodes"
            );
            // Each check starts a CLI VM: not too often on a loaded machine.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Starts the cluster's name service, on loopback only, and waits until it listens.
    fn start_epmd(&mut self) {
        let log = fs::File::create(self.dir.join("epmd.log")).expect("the epmd log opens");
        let child = Command::new("epmd")
            .args([
                "-port",
                &self.epmd_port.to_string(),
                "-address",
                "127.0.0.1",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the epmd log opens twice"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("epmd (from the Erlang installation): {err}"));
        let child = self.epmd.insert(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !accepts(self.epmd_port) {
            let exited = child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the cluster's epmd on port {} did not start ({exited:?})",
                self.epmd_port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Joins `node` to the cluster of `seed`: its app stopped, joined, started again.
fn join(node: &Node, seed: &str) -> Result<(), String> {
    for args in [
        vec!["stop_app"],
        vec!["join_cluster", seed],
        vec!["start_app"],
    ] {
        let output = node.ctl(&args, CLI_LIMIT)?;
        if !output.status.success() {
            return Err(format!(
                "rabbitmqctl {args:?}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}

impl Drop for PrivateRabbitCluster {
    fn drop(&mut self) {
        // All at once: each stop waits on a CLI VM and on the node's shutdown.
        std::thread::scope(|scope| {
            for member in &self.nodes {
                scope.spawn(|| member.halt_if_running());
            }
        });
        if let Some(mut epmd) = self.epmd.take() {
            let _ = epmd.kill();
            let _ = epmd.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

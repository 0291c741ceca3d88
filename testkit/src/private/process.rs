//! What the private instances share: ports, liveness and memory of a process, its log's tail.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub(crate) fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Whether the process exists and is not a zombie.
pub(crate) fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// A process's resident memory in KiB (`VmRSS`), `None` when it is gone.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// `count` distinct free ports below the kernel's ephemeral range (32768–60999): an instance's
/// port must stay free while it is down, and the test's own outgoing connections take
/// ephemeral ports.
pub(crate) fn free_ports(count: usize) -> Vec<u16> {
    let mut held: Vec<(u16, TcpListener)> = Vec::new();
    for _ in 0..10_000 {
        if held.len() == count {
            break;
        }
        let port = 20_000 + (uuid::Uuid::new_v4().as_u128() % 12_000) as u16;
        if held.iter().any(|(p, _)| *p == port) {
            continue;
        }
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            held.push((port, listener));
        }
    }
    assert_eq!(held.len(), count, "no free ports below the ephemeral range");
    held.into_iter().map(|(port, _)| port).collect()
}

/// One free port below the ephemeral range, as [`free_ports`].
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// Ports chosen free may be taken before the server binds them (by an instance starting
/// beside this one, say): while any of them accepts connections, all are exchanged for free
/// ones. Returns whether they changed.
pub(crate) fn keep_unclaimed(ports: &mut [u16]) -> bool {
    let mut moved = false;
    for _ in 0..10 {
        if !ports.iter().any(|&port| accepts(port)) {
            break;
        }
        ports.copy_from_slice(&free_ports(ports.len()));
        moved = true;
    }
    moved
}

/// The last `lines` lines of a log file, for a failure message.
pub(crate) fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let mut tail = format!("{}:\n", path.display());
    for line in &all[all.len().saturating_sub(lines)..] {
        tail.push_str(line);
        tail.push('\n');
    }
    tail
}

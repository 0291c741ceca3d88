//! What a load cost in CPU: the machine's busy and idle time (`/proc/stat`) and the time of the
//! processes that did its work (`/proc/<pid>/stat`), between a mark taken before the load and
//! a second call after it. On cores that every process shares, throughput alone cannot say
//! whether a command is slow or merely starved; its CPU time can.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The machine's CPU time so far, over all cores, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Machine {
    busy: u64,
    idle: u64,
}

/// One process's CPU time so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Process {
    pid: u32,
    comm: String,
    /// When it started, in clock ticks after boot: with the pid, it tells a process from a
    /// later one given the same pid.
    started: u64,
    /// User and system time of all its threads, the exited ones included.
    ticks: u64,
}

/// The mark a load is measured from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Snapshot {
    machine: Machine,
    processes: Vec<Process>,
}

/// Without `since`, prints a mark; with it, prints the seconds spent since that mark by the
/// machine (`machine_busy_s`, `machine_idle_s`), by each process given as `name=pid` and each
/// group of processes given as `name=comm` (`<name>_s`) and, from GNU time's output, by the
/// load generator (`loadgen_s`).
pub fn run(
    since: Option<&Path>,
    processes: &[(String, String)],
    comms: &[(String, String)],
    loadgen: Option<&Path>,
    clk_tck: u32,
) -> anyhow::Result<()> {
    let now = snapshot()?;
    let Some(since) = since else {
        println!("{}", serde_json::to_string(&now)?);
        return Ok(());
    };
    let mark: Snapshot = serde_json::from_str(
        &std::fs::read_to_string(since).with_context(|| format!("reading {}", since.display()))?,
    )
    .with_context(|| format!("parsing {}", since.display()))?;
    let mut spent = spent_since(&mark, &now, processes, comms, f64::from(clk_tck))?;
    if let Some(path) = loadgen {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        spent.insert("loadgen_s".into(), gnu_time_seconds(&text)?.into());
    }
    println!("{}", Value::Object(spent));
    Ok(())
}

/// `name=value`, as `--process` and `--comm` take them.
pub fn named(arg: &str) -> Result<(String, String), String> {
    arg.split_once('=')
        .filter(|(name, value)| !name.is_empty() && !value.is_empty())
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, not {arg:?}"))
}

fn snapshot() -> anyhow::Result<Snapshot> {
    let machine = machine(&std::fs::read_to_string("/proc/stat")?)?;
    let processes = std::fs::read_dir("/proc")?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()))
        })
        // A process may exit between the listing and the read: it is simply not in the
        // snapshot. Nor is one whose line cannot be read, rather than the whole run failing.
        .filter_map(|path| process(&std::fs::read_to_string(path.join("stat")).ok()?).ok())
        .collect();
    Ok(Snapshot { machine, processes })
}

/// The `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal guest
/// guest_nice. Guest time is already in user time, so it is not added again.
fn machine(stat: &str) -> anyhow::Result<Machine> {
    let line = stat
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .context("/proc/stat has no cpu line")?;
    let ticks = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<u64>, _>>()
        .context("/proc/stat's cpu line")?;
    let at = |i: usize| ticks.get(i).copied().unwrap_or(0);
    Ok(Machine {
        busy: at(0) + at(1) + at(2) + at(5) + at(6) + at(7),
        idle: at(3) + at(4),
    })
}

/// One /proc/<pid>/stat: `pid (comm) state …`. The command name may hold spaces and
/// parentheses, so the numbered fields are counted from the last ')'.
fn process(stat: &str) -> anyhow::Result<Process> {
    let (head, fields) = stat.rsplit_once(')').context("no ')' in the stat line")?;
    let (pid, comm) = head.split_once(" (").context("no '(' in the stat line")?;
    let fields: Vec<&str> = fields.split_whitespace().collect();
    // proc(5) numbers the fields from 1 and the state, the first after the name, is field 3.
    let field = |n: usize| -> anyhow::Result<u64> {
        let text = fields.get(n - 3).with_context(|| format!("no field {n}"))?;
        text.parse().with_context(|| format!("field {n}: {text:?}"))
    };
    Ok(Process {
        pid: pid.trim().parse()?,
        comm: comm.to_string(),
        started: field(22)?,
        ticks: field(14)? + field(15)?,
    })
}

/// The seconds spent between the two snapshots. A process started in between spent all of its
/// time in between; one that exited in between (a pgbench connection's backend) took its time
/// with it, and only the machine's figures hold it.
fn spent_since(
    mark: &Snapshot,
    now: &Snapshot,
    processes: &[(String, String)],
    comms: &[(String, String)],
    clk_tck: f64,
) -> anyhow::Result<Map<String, Value>> {
    let at_mark: HashMap<(u32, u64), u64> = mark
        .processes
        .iter()
        .map(|p| ((p.pid, p.started), p.ticks))
        .collect();
    let spent = |p: &Process| {
        p.ticks
            .saturating_sub(at_mark.get(&(p.pid, p.started)).copied().unwrap_or(0))
    };
    let seconds = |ticks: u64| Value::from(ticks as f64 / clk_tck);
    let mut out = Map::new();
    out.insert(
        "machine_busy_s".into(),
        seconds(now.machine.busy.saturating_sub(mark.machine.busy)),
    );
    out.insert(
        "machine_idle_s".into(),
        seconds(now.machine.idle.saturating_sub(mark.machine.idle)),
    );
    for (name, pid) in processes {
        let pid: u32 = pid
            .parse()
            .with_context(|| format!("{name}'s pid {pid:?}"))?;
        // A process that is gone spent nothing the machine's figures do not already hold.
        if let Some(process) = now.processes.iter().find(|p| p.pid == pid) {
            out.insert(format!("{name}_s"), seconds(spent(process)));
        }
    }
    for (name, comm) in comms {
        let ticks = now
            .processes
            .iter()
            .filter(|p| &p.comm == comm)
            .map(spent)
            .sum();
        out.insert(format!("{name}_s"), seconds(ticks));
    }
    Ok(out)
}

/// GNU time's `-f '%U %S'` output: user and system seconds on its last line (a line before it
/// says when the command failed).
fn gnu_time_seconds(text: &str) -> anyhow::Result<f64> {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .context("GNU time wrote nothing")?;
    let mut sum = 0.0;
    for word in line.split_whitespace() {
        sum += word
            .parse::<f64>()
            .with_context(|| format!("GNU time's line {line:?}"))?;
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_counts_interrupts_and_steal_as_busy_and_iowait_as_idle() {
        let stat = "cpu  100 2 30 400 50 6 7 8 90 0\ncpu0 1 2 3 4 5 6 7 8 9 0\nintr 1\n";
        let counted = machine(stat).unwrap();
        assert_eq!(counted.busy, 100 + 2 + 30 + 6 + 7 + 8);
        assert_eq!(counted.idle, 450);
        assert!(machine("cpu0 1 2 3\n").is_err());
    }

    #[test]
    fn a_process_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194304 96 0 0 0 \
                    1234 56 7 8 20 0 1 0 98765 3133440 381 18446744073709551615 0";
        let process = process(stat).unwrap();
        assert_eq!(process.pid, 4242);
        assert_eq!(process.comm, "a) b (c");
        assert_eq!(process.ticks, 1234 + 56);
        assert_eq!(process.started, 98765);
    }

    #[test]
    fn this_process_can_be_read() {
        let now = snapshot().unwrap();
        let me = now
            .processes
            .iter()
            .find(|p| p.pid == std::process::id())
            .expect("the test process is in /proc");
        assert!(me.started > 0);
        assert!(now.machine.busy > 0);
    }

    fn p(pid: u32, comm: &str, started: u64, ticks: u64) -> Process {
        Process {
            pid,
            comm: comm.into(),
            started,
            ticks,
        }
    }

    #[test]
    fn time_is_counted_since_the_mark_and_a_reused_pid_is_a_new_process() {
        let mark = Snapshot {
            machine: Machine {
                busy: 1000,
                idle: 500,
            },
            processes: vec![
                p(10, "command-api", 5, 300),
                p(20, "postgres", 1, 1000),
                p(21, "postgres", 2, 50),
                // Exits during the load: its time is lost to the groups.
                p(22, "postgres", 3, 70),
                p(30, "beam.smp", 4, 400),
            ],
        };
        let now = Snapshot {
            machine: Machine {
                busy: 3500,
                idle: 520,
            },
            processes: vec![
                p(10, "command-api", 5, 1300),
                p(20, "postgres", 1, 1010),
                // Pid 21 exited and was given to a backend started during the load.
                p(21, "postgres", 900, 40),
                // Started during the load.
                p(23, "postgres", 901, 200),
                p(30, "beam.smp", 4, 450),
            ],
        };
        let processes = [
            ("command_api".to_string(), "10".to_string()),
            ("peer".to_string(), "99".to_string()),
        ];
        let comms = [
            ("postgres".to_string(), "postgres".to_string()),
            ("rabbitmq".to_string(), "beam.smp".to_string()),
        ];
        let spent = spent_since(&mark, &now, &processes, &comms, 100.0).unwrap();
        let s = |name: &str| spent.get(name).and_then(Value::as_f64);
        assert_eq!(s("machine_busy_s"), Some(25.0));
        assert_eq!(s("machine_idle_s"), Some(0.2));
        assert_eq!(s("command_api_s"), Some(10.0));
        assert_eq!(s("postgres_s"), Some((10.0 + 40.0 + 200.0) / 100.0));
        assert_eq!(s("rabbitmq_s"), Some(0.5));
        // Not running: left out rather than reported as idle.
        assert_eq!(s("peer_s"), None);
    }

    #[test]
    fn gnu_time_gives_user_plus_system_even_when_the_command_failed() {
        assert_eq!(gnu_time_seconds("1.25 0.50\n").unwrap(), 1.75);
        assert_eq!(
            gnu_time_seconds("Command exited with non-zero status 1\n0.52 1.20\n").unwrap(),
            0.52 + 1.20
        );
        assert!(gnu_time_seconds("").is_err());
    }

    #[test]
    fn named_arguments_need_a_name_and_a_value() {
        assert_eq!(
            named("command_api=42").unwrap(),
            ("command_api".to_string(), "42".to_string())
        );
        assert!(named("command_api=").is_err());
        assert!(named("42").is_err());
    }
}

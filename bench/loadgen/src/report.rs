//! The results table: each row's Catalog figure beside its baseline from the same run, the
//! ratio between them and the goal of issue 8. Reads the files bench/run leaves in its
//! results directory. The measurements it repeats (rows 1 to 4, and 7a beside 3) have a
//! directory per run, `1/`, `2/`, …: the table gives each figure's median over the runs and,
//! for the main ones, their range, and takes every ratio within one run, so that a figure is
//! only ever compared with the baseline measured beside it. A results directory without run
//! directories (bench/run before it repeated) is one run. A missing file leaves its row out
//! rather than failing the report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};

struct Row {
    name: String,
    catalog: String,
    baseline: String,
    ratio: String,
    goal: &'static str,
    /// None for a row that explains another and has no goal of its own.
    met: Option<bool>,
}

/// Reads one measurement's files; its rows, or why they cannot be made.
type RowBuilder = fn(&Results) -> anyhow::Result<Vec<Row>>;

pub fn run(dir: &Path) -> anyhow::Result<()> {
    print!("{}", table(&Results::open(dir)?)?);
    Ok(())
}

fn table(results: &Results) -> anyhow::Result<String> {
    let builders: [RowBuilder; 9] = [
        cached_read,
        write,
        lag,
        rebuild,
        images,
        memory,
        feed,
        import,
        search,
    ];
    let mut rows = Vec::new();
    for build in builders {
        match build(results) {
            Ok(mut built) => rows.append(&mut built),
            Err(err) => eprintln!("catalog-bench report: a row is missing: {err:#}"),
        }
    }
    let mut out = match results.runs.len() {
        1 => String::from("Every figure is from one run.\n\n"),
        n => format!(
            "Rows 1 to 4 and 7a: the median of {n} runs, with the range over the runs in \
             brackets; each ratio is taken within a run, and errors are summed over the runs. \
             Rows 5 to 9: measured once (row 6's peaks over all the runs).\n\n"
        ),
    };
    out.push_str(
        "| measurement | Catalog | baseline (same run) | ratio | goal | met |\n\
         | --- | --- | --- | ---: | --- | :---: |\n",
    );
    for row in &rows {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.name,
            row.catalog,
            row.baseline,
            row.ratio,
            row.goal,
            match row.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "—",
            }
        )?;
    }
    Ok(out)
}

/// A results directory: the runs of the repeated measurements, and the files of the ones
/// measured once.
struct Results {
    dir: PathBuf,
    /// Each run's directory, in order.
    runs: Vec<PathBuf>,
}

impl Results {
    fn open(dir: &Path) -> anyhow::Result<Self> {
        let mut numbered = Vec::new();
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let number = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.parse::<u32>().ok());
            if let (Some(number), true) = (number, path.is_dir()) {
                numbered.push((number, path));
            }
        }
        numbered.sort();
        let runs = if numbered.is_empty() {
            vec![dir.to_path_buf()]
        } else {
            numbered.into_iter().map(|(_, path)| path).collect()
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            runs,
        })
    }

    /// `measure` of each run that has what it reads. A run without it is left out of the row
    /// (and said so): only a measurement that no run has is missing.
    fn each<T>(&self, measure: impl Fn(&Path) -> anyhow::Result<T>) -> anyhow::Result<Vec<T>> {
        let mut measured = Vec::new();
        let mut failed = Vec::new();
        for run in &self.runs {
            match measure(run) {
                Ok(m) => measured.push(m),
                Err(err) => failed.push((run, err)),
            }
        }
        if measured.is_empty() {
            return Err(failed
                .into_iter()
                .next()
                .map_or_else(|| anyhow!("no runs"), |(_, err)| err));
        }
        for (run, err) in failed {
            eprintln!(
                "catalog-bench report: {} is left out of a row: {err:#}",
                run.display()
            );
        }
        Ok(measured)
    }

    /// A row's name, which says so when fewer than all the runs had its files.
    fn name(&self, name: &str, runs: usize) -> String {
        match self.runs.len() {
            all if runs < all => format!("{name} ({runs} of {all} runs)"),
            _ => name.to_string(),
        }
    }
}

/// One figure over the runs.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
    runs: usize,
}

impl Spread {
    /// Panics without values: a row is only made from the runs that have it, and has one.
    fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut values: Vec<f64> = values.into_iter().collect();
        assert!(!values.is_empty(), "a figure of no runs");
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Self {
            median,
            min: values[0],
            max: values[n - 1],
            runs: n,
        }
    }

    /// The median and, over more than one run, the range: `1,173 commands/s (1,102–1,190)`.
    /// A unit that is a symbol (`%`, `×`) closes the range too: `15% (14–16%)`.
    fn show(&self, number: fn(f64) -> String, unit: &str) -> String {
        let median = number(self.median);
        if self.runs < 2 {
            return format!("{median}{unit}");
        }
        let (min, max) = (number(self.min), number(self.max));
        if unit.starts_with(' ') {
            format!("{median}{unit} ({min}–{max})")
        } else {
            format!("{median}{unit} ({min}–{max}{unit})")
        }
    }
}

/// A figure of each run.
fn over<T>(runs: &[T], figure: impl Fn(&T) -> f64) -> Spread {
    Spread::of(runs.iter().map(figure))
}

/// The median of a minor figure, shown without its range.
fn median<T>(runs: &[T], figure: impl Fn(&T) -> f64) -> f64 {
    over(runs, figure).median
}

/// Rounded to a whole number, its thousands grouped: 1,173.
fn whole(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 && digits != "0" {
        format!("-{grouped}")
    } else {
        grouped
    }
}

fn dec1(value: f64) -> String {
    format!("{value:.1}")
}

/// Milliseconds: one decimal below a second, whole and grouped above (`12.3`, `4,784`).
fn millis(value: f64) -> String {
    if value < 1000.0 {
        dec1(value)
    } else {
        whole(value)
    }
}

fn dec2(value: f64) -> String {
    format!("{value:.2}")
}

/// "a run" after a per-run count, when there is more than one run.
fn a_run(runs: usize) -> &'static str {
    if runs > 1 {
        " a run"
    } else {
        ""
    }
}

fn read(dir: &Path, name: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(dir.join(name)).with_context(|| format!("reading {name}"))
}

fn json(dir: &Path, name: &str) -> anyhow::Result<Value> {
    serde_json::from_str(&read(dir, name)?).with_context(|| format!("parsing {name}"))
}

/// A file a run may lack: None when it is missing, and when it cannot be read (said on
/// stderr: bench/run leaves a failed load's file behind, empty or partial).
fn optional<T>(
    dir: &Path,
    name: &str,
    parse: impl FnOnce(&Path, &str) -> anyhow::Result<T>,
) -> Option<T> {
    if !dir.join(name).exists() {
        return None;
    }
    match parse(dir, name) {
        Ok(parsed) => Some(parsed),
        Err(err) => {
            eprintln!(
                "catalog-bench report: {} left out: {err:#}",
                dir.join(name).display()
            );
            None
        }
    }
}

fn number(value: &Value, pointer: &str) -> anyhow::Result<f64> {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .with_context(|| format!("no number at {pointer}"))
}

/// What wrk --latency printed: requests/s, p50 and p99 in milliseconds.
struct Wrk {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

fn wrk(text: &str) -> anyhow::Result<Wrk> {
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .with_context(|| format!("wrk output has no {prefix:?} line"))
    };
    let duration_ms = |s: &str| -> anyhow::Result<f64> {
        let (number, factor) = if let Some(n) = s.strip_suffix("us") {
            (n, 0.001)
        } else if let Some(n) = s.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = s.strip_suffix('s') {
            (n, 1000.0)
        } else {
            bail!("unknown duration {s:?}")
        };
        Ok(number.parse::<f64>()? * factor)
    };
    // Non-2xx answers and socket errors both count: a fast error is not a served read.
    let errors = ["Non-2xx or 3xx responses:", "Socket errors:"]
        .iter()
        .filter_map(|p| field(p).ok())
        .map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum();
    Ok(Wrk {
        per_second: field("Requests/sec:")?.parse()?,
        p50_ms: duration_ms(field("50%")?)?,
        p99_ms: duration_ms(field("99%")?)?,
        errors,
    })
}

fn cached_read(results: &Results) -> anyhow::Result<Vec<Row>> {
    let runs = results.each(|dir| {
        let catalog = wrk(&read(dir, "read-catalog.txt")?)?;
        let ceiling = wrk(&read(dir, "read-ceiling.txt")?)?;
        Ok((catalog, ceiling))
    })?;
    let p99 = over(&runs, |(catalog, _)| catalog.p99_ms);
    let errors: u64 = runs.iter().map(|(catalog, _)| catalog.errors).sum();
    let ratio = over(&runs, |(catalog, ceiling)| {
        catalog.per_second / ceiling.per_second * 100.0
    });
    Ok(vec![Row {
        name: results.name(
            "1. cached read, GET /products/{id} of a product with 100 variants, 64 connections (wrk)",
            runs.len(),
        ),
        catalog: format!(
            "{}, p50 {} ms, p99 {}, {errors} errors",
            over(&runs, |(catalog, _)| catalog.per_second).show(whole, " req/s"),
            dec2(median(&runs, |(catalog, _)| catalog.p50_ms)),
            p99.show(dec2, " ms"),
        ),
        baseline: format!(
            "bare axum, same bytes from memory: {}, p50 {} ms, p99 {} ms",
            over(&runs, |(_, ceiling)| ceiling.per_second).show(whole, " req/s"),
            dec2(median(&runs, |(_, ceiling)| ceiling.p50_ms)),
            dec2(median(&runs, |(_, ceiling)| ceiling.p99_ms)),
        ),
        ratio: ratio.show(whole, "%"),
        goal: "≥ 70% of the ceiling, p99 ≤ 5 ms",
        met: Some(ratio.median >= 70.0 && p99.median <= 5.0 && errors == 0),
    }])
}

/// What `catalog-bench write` printed.
struct Load {
    per_second: f64,
    /// Commands answered.
    commands: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: f64,
}

fn load(dir: &Path, name: &str) -> anyhow::Result<Load> {
    let load = json(dir, name)?;
    Ok(Load {
        per_second: number(&load, "/per_second")?,
        commands: number(&load, "/ok")?,
        p50_ms: number(&load, "/latency/p50_ms")?,
        p99_ms: number(&load, "/latency/p99_ms")?,
        errors: number(&load, "/errors")?,
    })
}

/// What pgbench printed.
struct Pgbench {
    tps: f64,
    /// Only the CPU rows need it: its absence leaves the throughput rows be.
    transactions: Option<f64>,
}

fn pgbench(text: &str) -> anyhow::Result<Pgbench> {
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .context("pgbench output has no tps line")?
        .parse()?;
    // "N", or "N/M" when pgbench was given a number of transactions rather than a duration.
    let transactions = text
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed:"))
        .and_then(|rest| rest.split('/').next())
        .and_then(|n| n.trim().parse().ok());
    Ok(Pgbench { tps, transactions })
}

fn pgbench_file(dir: &Path, name: &str) -> anyhow::Result<Pgbench> {
    pgbench(&read(dir, name)?)
}

/// What `catalog-bench cpu` printed for one load: the seconds each part spent.
struct Cpu(Map<String, Value>);

impl Cpu {
    /// A process that was not running spent nothing.
    fn seconds(&self, name: &str) -> f64 {
        self.0
            .get(&format!("{name}_s"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    }
}

fn cpu_file(dir: &Path, name: &str) -> anyhow::Result<Cpu> {
    let Value::Object(cpu) = json(dir, name)? else {
        bail!("{name} is not an object");
    };
    for field in ["machine_busy_s", "machine_idle_s"] {
        cpu.get(field)
            .and_then(Value::as_f64)
            .with_context(|| format!("{name} has no {field}"))?;
    }
    Ok(Cpu(cpu))
}

/// The write row's loads that bench/run measures the CPU of, as in `cpu-<load>.json`:
/// `write-drain` is the time after Catalog's load until the projector had caught up with it.
const WRITE_LOADS: [&str; 7] = [
    "pgbench",
    "pgbench-events",
    "pgbench-command",
    "write",
    "write-drain",
    "write-alone",
    "write-peer",
];

/// One run of the write row's loads.
struct WriteRun {
    catalog: Load,
    /// pgbench, one INSERT into an events-shaped table per transaction.
    insert: Pgbench,
    /// The same INSERT into `events` itself, hash trigger included.
    insert_events: Option<Pgbench>,
    /// pgbench sending a command's SQL (2a).
    command_sql: Option<Pgbench>,
    alone: Option<Load>,
    peer: Option<Load>,
    cpu: BTreeMap<&'static str, Cpu>,
}

impl WriteRun {
    /// One load's CPU per operation, when the run has both.
    fn per_op(
        &self,
        load: &str,
        operations: Option<f64>,
        parts: Parts,
        rest: &'static str,
    ) -> Option<PerOp> {
        per_op(self.cpu.get(load)?, operations?, parts, rest)
    }
}

fn write_run(dir: &Path) -> anyhow::Result<WriteRun> {
    Ok(WriteRun {
        catalog: load(dir, "write.json")?,
        insert: pgbench_file(dir, "pgbench.txt")?,
        insert_events: optional(dir, "pgbench-events.txt", pgbench_file),
        command_sql: optional(dir, "pgbench-command.txt", pgbench_file),
        alone: optional(dir, "write-alone.json", load),
        peer: optional(dir, "write-peer.json", load),
        cpu: WRITE_LOADS
            .into_iter()
            .filter_map(|name| Some((name, optional(dir, &format!("cpu-{name}.json"), cpu_file)?)))
            .collect(),
    })
}

fn write(results: &Results) -> anyhow::Result<Vec<Row>> {
    let runs = results.each(write_run)?;
    let per_second = over(&runs, |run| run.catalog.per_second);
    let errors: f64 = runs.iter().map(|run| run.catalog.errors).sum();
    let latencies = |runs: &[&WriteRun]| {
        format!(
            "p50 {} ms, p99 {} ms",
            dec2(median(runs, |run| run.catalog.p50_ms)),
            dec2(median(runs, |run| run.catalog.p99_ms))
        )
    };
    let all: Vec<&WriteRun> = runs.iter().collect();
    let with_trigger = runs
        .iter()
        .filter_map(|run| run.insert_events.as_ref())
        .map(|insert| insert.tps)
        .collect::<Vec<_>>();
    let with_trigger = if with_trigger.is_empty() {
        String::new()
    } else {
        format!(
            "; into `events` itself, hash trigger included: {} TPS",
            whole(Spread::of(with_trigger).median)
        )
    };
    let ratio = over(&runs, |run| run.catalog.per_second / run.insert.tps * 100.0);
    let mut rows = vec![Row {
        name: results.name(
            "2. command write, stock adjustments (half of them a variant's), 32 clients",
            runs.len(),
        ),
        catalog: format!(
            "{}, {}, {errors} errors",
            per_second.show(whole, " commands/s"),
            latencies(&all)
        ),
        baseline: format!(
            "pgbench, one INSERT per transaction into an events-shaped table, 32 clients: {}{with_trigger}",
            over(&runs, |run| run.insert.tps).show(whole, " TPS")
        ),
        ratio: ratio.show(whole, "%"),
        goal: "≥ 50% of pgbench",
        met: Some(ratio.median >= 50.0 && errors == 0.0),
    }];
    // Where the gap goes: the database's share of a command, then the command path without the
    // relay, broker and projector beside it on the same cores.
    let with_sql: Vec<(&WriteRun, &Pgbench)> = runs
        .iter()
        .filter_map(|run| Some((run, run.command_sql.as_ref()?)))
        .collect();
    if !with_sql.is_empty() {
        rows.push(Row {
            name: results.name(
                "2a. … a command's SQL alone (pgbench: load the product's events, append one into `events`)",
                with_sql.len(),
            ),
            catalog: over(&with_sql, |(_, sql)| sql.tps).show(whole, " TPS"),
            baseline: format!(
                "pgbench's one INSERT: {}",
                over(&with_sql, |(run, _)| run.insert.tps).show(whole, " TPS")
            ),
            ratio: over(&with_sql, |(run, sql)| sql.tps / run.insert.tps * 100.0)
                .show(whole, "%"),
            goal: "(explains row 2)",
            met: None,
        });
    }
    let alone: Vec<(&WriteRun, &Pgbench, &Load)> = runs
        .iter()
        .filter_map(|run| Some((run, run.command_sql.as_ref()?, run.alone.as_ref()?)))
        .collect();
    if !alone.is_empty() {
        let alone_per_second = over(&alone, |(_, _, alone)| alone.per_second);
        let alone_errors: f64 = alone.iter().map(|(_, _, alone)| alone.errors).sum();
        let alone_ratio = over(&alone, |(run, _, alone)| {
            alone.per_second / run.insert.tps * 100.0
        });
        rows.push(Row {
            name: results.name(
                "2b. … command-api alone (relay and projector paused), 32 clients",
                alone.len(),
            ),
            catalog: format!(
                "{}, p50 {} ms, p99 {} ms, {} errors",
                alone_per_second.show(whole, " commands/s"),
                dec2(median(&alone, |(_, _, alone)| alone.p50_ms)),
                dec2(median(&alone, |(_, _, alone)| alone.p99_ms)),
                alone_errors
            ),
            baseline: format!(
                "pgbench's one INSERT: {}; a command's SQL alone (2a): {} TPS, of which this is {}",
                over(&alone, |(run, _, _)| run.insert.tps).show(whole, " TPS"),
                whole(median(&alone, |(_, sql, _)| sql.tps)),
                over(&alone, |(_, sql, alone)| alone.per_second / sql.tps * 100.0).show(whole, "%"),
            ),
            ratio: alone_ratio.show(whole, "%"),
            goal: "≥ 100% of pgbench",
            met: Some(alone_ratio.median >= 100.0 && alone_errors == 0.0),
        });
        rows.push(Row {
            name: results.name(
                "2c. … with the relay, RabbitMQ and the projector running (row 2)",
                alone.len(),
            ),
            catalog: over(&alone, |(run, _, _)| run.catalog.per_second).show(whole, " commands/s"),
            baseline: format!(
                "command-api alone (2b): {}",
                alone_per_second.show(whole, " commands/s")
            ),
            ratio: over(&alone, |(run, _, alone)| {
                run.catalog.per_second / alone.per_second * 100.0
            })
            .show(whole, "%"),
            goal: "(explains row 2)",
            met: None,
        });
    }
    // What a team would get from the same crates used the way their docs show (bench/peer):
    // the same seed and commands, none of Catalog's guarantees (hash chain, idempotency,
    // outbox) on its side.
    let peer: Vec<(&WriteRun, &Load)> = runs
        .iter()
        .filter_map(|run| Some((run, run.peer.as_ref()?)))
        .collect();
    if !peer.is_empty() {
        let catalog_errors: f64 = peer.iter().map(|(run, _)| run.catalog.errors).sum();
        let peer_errors: f64 = peer.iter().map(|(_, peer)| peer.errors).sum();
        let ratio = over(&peer, |(run, peer)| {
            run.catalog.per_second / peer.per_second
        });
        let catalog_runs: Vec<&WriteRun> = peer.iter().map(|(run, _)| *run).collect();
        rows.push(Row {
            name: results.name(
                "2d. … Catalog (row 2) vs a cqrs-es + postgres-es service (bench/peer), the same commands",
                peer.len(),
            ),
            catalog: format!(
                "{}, {}, {catalog_errors} errors",
                over(&peer, |(run, _)| run.catalog.per_second).show(whole, " commands/s"),
                latencies(&catalog_runs)
            ),
            baseline: format!(
                "cqrs-es + postgres-es, no hash chain, idempotency or outbox: {}, p50 {} ms, p99 {} ms, {peer_errors} errors",
                over(&peer, |(_, peer)| peer.per_second).show(whole, " commands/s"),
                dec2(median(&peer, |(_, peer)| peer.p50_ms)),
                dec2(median(&peer, |(_, peer)| peer.p99_ms))
            ),
            ratio: ratio.show(dec1, "×"),
            goal: "≥ 3× the peer",
            met: Some(ratio.median >= 3.0 && catalog_errors == 0.0 && peer_errors == 0.0),
        });
    }
    rows.extend(cpu_rows(results, &runs));
    Ok(rows)
}

/// A load's busy CPU per command or transaction, in milliseconds, and what spent it.
struct PerOp {
    total_ms: f64,
    /// The named parts in the order shown, then what none of them accounts for.
    parts: Vec<(&'static str, f64)>,
    /// Of the machine's time during the load, how much was busy.
    busy_percent: f64,
}

impl PerOp {
    fn part(&self, what: &str) -> f64 {
        self.parts
            .iter()
            .find(|(part, _)| *part == what)
            .map_or(0.0, |(_, ms)| *ms)
    }
}

/// What a load's CPU is split into: (what, the names `catalog-bench cpu` gave the time).
type Parts = &'static [(&'static str, &'static [&'static str])];

const CATALOG: Parts = &[
    ("command-api", &["command_api"]),
    ("PostgreSQL", &["postgres"]),
    ("load generator", &["loadgen"]),
    ("RabbitMQ + projector", &["rabbitmq", "projector"]),
];
const ALONE: Parts = &[
    ("command-api", &["command_api_alone"]),
    ("PostgreSQL", &["postgres"]),
    ("load generator", &["loadgen"]),
    ("RabbitMQ + projector", &["rabbitmq", "projector"]),
];
const PEER: Parts = &[
    ("the service", &["peer"]),
    ("PostgreSQL", &["postgres"]),
    ("load generator", &["loadgen"]),
];
/// Row 3 reads as well as writes: query-api answers each command's read.
const LAG: Parts = &[
    ("command-api", &["command_api"]),
    ("query-api", &["query_api"]),
    ("PostgreSQL", &["postgres"]),
    ("load generator", &["loadgen"]),
    ("RabbitMQ + projector", &["rabbitmq", "projector"]),
];
/// pgbench's backends exit with it, before the second sample, so PostgreSQL's share is only
/// in what the client leaves of the machine's time.
const PGBENCH: Parts = &[("pgbench", &["loadgen"])];

/// None without operations to divide by (a load that failed).
fn per_op(cpu: &Cpu, operations: f64, parts: Parts, rest: &'static str) -> Option<PerOp> {
    if operations <= 0.0 {
        return None;
    }
    let ms = |seconds: f64| seconds * 1000.0 / operations;
    let busy = cpu.seconds("machine_busy");
    let idle = cpu.seconds("machine_idle");
    let mut split: Vec<(&'static str, f64)> = parts
        .iter()
        .map(|(what, names)| (*what, ms(names.iter().map(|n| cpu.seconds(n)).sum())))
        .collect();
    let named: f64 = split.iter().map(|(_, ms)| ms).sum();
    split.push((rest, ms(busy) - named));
    Some(PerOp {
        total_ms: ms(busy),
        parts: split,
        busy_percent: busy / (busy + idle).max(f64::MIN_POSITIVE) * 100.0,
    })
}

/// `2.80 ms/command (2.60–3.00): command-api 1.20, …; machine 98% busy`, the parts as
/// medians without their ranges.
fn per_op_text(runs: &[PerOp], per: &str) -> String {
    let parts = runs[0]
        .parts
        .iter()
        .enumerate()
        .map(|(i, (what, _))| format!("{what} {}", dec2(median(runs, |run| run.parts[i].1))))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}: {parts}; machine {}% busy",
        over(runs, |run| run.total_ms).show(dec2, &format!(" ms/{per}")),
        whole(median(runs, |run| run.busy_percent))
    )
}

/// The machine's CPU per command beside pgbench's per transaction: on cores every process
/// shares, once they are saturated, throughput is the cores over the CPU per operation, so the
/// ratio of the CPU figures is the most a throughput ratio can be.
fn cpu_rows(results: &Results, runs: &[WriteRun]) -> Vec<Row> {
    const REST: &str = "rest";
    const REST_PGBENCH: &str = "rest (≈ PostgreSQL)";
    let mut rows = Vec::new();
    // 2b against the ceiling its goal names (pgbench's one INSERT), a command's SQL (2a) beside.
    let mut sql = Vec::new();
    let alone: Vec<(PerOp, PerOp)> = runs
        .iter()
        .filter_map(|run| {
            let commands = run.alone.as_ref().map(|alone| alone.commands);
            let alone = (
                run.per_op("write-alone", commands, ALONE, REST)?,
                run.per_op("pgbench", run.insert.transactions, PGBENCH, REST_PGBENCH)?,
            );
            let transactions = run.command_sql.as_ref().and_then(|sql| sql.transactions);
            sql.extend(run.per_op("pgbench-command", transactions, PGBENCH, REST_PGBENCH));
            Some(alone)
        })
        .collect();
    if !alone.is_empty() {
        let ratio = over(&alone, |(catalog, insert)| {
            insert.total_ms / catalog.total_ms * 100.0
        });
        let (catalog, insert): (Vec<PerOp>, Vec<PerOp>) = alone.into_iter().unzip();
        let sql = if sql.is_empty() {
            String::new()
        } else {
            format!(
                "; a command's SQL (2a): {} ms/transaction",
                dec2(median(&sql, |s| s.total_ms))
            )
        };
        rows.push(Row {
            name: results.name(
                "2e. … machine CPU per command (both cores, every process): command-api alone (2b) vs pgbench's one INSERT",
                catalog.len(),
            ),
            catalog: per_op_text(&catalog, "command"),
            baseline: format!(
                "pgbench, one INSERT into an events-shaped table: {}{sql}",
                per_op_text(&insert, "transaction")
            ),
            ratio: ratio.show(whole, "%"),
            goal: "(the most 2b's ratio can be while the CPU is the limit)",
            met: None,
        });
    }
    let (mut catalog, mut insert, mut drain, mut events) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in runs {
        let commands = Some(run.catalog.commands);
        let (Some(load), Some(pgbench)) = (
            run.per_op("write", commands, CATALOG, REST),
            run.per_op("pgbench", run.insert.transactions, PGBENCH, REST_PGBENCH),
        ) else {
            continue;
        };
        catalog.push(load);
        insert.push(pgbench);
        drain.extend(run.per_op("write-drain", commands, CATALOG, REST));
        let into_events = run.insert_events.as_ref().and_then(|i| i.transactions);
        events.extend(run.per_op("pgbench-events", into_events, PGBENCH, REST_PGBENCH));
    }
    if !catalog.is_empty() {
        let ratio = Spread::of(
            catalog
                .iter()
                .zip(&insert)
                .map(|(catalog, insert)| insert.total_ms / catalog.total_ms * 100.0),
        );
        // The projector's backlog is applied after the load: part of what a command costs,
        // but not of the throughput measured during the load, so it stays out of the ratio.
        let drain = if drain.is_empty() {
            String::new()
        } else {
            format!(
                "; then {} ms/command more after the load, while the projector caught up (RabbitMQ + projector {})",
                dec2(median(&drain, |d| d.total_ms)),
                dec2(median(&drain, |d| d.part("RabbitMQ + projector")))
            )
        };
        let events = if events.is_empty() {
            String::new()
        } else {
            format!(
                "; into `events` itself: {} ms/transaction",
                dec2(median(&events, |e| e.total_ms))
            )
        };
        rows.push(Row {
            name: results.name(
                "2f. … machine CPU per command (both cores, every process): Catalog (row 2) vs pgbench's one INSERT",
                catalog.len(),
            ),
            catalog: format!("{}{drain}", per_op_text(&catalog, "command")),
            baseline: format!(
                "pgbench, one INSERT into an events-shaped table: {}{events}",
                per_op_text(&insert, "transaction")
            ),
            ratio: ratio.show(whole, "%"),
            goal: "(the most row 2's ratio can be while the CPU is the limit)",
            met: None,
        });
    }
    let peer: Vec<(PerOp, PerOp)> = runs
        .iter()
        .filter_map(|run| {
            let commands = run.peer.as_ref().map(|peer| peer.commands);
            Some((
                run.per_op("write", Some(run.catalog.commands), CATALOG, REST)?,
                run.per_op("write-peer", commands, PEER, REST)?,
            ))
        })
        .collect();
    if !peer.is_empty() {
        let ratio = over(&peer, |(catalog, peer)| peer.total_ms / catalog.total_ms);
        let (catalog, peer): (Vec<PerOp>, Vec<PerOp>) = peer.into_iter().unzip();
        rows.push(Row {
            name: results.name(
                "2g. … machine CPU per command (both cores, every process): Catalog (row 2) vs the cqrs-es + postgres-es service (2d)",
                catalog.len(),
            ),
            catalog: format!(
                "{}; machine {}% busy",
                over(&catalog, |c| c.total_ms).show(dec2, " ms/command"),
                whole(median(&catalog, |c| c.busy_percent))
            ),
            baseline: format!("cqrs-es + postgres-es: {}", per_op_text(&peer, "command")),
            ratio: ratio.show(dec2, "×"),
            goal: "(the most 2d's ratio can be while the CPU is the limit)",
            met: None,
        });
    }
    rows
}

/// What `catalog-bench lag` printed.
struct LagRun {
    /// Commands per second asked for.
    rate: f64,
    /// Commands sent.
    sent: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    commands: f64,
    achieved_rate: f64,
    errors: f64,
    write_p50_ms: f64,
    write_p99_ms: f64,
    stream: Option<StreamLag>,
}

/// The change feed's stream followed during the lag load.
struct StreamLag {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    events: f64,
    missing: f64,
}

fn lag_run(dir: &Path) -> anyhow::Result<LagRun> {
    let lag = json(dir, "lag.json")?;
    let stream = match lag.get("stream").filter(|s| !s.is_null()) {
        None => None,
        Some(stream) => Some(StreamLag {
            p50_ms: number(stream, "/lag/p50_ms")?,
            p99_ms: number(stream, "/lag/p99_ms")?,
            max_ms: number(stream, "/lag/max_ms")?,
            events: number(stream, "/lag/count")?,
            missing: number(stream, "/missing")?,
        }),
    };
    Ok(LagRun {
        rate: number(&lag, "/rate")?,
        sent: number(&lag, "/sent")?,
        p50_ms: number(&lag, "/lag/p50_ms")?,
        p99_ms: number(&lag, "/lag/p99_ms")?,
        max_ms: number(&lag, "/lag/max_ms")?,
        commands: number(&lag, "/lag/count")?,
        achieved_rate: number(&lag, "/achieved_rate")?,
        errors: number(&lag, "/errors")?,
        write_p50_ms: number(&lag, "/write/p50_ms")?,
        write_p99_ms: number(&lag, "/write/p99_ms")?,
        stream,
    })
}

fn lag(results: &Results) -> anyhow::Result<Vec<Row>> {
    let runs = results.each(lag_run)?;
    let p99 = over(&runs, |run| run.p99_ms);
    let errors: f64 = runs.iter().map(|run| run.errors).sum();
    let mut rows = vec![Row {
        name: results.name(
            &format!(
                "3. end-to-end visibility lag, {} commands/s",
                whole(median(&runs, |run| run.rate))
            ),
            runs.len(),
        ),
        catalog: format!(
            "p50 {} ms, p99 {}, max {} ms over {} commands{} ({}/s achieved), {errors} errors",
            dec1(median(&runs, |run| run.p50_ms)),
            p99.show(dec1, " ms"),
            dec1(median(&runs, |run| run.max_ms)),
            whole(median(&runs, |run| run.commands)),
            a_run(runs.len()),
            whole(median(&runs, |run| run.achieved_rate)),
        ),
        baseline: format!(
            "the command's own answer: p50 {} ms, p99 {}",
            dec1(median(&runs, |run| run.write_p50_ms)),
            over(&runs, |run| run.write_p99_ms).show(dec1, " ms")
        ),
        ratio: over(&runs, |run| run.p99_ms / run.write_p99_ms).show(dec1, "×"),
        goal: "lag p99 ≤ 20 ms at 500 commands/s",
        // A slower load does not test the goal.
        met: (median(&runs, |run| run.rate) >= 500.0)
            .then_some(p99.median <= 20.0 && errors == 0.0),
    }];
    // Where the lag goes, for the runs that kept the projector's log of it.
    let stages: Vec<Value> = results
        .runs
        .iter()
        .filter_map(|dir| optional(dir, "lag-stages.json", json))
        .collect();
    if !stages.is_empty() {
        let stage = |name: &str| -> anyhow::Result<String> {
            let at = |quantile: &str| -> anyhow::Result<Vec<f64>> {
                stages
                    .iter()
                    .map(|run| number(run, &format!("/{name}/{quantile}_ms")))
                    .collect()
            };
            let (p50, p99) = (at("p50")?, at("p99")?);
            Ok(format!(
                "p50 {} / p99 {}",
                dec1(median(&p50, |v| *v)),
                over(&p99, |v| *v).show(dec1, " ms")
            ))
        };
        rows.push(Row {
            name: results.name(
                "3a. where row 3's lag is spent, from the projector's own stamps",
                stages.len(),
            ),
            catalog: format!(
                "before publishing (commit and relay) {}; in RabbitMQ {}; in the projector \
                 (waiting for the batch ahead, then applying) {}",
                stage("relay")?,
                stage("broker")?,
                stage("consumer")?,
            ),
            baseline: format!("the whole lag as the projector saw it: {}", stage("lag")?),
            ratio: "—".into(),
            goal: "—",
            met: None,
        });
    }
    // The CPU the load cost: on two shared cores, how busy they were is what every stage of
    // the lag queues behind.
    let cpu: Vec<PerOp> = results
        .runs
        .iter()
        .zip(&runs)
        .filter_map(|(dir, run)| {
            per_op(
                &optional(dir, "cpu-lag.json", cpu_file)?,
                run.sent,
                LAG,
                "rest",
            )
        })
        .collect();
    if !cpu.is_empty() {
        rows.push(Row {
            name: results.name("3b. CPU during row 3's load", cpu.len()),
            catalog: per_op_text(&cpu, "command"),
            baseline: "—".into(),
            ratio: "—".into(),
            goal: "—",
            met: None,
        });
    }
    Ok(rows)
}

/// What `projector rebuild` printed.
struct Rebuilt {
    products: f64,
    events: f64,
    /// Events per second.
    rate: f64,
}

fn rebuilt(output: &str) -> anyhow::Result<Rebuilt> {
    // "rebuilt P products from E events in T (R events/s)"
    let line = output
        .lines()
        .find(|l| l.starts_with("rebuilt "))
        .context("no 'rebuilt' line")?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let products: f64 = words.get(1).context("short line")?.parse()?;
    let events: f64 = words.get(4).context("short line")?.parse()?;
    let rate: f64 = words
        .iter()
        .rev()
        .nth(1)
        .context("short line")?
        .trim_start_matches('(')
        .parse()?;
    Ok(Rebuilt {
        products,
        events,
        rate,
    })
}

/// Rows a second of COPY moved (`{"rows": …, "seconds": …}`).
fn copy_rate(dir: &Path, name: &str) -> anyhow::Result<f64> {
    let copy = json(dir, name)?;
    Ok(number(&copy, "/rows")? / number(&copy, "/seconds")?)
}

fn rebuild(results: &Results) -> anyhow::Result<Vec<Row>> {
    let runs = results.each(|dir| {
        let Rebuilt { events, rate, .. } = rebuilt(&read(dir, "rebuild.txt")?)?;
        Ok((rate, events, copy_rate(dir, "copy.json")?))
    })?;
    let rate = over(&runs, |(rate, ..)| *rate);
    Ok(vec![Row {
        name: results.name("4. projector rebuild (both read models)", runs.len()),
        catalog: format!(
            "{} over {} events",
            rate.show(whole, " events/s"),
            whole(median(&runs, |(_, events, _)| *events))
        ),
        baseline: format!(
            "COPY of the same rows out of PostgreSQL: {}",
            over(&runs, |(.., copy_rate)| *copy_rate).show(whole, " rows/s")
        ),
        ratio: over(&runs, |(rate, _, copy_rate)| rate / copy_rate * 100.0).show(whole, "%"),
        goal: "≥ 100,000 events/s",
        met: Some(rate.median >= 100_000.0),
    }])
}

/// Where a case's facets were counted, when it asked for any: "; facets counted in memory for
/// N of M lists" (query-api's in-memory index; the others in PostgreSQL, whose statement the
/// plan is of).
fn counted_where(case: &Value) -> String {
    let counted = |by: &str| case["facets_counted"][by].as_u64();
    match (counted("memory"), counted("postgres")) {
        (Some(memory), Some(postgres)) if memory + postgres > 0 => format!(
            "; facets counted in memory for {} of {} lists",
            whole(memory as f64),
            whole((memory + postgres) as f64)
        ),
        _ => String::new(),
    }
}

/// Row 9: the search catalog seeded by COPY and projected (beside COPY of the same rows out
/// of PostgreSQL), then searched: each case's latencies against its goal, beside the time
/// PostgreSQL alone took for its statements and whether their plans are served by indexes.
fn search(results: &Results) -> anyhow::Result<Vec<Row>> {
    let dir = &results.dir;
    let mut rows = Vec::new();
    let seed = optional(dir, "search-seed.json", json);
    let products = seed
        .as_ref()
        .and_then(|seed| number(seed, "/products").ok())
        .map_or_else(
            || "the search catalog".to_string(),
            |p| format!("{} products", whole(p)),
        );
    let rebuild = optional(dir, "search-rebuild.txt", |dir, name| {
        rebuilt(&read(dir, name)?)
    });
    let copy = optional(dir, "search-copy.json", copy_rate);
    if let (Some(rebuild), Some(copy)) = (rebuild, copy) {
        let seeded = match &seed {
            Some(seed) => {
                let seconds = number(seed, "/seconds")?;
                format!(
                    "; seeded by COPY into `events` in {} s ({} events/s)",
                    dec1(seconds),
                    whole(number(seed, "/events")? / seconds)
                )
            }
            None => String::new(),
        };
        rows.push(Row {
            name: format!(
                "9. search at {products}: projector rebuild (both read models, the search \
                 vocabulary and facet values with them)"
            ),
            catalog: format!(
                "{} events/s, {} products/s ({} products from {} events){seeded}",
                whole(rebuild.rate),
                whole(rebuild.rate * rebuild.products / rebuild.events),
                whole(rebuild.products),
                whole(rebuild.events),
            ),
            baseline: format!(
                "COPY of the same rows out of PostgreSQL: {} rows/s",
                whole(copy)
            ),
            ratio: format!("{:.0}%", rebuild.rate / copy * 100.0),
            goal: "—",
            met: None,
        });
    }
    if let Some(index) = optional(dir, "search-facet-index.json", json) {
        let loaded = &index["loaded"];
        rows.push(Row {
            name: format!("9. search at {products}: query-api's facet index, loaded at start"),
            catalog: format!(
                "{} products, {} values loaded in {} s; {} MB of bitmaps, value lists and ids; \
                 query-api's RSS {} MiB once loaded",
                whole(number(loaded, "/products")?),
                whole(number(loaded, "/tokens")?),
                dec1(number(loaded, "/took_ms")? / 1000.0),
                whole(number(loaded, "/bytes")? / 1e6),
                whole(number(&index, "/rss_kib")? / 1024.0)
            ),
            baseline: "—".into(),
            ratio: "—".into(),
            goal: "—",
            met: None,
        });
    }
    if let Some(search) = optional(dir, "search.json", json) {
        let clients = number(&search, "/clients")?;
        let cases = [
            (
                "typo",
                "9a.",
                "a typo, GET /products?q=<a word one edit off, two if 8 letters or more>",
            ),
            (
                "facets",
                "9b.",
                "two filters and six facets, GET /products?category=…&attr.colour=…&facets=…",
            ),
            (
                "page10",
                "9c.",
                "the 10th page of a keyset-paged list (by date, name, price; filtered or not)",
            ),
        ];
        for (key, number_, what) in cases {
            let case = search
                .get(key)
                .with_context(|| format!("search.json has no {key}"))?;
            let p99 = number(case, "/latency/p99_ms")?;
            let errors = number(case, "/errors")?;
            let index = case["index"].as_bool().context("no index")?;
            let plan_ms = number(case, "/plan_ms")?;
            let explained = number(case, "/explained")?;
            rows.push(Row {
                name: format!(
                    "{number_} search at {products}: {what}, {} clients",
                    whole(clients)
                ),
                catalog: format!(
                    "p50 {} ms, p99 {} ms, max {} ms over {} requests, {} errors",
                    millis(number(case, "/latency/p50_ms")?),
                    millis(p99),
                    millis(number(case, "/latency/max_ms")?),
                    whole(number(case, "/latency/count")?),
                    whole(errors)
                ),
                baseline: format!(
                    "PostgreSQL alone, EXPLAIN ANALYZE of query-api's statements (the slowest \
                     of {} queries): {} ms; served by indexes: {}{}",
                    whole(explained),
                    millis(plan_ms),
                    if index { "yes" } else { "**no**" },
                    counted_where(case)
                ),
                // The tail against the slowest statement PostgreSQL ran alone: what the load,
                // the other statements of a request and the HTTP hop add to the database's part.
                ratio: match plan_ms > 0.0 {
                    true => format!("{:.1}× (p99)", p99 / plan_ms),
                    false => "—".into(),
                },
                goal: "p99 ≤ 50 ms",
                met: Some(p99 <= 50.0 && errors == 0.0),
            });
        }
    }
    if rows.is_empty() {
        bail!("neither search.json nor search-rebuild.txt with search-copy.json");
    }
    Ok(rows)
}

fn images(results: &Results) -> anyhow::Result<Vec<Row>> {
    let table = read(&results.dir, "images.md")?;
    // Rows: | pipeline | wall ms | peak RSS MiB | ...
    let figures = |prefix: &str| -> anyhow::Result<(f64, f64)> {
        let line = table
            .lines()
            .find(|l| l.starts_with(prefix))
            .with_context(|| format!("images.md has no {prefix:?} row"))?;
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        Ok((cells[2].parse()?, cells[3].parse()?))
    };
    let (ms, rss) = figures("| catalog-renditions")?;
    let (vips_ms, vips_rss) = figures("| vipsthumbnail (")?;
    Ok(vec![Row {
        name: "5. rendition set of a 12-megapixel JPEG".into(),
        catalog: format!("{ms:.0} ms, peak {rss:.1} MiB"),
        baseline: format!("vipsthumbnail, same sizes: {vips_ms:.0} ms, peak {vips_rss:.1} MiB"),
        ratio: format!("time {:.2}×, memory {:.2}×", ms / vips_ms, rss / vips_rss),
        goal: "≤ 1.5× vips time and memory",
        met: Some(ms <= 1.5 * vips_ms && rss <= 1.5 * vips_rss),
    }])
}

fn memory(results: &Results) -> anyhow::Result<Vec<Row>> {
    // Lines: "<process> <idle KiB> <peak under load KiB>"; the ceiling server is the baseline.
    let text = read(&results.dir, "memory.txt")?;
    let mut processes = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let [name, idle, load] = cells[..] else {
            bail!("bad memory line {line:?}");
        };
        // Decimal megabytes, the unit of the goals.
        let mb = |kib: &str| -> anyhow::Result<f64> { Ok(kib.parse::<f64>()? * 1024.0 / 1e6) };
        processes.push((name.to_string(), mb(idle)?, mb(load)?));
    }
    let (_, base_idle, base_load) = processes
        .iter()
        .find(|(name, ..)| name == "ceiling")
        .cloned()
        .context("no ceiling line")?;
    Ok(processes
        .into_iter()
        .filter(|(name, ..)| name != "ceiling")
        .map(|(name, idle, load)| {
            let api = name.ends_with("-api");
            Row {
                name: match name.as_str() {
                    "command-api" => "6. memory: command-api",
                    "query-api" => "6. memory: query-api",
                    "projector" => "6. memory: projector",
                    _ => "6. memory: image worker",
                }
                .into(),
                catalog: format!("idle {idle:.1} MB, peak under load {load:.1} MB"),
                baseline: format!("bare axum: idle {base_idle:.1} MB, peak {base_load:.1} MB"),
                ratio: format!("{:.1}× idle", idle / base_idle),
                goal: if api {
                    "≤ 30 MB idle, ≤ 100 MB under load"
                } else {
                    "≤ 30 MB idle"
                },
                met: Some(idle <= 30.0 && (!api || load <= 100.0)),
            }
        })
        .collect())
}

fn feed(results: &Results) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let dir = &results.dir;
    if let (Ok(feed), Ok(copy)) = (json(dir, "feed.json"), json(dir, "feed-copy.json")) {
        let rate = number(&feed, "/per_second")?;
        let copy_rate = number(&copy, "/rows")? / number(&copy, "/seconds")?;
        rows.push(Row {
            name: "7. change feed read, GET /events from the start, pages of 1000, one consumer"
                .into(),
            catalog: format!(
                "{} events/s over {} events ({:.0} MB)",
                whole(rate),
                whole(number(&feed, "/events")?),
                number(&feed, "/bytes")? / 1e6
            ),
            baseline: format!(
                "COPY of the same rows' columns out of PostgreSQL in position order: {} rows/s",
                whole(copy_rate)
            ),
            ratio: format!("{:.0}%", rate / copy_rate * 100.0),
            goal: "≥ 25% of COPY",
            met: Some(rate >= 0.25 * copy_rate),
        });
    }
    // The lag row's file says why it is missing; here, a run without a stream simply has none.
    let streams: Vec<(LagRun, StreamLag)> = results
        .runs
        .iter()
        .filter_map(|dir| lag_run(dir).ok())
        .filter_map(|mut lag| {
            let stream = lag.stream.take()?;
            Some((lag, stream))
        })
        .collect();
    if !streams.is_empty() {
        let p99 = over(&streams, |(_, stream)| stream.p99_ms);
        let missing: f64 = streams.iter().map(|(_, stream)| stream.missing).sum();
        rows.push(Row {
            name: results.name(
                "7a. change feed stream lag, GET /events/stream during row 3's commands",
                streams.len(),
            ),
            catalog: format!(
                "p50 {} ms, p99 {}, max {} ms over {} events{}, {missing} missing",
                dec1(median(&streams, |(_, stream)| stream.p50_ms)),
                p99.show(dec1, " ms"),
                dec1(median(&streams, |(_, stream)| stream.max_ms)),
                whole(median(&streams, |(_, stream)| stream.events)),
                a_run(streams.len()),
            ),
            baseline: format!(
                "the read path's lag (row 3): p99 {}",
                over(&streams, |(lag, _)| lag.p99_ms).show(dec1, " ms")
            ),
            ratio: over(&streams, |(lag, stream)| stream.p99_ms / lag.p99_ms).show(dec1, "×"),
            goal: "lag p99 ≤ 50 ms",
            met: Some(p99.median <= 50.0 && missing == 0.0),
        });
    }
    if rows.is_empty() {
        bail!("neither feed.json nor a followed stream in lag.json");
    }
    Ok(rows)
}

/// Row 8: a bulk import against COPY of as many event rows, and command-api's memory meanwhile.
fn import(results: &Results) -> anyhow::Result<Vec<Row>> {
    let dir = &results.dir;
    let import = json(dir, "import.json")?;
    let copy = json(dir, "import-copy.json")?;
    let events = number(&import, "/events")?;
    let seconds = number(&import, "/seconds")?;
    let rate = events / seconds;
    let copy_rate = number(&copy, "/events")? / number(&copy, "/seconds")?;
    let failed = number(&import, "/failed")?;
    let done = import["status"] == "done";
    let rss_mb = number(&import, "/rss_max_kb")? / 1024.0;
    let mut rows = vec![Row {
        name: format!(
            "8. bulk import, POST /imports of {} products (a quarter with 4 variants)",
            whole(number(&import, "/products")?)
        ),
        catalog: format!(
            "{} event rows/s ({} products/s; {} events in {} s, the upload {} s), {failed} lines \
             failed{}; command-api at most {} MB resident",
            whole(rate),
            whole(number(&import, "/products")? / seconds),
            whole(events),
            dec1(seconds),
            dec1(number(&import, "/upload_seconds")?),
            if done { "" } else { ", the job did not finish" },
            dec1(rss_mb)
        ),
        baseline: format!(
            "COPY of {} rows into `events` (hash chain on): {} rows/s",
            whole(number(&copy, "/events")?),
            whole(copy_rate)
        ),
        ratio: format!("{:.0}%", rate / copy_rate * 100.0),
        goal: "≥ 25% of COPY, command-api ≤ 100 MB",
        met: Some(done && failed == 0.0 && rate >= 0.25 * copy_rate && rss_mb <= 100.0),
    }];
    // What the import cost the machine per event stored: the relay, RabbitMQ and the projector
    // carry the same events meanwhile, on the same cores.
    if let Some(cpu) = optional(dir, "cpu-import.json", cpu_file)
        .and_then(|cpu| per_op(&cpu, events, CATALOG, "rest"))
    {
        rows.push(Row {
            name: "8a. CPU during row 8's import".into(),
            catalog: per_op_text(std::slice::from_ref(&cpu), "event"),
            baseline: "—".into(),
            ratio: "—".into(),
            goal: "—",
            met: None,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of the test's own, removed when the test ends.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "catalog-bench-report-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, path: &str, contents: &str) {
            let path = self.0.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn wrk_output(per_second: f64, p50: &str, p99: &str, errors: &str) -> String {
        format!(
            "Running 15s test @ http://127.0.0.1:8081/products/p-1
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.47ms    3.20ms  40.12ms   80.00%
    Req/Sec     5.87k   400.00     6.50k    70.00%
  Latency Distribution
     50%    {p50}
     75%    7.00ms
     90%    9.00ms
     99%   {p99}
  175335 requests in 15.00s, 1.20GB read
{errors}Requests/sec:  {per_second:.2}
Transfer/sec:     80.00MB
"
        )
    }

    fn pgbench_output(tps: f64, transactions: u64) -> String {
        format!(
            "pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/tmp.x/insert.sql
scaling factor: 1
query mode: simple
number of clients: 32
number of threads: 2
maximum number of tries: 1
duration: 15 s
number of transactions actually processed: {transactions}
number of failed transactions: 0 (0.000%)
latency average = 7.714 ms
initial connection time = 32.870 ms
tps = {tps:.6} (without initial connection time)
"
        )
    }

    /// `catalog-bench write`'s output for a 15 s load.
    fn write_json(per_second: f64, p50: f64, p99: f64, errors: u64) -> String {
        let ok = (per_second * 15.0).round();
        format!(
            r#"{{"clients":32,"seconds":15.0,"ok":{ok},"errors":{errors},"first_error":null,"per_second":{per_second},"latency":{{"count":{ok},"p50_ms":{p50},"p99_ms":{p99},"max_ms":900.0}}}}"#
        )
    }

    fn lag_json(p99: f64, write_p99: f64, stream_p99: f64, missing: u64) -> String {
        format!(
            r#"{{"rate":500,"sent":7500,"achieved_rate":499.9,"errors":0,"first_error":null,
               "write":{{"count":7500,"p50_ms":9.0,"p99_ms":{write_p99},"max_ms":80.0}},
               "lag":{{"count":7500,"p50_ms":12.0,"p99_ms":{p99},"max_ms":95.0}},
               "stream":{{"lag":{{"count":7500,"p50_ms":8.0,"p99_ms":{stream_p99},"max_ms":70.0}},"missing":{missing},"before_answer":3}}}}"#
        )
    }

    /// `catalog-bench cpu`'s output for a load of `operations`, its figures given per
    /// operation in milliseconds, as the report shows them.
    fn cpu_json(operations: f64, busy_ms: f64, idle_s: f64, parts: &[(&str, f64)]) -> String {
        let seconds = |ms: f64| ms * operations / 1000.0;
        let mut cpu = Map::new();
        cpu.insert("machine_busy_s".into(), seconds(busy_ms).into());
        cpu.insert("machine_idle_s".into(), idle_s.into());
        for (name, ms) in parts {
            cpu.insert(format!("{name}_s"), seconds(*ms).into());
        }
        Value::Object(cpu).to_string()
    }

    /// The cells of the row whose name starts with `name`.
    fn cells<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("| {name}")))
            .unwrap_or_else(|| panic!("no row {name} in\n{table}"));
        line.split(" | ")
            .map(|cell| cell.trim_matches(|c| c == '|' || c == ' '))
            .collect()
    }

    #[test]
    fn a_figure_is_the_median_of_its_runs_with_their_range() {
        let spread = Spread::of([1190.0, 1102.0, 1173.0]);
        assert_eq!(
            (spread.median, spread.min, spread.max, spread.runs),
            (1173.0, 1102.0, 1190.0, 3)
        );
        assert_eq!(
            spread.show(whole, " commands/s"),
            "1,173 commands/s (1,102–1,190)"
        );
        assert_eq!(
            Spread::of([16.2, 13.8, 15.1]).show(whole, "%"),
            "15% (14–16%)"
        );
        assert_eq!(
            Spread::of([3.0, 1.5, 2.0]).show(dec1, "×"),
            "2.0× (1.5–3.0×)"
        );
        assert_eq!(Spread::of([4.0, 1.0, 3.0, 2.0]).median, 2.5);
        // One run has no range to show.
        assert_eq!(Spread::of([42.0]).show(dec1, " ms"), "42.0 ms");
    }

    #[test]
    fn whole_numbers_group_their_thousands() {
        assert_eq!(whole(0.2), "0");
        assert_eq!(whole(999.4), "999");
        assert_eq!(whole(1000.0), "1,000");
        assert_eq!(whole(308_071.5), "308,072");
        assert_eq!(whole(1_234_567.4), "1,234,567");
        assert_eq!(whole(-1234.0), "-1,234");
    }

    /// Three runs, each figure's values out of order, so that a median taken without sorting,
    /// a ratio of medians instead of a median of ratios, or a mean, each gives another text.
    #[test]
    fn the_report_over_three_runs() {
        let dir = TempDir::new("three-runs");
        let read = [
            (9000.0, 45000.0, "4.00ms", ""),
            (
                12000.0,
                40000.0,
                "6.50ms",
                "  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 3\n",
            ),
            (11000.0, 55000.0, "4.50ms", ""),
        ];
        let p50 = ["5.20ms", "4.80ms", "5.00ms"];
        // (commands/s, pgbench's INSERT TPS, into `events`, a command's SQL, alone)
        let write: [(f64, f64, f64, f64, f64); 3] = [
            (420.0, 4160.0, 1955.0, 1188.0, 700.0),
            (450.0, 3000.0, 2000.0, 1200.0, 720.0),
            (416.0, 3200.0, 1900.0, 1100.0, 680.0),
        ];
        // CPU per operation, ms: (command-api alone, its split), a command's SQL in pgbench
        // (total, client), row 2, pgbench's INSERT, the drain, the peer
        let cpu_alone = [
            (2.8, [1.2, 0.8, 0.4, 0.01]),
            (3.0, [1.4, 0.8, 0.4, 0.01]),
            (2.6, [1.0, 0.9, 0.3, 0.01]),
        ];
        let cpu_sql = [(1.4, 0.3), (1.8, 0.4), (1.3, 0.3)];
        let cpu_write = [4.8, 4.4, 5.0];
        let cpu_insert = [0.48, 0.66, 0.5];
        let cpu_drain = [(1.0, 0.6), (1.2, 0.7), (0.8, 0.5)];
        let peer = [(140.0, 0, 5.76), (90.0, 2, 8.8)];
        let lag = [
            (40.0, 20.0, 30.0, 0),
            (60.0, 20.0, 35.0, 0),
            (45.0, 30.0, 25.0, 1),
        ];
        let rebuild = [(60412.0, 3246.0), (62000.0, 3000.0), (58000.0, 3500.0)];
        let stages = [
            (38.0, 30.0, 2.5, 6.0),
            (58.0, 45.0, 1.5, 12.0),
            (43.0, 20.0, 3.5, 9.0),
        ];
        for k in 0..3 {
            let run = |name: &str| format!("{}/{name}", k + 1);
            let (catalog, ceiling, p99, errors) = read[k];
            dir.write(
                &run("read-catalog.txt"),
                &wrk_output(catalog, p50[k], p99, errors),
            );
            dir.write(
                &run("read-ceiling.txt"),
                &wrk_output(ceiling, "1.07ms", "8.15ms", ""),
            );
            let (per_second, insert, events, sql, alone) = write[k];
            let commands = (per_second * 15.0).round();
            let alone_commands = (alone * 15.0).round();
            let insert_transactions = (insert * 15.0).round();
            let sql_transactions = (sql * 15.0).round();
            dir.write(
                &run("write.json"),
                &write_json(per_second, 64.38, 309.25, 0),
            );
            dir.write(
                &run("pgbench.txt"),
                &pgbench_output(insert, insert_transactions as u64),
            );
            dir.write(
                &run("pgbench-events.txt"),
                &pgbench_output(events, (events * 15.0) as u64),
            );
            dir.write(
                &run("pgbench-command.txt"),
                &pgbench_output(sql, sql_transactions as u64),
            );
            dir.write(
                &run("write-alone.json"),
                &write_json(alone, 37.82, 188.54, 0),
            );
            let (busy, [command_api, postgres, loadgen, rabbitmq]) = cpu_alone[k];
            dir.write(
                &run("cpu-write-alone.json"),
                &cpu_json(
                    alone_commands,
                    busy,
                    [0.6, 0.4, 1.0][k],
                    &[
                        ("command_api_alone", command_api),
                        ("command_api", 0.0),
                        ("postgres", postgres),
                        ("loadgen", loadgen),
                        ("rabbitmq", rabbitmq),
                        ("projector", 0.0),
                    ],
                ),
            );
            let (busy, client) = cpu_sql[k];
            dir.write(
                &run("cpu-pgbench-command.json"),
                &cpu_json(
                    sql_transactions,
                    busy,
                    0.5,
                    &[("loadgen", client), ("postgres", 0.1)],
                ),
            );
            dir.write(
                &run("cpu-write.json"),
                &cpu_json(
                    commands,
                    cpu_write[k],
                    0.2,
                    &[
                        ("command_api", 2.0),
                        ("postgres", 1.5),
                        ("loadgen", 0.5),
                        ("rabbitmq", 0.3),
                        ("projector", 0.2),
                    ],
                ),
            );
            dir.write(
                &run("cpu-pgbench.json"),
                &cpu_json(insert_transactions, cpu_insert[k], 0.1, &[("loadgen", 0.1)]),
            );
            let (drain, broker_projector) = cpu_drain[k];
            dir.write(
                &run("cpu-write-drain.json"),
                &cpu_json(
                    commands,
                    drain,
                    20.0,
                    &[
                        ("rabbitmq", broker_projector / 2.0),
                        ("projector", broker_projector / 2.0),
                    ],
                ),
            );
            // The third run's peer load left nothing behind.
            if let Some(&(peer_per_second, peer_errors, peer_cpu)) = peer.get(k) {
                dir.write(
                    &run("write-peer.json"),
                    &write_json(peer_per_second, 200.0, 600.0, peer_errors),
                );
                dir.write(
                    &run("cpu-write-peer.json"),
                    &cpu_json(
                        (peer_per_second * 15.0).round(),
                        peer_cpu,
                        0.1,
                        &[("peer", 3.0), ("postgres", 2.0), ("loadgen", 0.5)],
                    ),
                );
            }
            let (p99, write_p99, stream_p99, missing) = lag[k];
            dir.write(
                &run("lag.json"),
                &lag_json(p99, write_p99, stream_p99, missing),
            );
            dir.write(
                &run("cpu-lag.json"),
                &cpu_json(
                    7500.0,
                    [2.0, 3.0, 2.5][k],
                    5.0,
                    &[
                        ("command_api", 0.5),
                        ("query_api", 0.3),
                        ("postgres", 0.6),
                        ("loadgen", 0.2),
                        ("rabbitmq", 0.2),
                        ("projector", 0.1),
                    ],
                ),
            );
            // The stages' p99s in milliseconds: (the whole lag, relay, broker, consumer).
            let (whole_p99, relay, broker, consumer) = stages[k];
            let stage = |p50: f64, p99: f64| {
                format!(r#"{{"count":7500,"p50_ms":{p50},"p99_ms":{p99},"max_ms":99.0}}"#)
            };
            dir.write(
                &run("lag-stages.json"),
                &format!(
                    r#"{{"lag":{},"relay":{},"broker":{},"consumer":{}}}"#,
                    stage(10.0 + k as f64, whole_p99),
                    stage(2.0, relay),
                    stage(1.0, broker),
                    stage(4.0 - k as f64, consumer)
                ),
            );
            let (rate, copy_ms) = rebuild[k];
            dir.write(
                &run("rebuild.txt"),
                &format!(
                    "rebuilt 50000 products from 1000000 events in 16.55s ({rate} events/s)\n"
                ),
            );
            dir.write(
                &run("copy.json"),
                &format!(r#"{{"rows": 1000000, "seconds": {copy_ms}.0e-3}}"#),
            );
        }
        dir.write(
            "memory.txt",
            "command-api 28800 53000\nquery-api 16200 50900\nprojector 26000 38000\n\
             image-worker 21100 21200\nceiling 6000 7800\n",
        );
        dir.write(
            "feed.json",
            r#"{"per_second": 90000.0, "events": 1000000, "bytes": 500000000}"#,
        );
        dir.write(
            "feed-copy.json",
            r#"{"rows": 1000000, "seconds": 2000.0e-3}"#,
        );
        dir.write(
            "import.json",
            r#"{"products": 100000, "events": 200000, "bytes": 1, "seconds": 20.0,
                "upload_seconds": 1.5, "status": "done", "created": 100000, "failed": 0,
                "rss_before_kb": 30000, "rss_max_kb": 62464}"#,
        );
        dir.write(
            "cpu-import.json",
            &cpu_json(
                200_000.0,
                0.1,
                5.0,
                &[
                    ("command_api", 0.04),
                    ("postgres", 0.03),
                    ("loadgen", 0.0),
                    ("rabbitmq", 0.01),
                    ("projector", 0.01),
                ],
            ),
        );
        dir.write(
            "import-copy.json",
            r#"{"events": 200000, "products": 50000, "seconds": 4.0}"#,
        );
        // Neither a run nor a measurement.
        dir.write("notes/readme.txt", "not a run");

        let table = table(&Results::open(&dir.0).unwrap()).unwrap();
        println!("{table}");
        assert!(
            table.starts_with("Rows 1 to 4 and 7a: the median of 3 runs"),
            "{table}"
        );

        let read = cells(&table, "1. cached read");
        assert_eq!(
            read[1],
            "11,000 req/s (9,000–12,000), p50 5.00 ms, p99 4.50 ms (4.00–6.50), 6 errors"
        );
        assert_eq!(
            read[2],
            "bare axum, same bytes from memory: 45,000 req/s (40,000–55,000), p50 1.07 ms, p99 8.15 ms"
        );
        // The median of 20%, 30% and 20%; the ratio of the medians would be 24%.
        assert_eq!(read[3], "20% (20–30%)");
        assert_eq!(read[5], "**no**");

        let write = cells(&table, "2. command write");
        assert_eq!(
            write[1],
            "420 commands/s (416–450), p50 64.38 ms, p99 309.25 ms, 0 errors"
        );
        assert!(
            write[2].ends_with(
                ": 3,200 TPS (3,000–4,160); into `events` itself, hash trigger included: 1,955 TPS"
            ),
            "{}",
            write[2]
        );
        assert_eq!(write[3], "13% (10–15%)");
        // Against pgbench's INSERT of the same run: 700/4160, 720/3000, 680/3200.
        let alone = cells(&table, "2b.");
        assert_eq!(alone[3], "21% (17–24%)");
        assert!(
            alone[2].ends_with("(2a): 1,188 TPS, of which this is 60% (59–62%)"),
            "{}",
            alone[2]
        );
        assert_eq!(alone[5], "**no**");
        let peer = cells(&table, "2d.");
        assert!(peer[0].ends_with("(2 of 3 runs)"), "{}", peer[0]);
        assert!(
            peer[2].contains("115 commands/s (90–140)") && peer[2].ends_with(", 2 errors"),
            "{}",
            peer[2]
        );
        assert_eq!(peer[3], "4.0× (3.0–5.0×)");
        assert_eq!(peer[5], "**no**");

        let cpu = cells(&table, "2e.");
        assert_eq!(
            cpu[1],
            "2.80 ms/command (2.60–3.00): command-api 1.20, PostgreSQL 0.80, load generator 0.40, \
             RabbitMQ + projector 0.01, rest 0.39; machine 98% busy"
        );
        assert!(
            cpu[2].starts_with(
                "pgbench, one INSERT into an events-shaped table: 0.50 ms/transaction (0.48–0.66)"
            ),
            "{}",
            cpu[2]
        );
        assert!(
            cpu[2].ends_with("; a command's SQL (2a): 1.40 ms/transaction"),
            "{}",
            cpu[2]
        );
        // 0.48/2.8, 0.66/3.0, 0.5/2.6.
        assert_eq!(cpu[3], "19% (17–22%)");
        let cpu = cells(&table, "2f.");
        assert!(
            cpu[1].starts_with("4.80 ms/command (4.40–5.00): command-api 2.00, PostgreSQL 1.50"),
            "{}",
            cpu[1]
        );
        assert!(cpu[1].ends_with("; then 1.00 ms/command more after the load, while the projector caught up (RabbitMQ + projector 0.60)"), "{}", cpu[1]);
        assert_eq!(cpu[3], "10% (10–15%)");
        let cpu = cells(&table, "2g.");
        assert!(cpu[0].ends_with("(2 of 3 runs)"), "{}", cpu[0]);
        assert_eq!(cpu[3], "1.60× (1.20–2.00×)");

        let lag = cells(&table, "3. end-to-end");
        assert!(
            lag[1].starts_with(
                "p50 12.0 ms, p99 45.0 ms (40.0–60.0), max 95.0 ms over 7,500 commands a run"
            ),
            "{}",
            lag[1]
        );
        assert_eq!(lag[3], "2.0× (1.5–3.0×)");
        assert_eq!(lag[5], "**no**", "a p99 of 45 ms misses 20 ms");
        assert_eq!(
            cells(&table, "3b.")[1],
            "2.50 ms/command (2.00–3.00): command-api 0.50, query-api 0.30, PostgreSQL 0.60, \
             load generator 0.20, RabbitMQ + projector 0.30, rest 0.60; machine 79% busy"
        );
        let stages = cells(&table, "3a.");
        assert_eq!(
            stages[1],
            "before publishing (commit and relay) p50 2.0 / p99 30.0 ms (20.0–45.0); \
             in RabbitMQ p50 1.0 / p99 2.5 ms (1.5–3.5); in the projector (waiting for the \
             batch ahead, then applying) p50 3.0 / p99 9.0 ms (6.0–12.0)"
        );
        assert_eq!(
            stages[2],
            "the whole lag as the projector saw it: p50 11.0 / p99 43.0 ms (38.0–58.0)"
        );
        assert_eq!(stages[5], "—", "an explanation has no goal of its own");
        let stream = cells(&table, "7a.");
        assert!(
            stream[1].starts_with("p50 8.0 ms, p99 30.0 ms (25.0–35.0)")
                && stream[1].ends_with(", 1 missing"),
            "{}",
            stream[1]
        );
        assert_eq!(stream[5], "**no**");
        let rebuild = cells(&table, "4. projector rebuild");
        assert_eq!(
            rebuild[1],
            "60,412 events/s (58,000–62,000) over 1,000,000 events"
        );
        assert_eq!(rebuild[3], "20% (19–20%)");

        // Measured once, beside the runs.
        assert!(cells(&table, "6. memory: command-api")[1].starts_with("idle 29.5 MB"));
        assert_eq!(cells(&table, "7. change feed read")[3], "18%");
        let import = cells(&table, "8. bulk import");
        assert_eq!(
            import[1],
            "10,000 event rows/s (5,000 products/s; 200,000 events in 20.0 s, the upload 1.5 s), \
             0 lines failed; command-api at most 61.0 MB resident"
        );
        assert_eq!(import[3], "20%");
        assert_eq!(import[5], "**no**", "20% of COPY misses 25%");
        assert_eq!(
            cells(&table, "8a.")[1],
            "0.10 ms/event: command-api 0.04, PostgreSQL 0.03, load generator 0.00, RabbitMQ + \
             projector 0.02, rest 0.01; machine 80% busy"
        );
    }

    #[test]
    fn the_search_row() {
        let dir = TempDir::new("search");
        dir.write(
            "search-seed.json",
            r#"{"events": 1333334, "products": 1000000, "seconds": 40.0}"#,
        );
        dir.write(
            "search-copy.json",
            r#"{"rows": 1333334, "seconds": 2000.0e-3}"#,
        );
        dir.write(
            "search-rebuild.txt",
            "rebuilt 1000000 products from 1333334 events in 66.67s (20000 events/s)\n",
        );
        let case = |p50: f64, p99: f64, errors: u64, index: bool, plan_ms: f64| {
            format!(
                r#"{{"queries": 50, "seconds": 3.2, "errors": {errors}, "first_error": null,
                    "per_second": 312.5, "index": {index}, "plan_ms": {plan_ms}, "explained": 3,
                    "latency": {{"count": 1000, "p50_ms": {p50}, "p99_ms": {p99}, "max_ms": 80.0}}}}"#
            )
        };
        dir.write(
            "search.json",
            &format!(
                r#"{{"clients": 4, "requests_per_client": 250, "typo": {}, "facets": {}, "page10": {}}}"#,
                case(6.0, 21.5, 0, true, 4.0),
                case(30.0, 75.25, 0, false, 28.0).replace(
                    r#""explained": 3"#,
                    r#""explained": 3, "facets_counted": {"memory": 990, "postgres": 10}"#
                ),
                case(2.0, 9.0, 1, true, 0.0)
            ),
        );
        dir.write(
            "search-facet-index.json",
            r#"{"loaded": {"message": "facet index loaded", "products": 1000000, "tokens": 388,
                "bytes": 56373408, "took_ms": 4217}, "rss_kib": 204800}"#,
        );
        let table = table(&Results::open(&dir.0).unwrap()).unwrap();
        println!("{table}");

        let index = cells(
            &table,
            "9. search at 1,000,000 products: query-api's facet index",
        );
        assert_eq!(
            index[1],
            "1,000,000 products, 388 values loaded in 4.2 s; 56 MB of bitmaps, value lists and ids; \
             query-api's RSS 200 MiB once loaded"
        );
        let rebuild = cells(&table, "9. search at 1,000,000 products: projector rebuild");
        assert_eq!(
            rebuild[1],
            "20,000 events/s, 15,000 products/s (1,000,000 products from 1,333,334 events); \
             seeded by COPY into `events` in 40.0 s (33,333 events/s)"
        );
        assert_eq!(
            rebuild[2],
            "COPY of the same rows out of PostgreSQL: 666,667 rows/s"
        );
        assert_eq!(rebuild[3], "3%");
        assert_eq!(rebuild[5], "—");

        let typo = cells(&table, "9a. search at 1,000,000 products: a typo");
        assert!(typo[0].ends_with(", 4 clients"), "{}", typo[0]);
        assert_eq!(
            typo[1],
            "p50 6.0 ms, p99 21.5 ms, max 80.0 ms over 1,000 requests, 0 errors"
        );
        assert!(
            typo[2].ends_with(": 4.0 ms; served by indexes: yes"),
            "{}",
            typo[2]
        );
        assert_eq!(typo[3], "5.4× (p99)");
        assert_eq!(typo[4], "p99 ≤ 50 ms");
        assert_eq!(typo[5], "yes");
        let facets = cells(&table, "9b.");
        assert!(
            facets[2].ends_with(
                "served by indexes: **no**; facets counted in memory for 990 of 1,000 lists"
            ),
            "{}",
            facets[2]
        );
        assert_eq!(facets[5], "**no**", "a p99 of 75 ms misses 50 ms");
        let page = cells(&table, "9c.");
        assert_eq!(page[3], "—", "no plan time, no ratio");
        assert_eq!(millis(4784.127), "4,784");
        assert_eq!(millis(999.94), "999.9");
        assert_eq!(page[5], "**no**", "an error fails the goal");
    }

    #[test]
    fn a_results_directory_without_runs_is_one_run() {
        let dir = TempDir::new("flat");
        dir.write(
            "read-catalog.txt",
            &wrk_output(9000.0, "5.20ms", "4.00ms", ""),
        );
        dir.write(
            "read-ceiling.txt",
            &wrk_output(45000.0, "1.07ms", "8.15ms", ""),
        );
        dir.write("lag.json", &lag_json(40.0, 20.0, 30.0, 0));
        let table = table(&Results::open(&dir.0).unwrap()).unwrap();
        assert!(
            table.starts_with("Every figure is from one run."),
            "{table}"
        );
        let read = cells(&table, "1. cached read");
        assert_eq!(read[1], "9,000 req/s, p50 5.20 ms, p99 4.00 ms, 0 errors");
        assert_eq!(read[3], "20%");
        assert!(cells(&table, "3. end-to-end")[1].contains("over 7,500 commands (500/s achieved)"));
        assert!(!table.contains("2. command write"));
    }
}

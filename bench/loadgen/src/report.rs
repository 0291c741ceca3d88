//! The results table: each row's Catalog figure beside its baseline from the same run, the
//! ratio between them and the goal of issue 8. Reads the files bench/run leaves in its
//! results directory; a missing file leaves its row out rather than failing the report.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::Value;

struct Row {
    name: &'static str,
    catalog: String,
    baseline: String,
    ratio: String,
    goal: &'static str,
    /// None for a row that explains another and has no goal of its own.
    met: Option<bool>,
}

/// Reads one measurement's files; its rows, or why they cannot be made.
type RowBuilder = fn(&Path) -> anyhow::Result<Vec<Row>>;

pub fn run(dir: &Path) -> anyhow::Result<()> {
    let builders: [RowBuilder; 7] = [cached_read, write, lag, rebuild, images, memory, feed];
    let mut rows = Vec::new();
    for build in builders {
        match build(dir) {
            Ok(mut built) => rows.append(&mut built),
            Err(err) => eprintln!("catalog-bench report: a row is missing: {err:#}"),
        }
    }
    let mut out = String::from(
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
    print!("{out}");
    Ok(())
}

fn read(dir: &Path, name: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(dir.join(name)).with_context(|| format!("reading {name}"))
}

fn json(dir: &Path, name: &str) -> anyhow::Result<Value> {
    serde_json::from_str(&read(dir, name)?).with_context(|| format!("parsing {name}"))
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

fn cached_read(dir: &Path) -> anyhow::Result<Vec<Row>> {
    let catalog = wrk(&read(dir, "read-catalog.txt")?)?;
    let ceiling = wrk(&read(dir, "read-ceiling.txt")?)?;
    let ratio = catalog.per_second / ceiling.per_second;
    Ok(vec![Row {
        name: "1. cached read, GET /products/{id} of a product with 100 variants, 64 connections (wrk)",
        catalog: format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            catalog.per_second, catalog.p50_ms, catalog.p99_ms, catalog.errors
        ),
        baseline: format!(
            "bare axum, same bytes from memory: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            ceiling.per_second, ceiling.p50_ms, ceiling.p99_ms
        ),
        ratio: format!("{:.0}%", ratio * 100.0),
        goal: "≥ 60% of the ceiling, p99 ≤ 5 ms",
        met: Some(ratio >= 0.6 && catalog.p99_ms <= 5.0 && catalog.errors == 0),
    }])
}

fn write(dir: &Path) -> anyhow::Result<Vec<Row>> {
    let catalog = json(dir, "write.json")?;
    let tps = pgbench_tps(&read(dir, "pgbench.txt")?)?;
    let with_trigger = read(dir, "pgbench-events.txt")
        .and_then(|text| pgbench_tps(&text))
        .map(|tps| format!("; into `events` itself, hash trigger included: {tps:.0} TPS"))
        .unwrap_or_default();
    let per_second = number(&catalog, "/per_second")?;
    let errors = number(&catalog, "/errors")?;
    let ratio = per_second / tps;
    let mut rows = vec![Row {
        name: "2. command write, stock adjustments (half of them a variant's), 32 clients",
        catalog: format!(
            "{per_second:.0} commands/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors",
            number(&catalog, "/latency/p50_ms")?,
            number(&catalog, "/latency/p99_ms")?
        ),
        baseline: format!(
            "pgbench, one INSERT per transaction into an events-shaped table, 32 clients: {tps:.0} TPS{with_trigger}"
        ),
        ratio: format!("{:.0}%", ratio * 100.0),
        goal: "≥ 50% of pgbench",
        met: Some(ratio >= 0.5 && errors == 0.0),
    }];
    // Where the gap goes: the database's share of a command, then the command path without the
    // relay, broker and projector beside it on the same cores.
    if let Ok(command_tps) = read(dir, "pgbench-command.txt").and_then(|t| pgbench_tps(&t)) {
        rows.push(Row {
            name: "2a. … a command's SQL alone (pgbench: load the product's events, append one into `events`)",
            catalog: format!("{command_tps:.0} TPS"),
            baseline: format!("pgbench's one INSERT: {tps:.0} TPS"),
            ratio: format!("{:.0}%", command_tps / tps * 100.0),
            goal: "(explains row 2)",
            met: None,
        });
        if let Ok(alone) = json(dir, "write-alone.json") {
            let alone_per_second = number(&alone, "/per_second")?;
            rows.push(Row {
                name: "2b. … command-api alone (relay and projector paused), 32 clients",
                catalog: format!(
                    "{alone_per_second:.0} commands/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                    number(&alone, "/latency/p50_ms")?,
                    number(&alone, "/latency/p99_ms")?,
                    number(&alone, "/errors")?
                ),
                baseline: format!("a command's SQL alone (2a): {command_tps:.0} TPS"),
                ratio: format!("{:.0}%", alone_per_second / command_tps * 100.0),
                goal: "(explains row 2)",
                met: None,
            });
            rows.push(Row {
                name: "2c. … with the relay, RabbitMQ and the projector running (row 2)",
                catalog: format!("{per_second:.0} commands/s"),
                baseline: format!("command-api alone (2b): {alone_per_second:.0} commands/s"),
                ratio: format!("{:.0}%", per_second / alone_per_second * 100.0),
                goal: "(explains row 2)",
                met: None,
            });
        }
    }
    // What a team would get from the same crates used the way their docs show (bench/peer):
    // the same seed and commands, none of Catalog's guarantees (hash chain, idempotency,
    // outbox) on its side.
    if let Ok(peer) = json(dir, "write-peer.json") {
        let peer_per_second = number(&peer, "/per_second")?;
        let peer_errors = number(&peer, "/errors")?;
        let ratio = per_second / peer_per_second;
        rows.push(Row {
            name: "2d. … Catalog (row 2) vs a cqrs-es + postgres-es service (bench/peer), the same commands",
            catalog: format!(
                "{per_second:.0} commands/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors",
                number(&catalog, "/latency/p50_ms")?,
                number(&catalog, "/latency/p99_ms")?
            ),
            baseline: format!(
                "cqrs-es + postgres-es, no hash chain, idempotency or outbox: {peer_per_second:.0} commands/s, p50 {:.2} ms, p99 {:.2} ms, {peer_errors} errors",
                number(&peer, "/latency/p50_ms")?,
                number(&peer, "/latency/p99_ms")?
            ),
            ratio: format!("{ratio:.1}×"),
            goal: "≥ 3× the peer",
            met: Some(ratio >= 3.0 && errors == 0.0 && peer_errors == 0.0),
        });
    }
    Ok(rows)
}

fn pgbench_tps(text: &str) -> anyhow::Result<f64> {
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .context("pgbench output has no tps line")?
        .parse()?)
}

fn lag(dir: &Path) -> anyhow::Result<Vec<Row>> {
    let lag = json(dir, "lag.json")?;
    let p99 = number(&lag, "/lag/p99_ms")?;
    let write_p99 = number(&lag, "/write/p99_ms")?;
    let errors = number(&lag, "/errors")?;
    Ok(vec![Row {
        name: "3. end-to-end visibility lag, 500 commands/s",
        catalog: format!(
            "p50 {:.1} ms, p99 {p99:.1} ms, max {:.1} ms over {} commands ({:.0}/s achieved), {errors} errors",
            number(&lag, "/lag/p50_ms")?,
            number(&lag, "/lag/max_ms")?,
            number(&lag, "/lag/count")?,
            number(&lag, "/achieved_rate")?,
        ),
        baseline: format!(
            "the command's own answer: p50 {:.1} ms, p99 {write_p99:.1} ms",
            number(&lag, "/write/p50_ms")?
        ),
        ratio: format!("{:.1}×", p99 / write_p99),
        goal: "lag p99 ≤ 50 ms",
        met: Some(p99 <= 50.0 && errors == 0.0),
    }])
}

fn rebuild(dir: &Path) -> anyhow::Result<Vec<Row>> {
    let output = read(dir, "rebuild.txt")?;
    // "rebuilt P products from E events in T (R events/s)"
    let line = output
        .lines()
        .find(|l| l.starts_with("rebuilt "))
        .context("no 'rebuilt' line")?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let events: f64 = words.get(4).context("short line")?.parse()?;
    let rate: f64 = words
        .iter()
        .rev()
        .nth(1)
        .context("short line")?
        .trim_start_matches('(')
        .parse()?;
    let copy = json(dir, "copy.json")?;
    let copy_rate = number(&copy, "/rows")? / number(&copy, "/seconds")?;
    Ok(vec![Row {
        name: "4. projector rebuild (both read models)",
        catalog: format!("{rate:.0} events/s over {events:.0} events"),
        baseline: format!("COPY of the same rows out of PostgreSQL: {copy_rate:.0} rows/s"),
        ratio: format!("{:.0}%", rate / copy_rate * 100.0),
        goal: "≥ 100,000 events/s",
        met: Some(rate >= 100_000.0),
    }])
}

fn images(dir: &Path) -> anyhow::Result<Vec<Row>> {
    let table = read(dir, "images.md")?;
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
        name: "5. rendition set of a 12-megapixel JPEG",
        catalog: format!("{ms:.0} ms, peak {rss:.1} MiB"),
        baseline: format!("vipsthumbnail, same sizes: {vips_ms:.0} ms, peak {vips_rss:.1} MiB"),
        ratio: format!("time {:.2}×, memory {:.2}×", ms / vips_ms, rss / vips_rss),
        goal: "≤ 1.5× vips time and memory",
        met: Some(ms <= 1.5 * vips_ms && rss <= 1.5 * vips_rss),
    }])
}

fn memory(dir: &Path) -> anyhow::Result<Vec<Row>> {
    // Lines: "<process> <idle KiB> <peak under load KiB>"; the ceiling server is the baseline.
    let text = read(dir, "memory.txt")?;
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
                },
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

fn feed(dir: &Path) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    if let (Ok(feed), Ok(copy)) = (json(dir, "feed.json"), json(dir, "feed-copy.json")) {
        let rate = number(&feed, "/per_second")?;
        let copy_rate = number(&copy, "/rows")? / number(&copy, "/seconds")?;
        rows.push(Row {
            name: "7. change feed read, GET /events from the start, pages of 1000, one consumer",
            catalog: format!(
                "{rate:.0} events/s over {:.0} events ({:.0} MB)",
                number(&feed, "/events")?,
                number(&feed, "/bytes")? / 1e6
            ),
            baseline: format!(
                "COPY of the same rows' columns out of PostgreSQL in position order: {copy_rate:.0} rows/s"
            ),
            ratio: format!("{:.0}%", rate / copy_rate * 100.0),
            goal: "≥ 25% of COPY",
            met: Some(rate >= 0.25 * copy_rate),
        });
    }
    let lag = json(dir, "lag.json");
    if let Some(stream) = lag
        .as_ref()
        .ok()
        .and_then(|lag| lag.get("stream"))
        .filter(|s| !s.is_null())
    {
        let lag = lag.as_ref().expect("read above");
        let p99 = number(stream, "/lag/p99_ms")?;
        let missing = number(stream, "/missing")?;
        rows.push(Row {
            name: "7a. change feed stream lag, GET /events/stream during row 3's 500 commands/s",
            catalog: format!(
                "p50 {:.1} ms, p99 {p99:.1} ms, max {:.1} ms over {} events, {missing} missing",
                number(stream, "/lag/p50_ms")?,
                number(stream, "/lag/max_ms")?,
                number(stream, "/lag/count")?,
            ),
            baseline: format!(
                "the read path's lag (row 3): p99 {:.1} ms",
                number(lag, "/lag/p99_ms")?
            ),
            ratio: format!("{:.1}×", p99 / number(lag, "/lag/p99_ms")?),
            goal: "lag p99 ≤ 50 ms",
            met: Some(p99 <= 50.0 && missing == 0.0),
        });
    }
    if rows.is_empty() {
        bail!("neither feed.json nor a followed stream in lag.json");
    }
    Ok(rows)
}

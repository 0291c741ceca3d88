//! The summary table, printed and kept in docs/RELIABILITY.md.

use std::path::Path;
use std::time::Duration;

use crate::scenarios::Row;

const BEGIN: &str = "<!-- chaos:begin -->";
const END: &str = "<!-- chaos:end -->";
/// `--cluster` runs write their own table, so either run leaves the other's standing.
const CLUSTER_BEGIN: &str = "<!-- chaos-cluster:begin -->";
const CLUSTER_END: &str = "<!-- chaos-cluster:end -->";

/// The summary of `rows`, and the seed that replays their choices (`--cluster` for a run of
/// the cluster scenarios).
pub fn table(rows: &[Row], seed: u64, cluster: bool) -> String {
    let mut out = String::from(
        "| scenario | faults | commands acknowledged | lost | duplicated | mismatches | \
         other findings | recovery (max) | read models caught up | images settled |\n\
         | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |\n",
    );
    for row in rows {
        let f = &row.findings;
        let mut other = Vec::new();
        if f.acknowledged == 0 {
            other.push("nothing acknowledged".to_string());
        }
        if !f.settled {
            other.push("never settled".to_string());
        }
        for (count, what) in [
            (f.negative_stock as u64, "negative stock"),
            (f.stuck_images as u64, "images stuck"),
            (f.missing_blobs as u64, "blobs missing"),
            (f.orphan_blobs as u64, "orphan blobs"),
            (u64::from(f.dead_letters), "dead letters"),
            (f.misdelivered as u64, "webhook events misdelivered"),
            (f.stale_reads, "stale reads"),
            (f.server_errors, "5xx answers"),
            (f.unknown, "commands without answer"),
            (f.failed_probes as u64, "probes unanswered"),
        ] {
            if count > 0 {
                other.push(format!("{count} {what}"));
            }
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.scenario,
            row.faults,
            f.acknowledged,
            f.lost,
            f.duplicated,
            f.mismatches,
            if other.is_empty() {
                "none".to_string()
            } else {
                other.join(", ")
            },
            seconds(row.recovery),
            seconds(f.caught_up_after),
            seconds(f.quiet_after),
        ));
    }
    let replay = if cluster {
        format!("scripts/chaos --cluster --seed {seed}")
    } else {
        format!("scripts/chaos --seed {seed}")
    };
    out.push_str(&format!(
        "\nSeed {seed}: `{replay}` with the same scenarios makes the same choices again.\n"
    ));
    out
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// The line that says where a table written into the docs comes from: the command, the day
/// and the commit measured (`-dirty` when the tree had changes), as every figure in docs/ does.
pub fn provenance(cluster: bool) -> String {
    let output = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map_or_else(
                || "unknown".to_string(),
                |out| String::from_utf8_lossy(&out.stdout).trim().to_string(),
            )
    };
    format!(
        "Produced by `scripts/chaos{}` on {} at commit {}.\n\n",
        if cluster { " --cluster" } else { "" },
        output("date", &["-u", "+%Y-%m-%d"]),
        output("git", &["describe", "--always", "--dirty"]),
    )
}

/// Replaces what lies between the chaos markers of `path` with `table`.
pub fn write_into(path: &Path, table: &str, cluster: bool) -> std::io::Result<()> {
    let (begin_marker, end_marker) = if cluster {
        (CLUSTER_BEGIN, CLUSTER_END)
    } else {
        (BEGIN, END)
    };
    let text = std::fs::read_to_string(path)?;
    let (Some(begin), Some(end)) = (text.find(begin_marker), text.find(end_marker)) else {
        return Err(std::io::Error::other(format!(
            "{} has no {begin_marker} … {end_marker} markers",
            path.display()
        )));
    };
    let updated = format!("{}{begin_marker}\n{table}{}", &text[..begin], &text[end..]);
    std::fs::write(path, updated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Findings;

    fn row(lost: usize, dead_letters: u32) -> Row {
        Row {
            scenario: "projector SIGKILL",
            faults: "1 kills".into(),
            findings: Findings {
                acknowledged: 10,
                settled: true,
                lost,
                dead_letters,
                ..Findings::default()
            },
            recovery: Duration::from_millis(1500),
        }
    }

    #[test]
    fn the_table_names_every_finding() {
        let clean = table(&[row(0, 0)], 7, false);
        assert!(clean.contains("| projector SIGKILL | 1 kills | 10 | 0 | 0 | 0 | none | 1.5 s |"));
        assert!(clean.contains("Seed 7: `scripts/chaos --seed 7`"));
        let dirty = table(&[row(2, 3)], 7, false);
        assert!(dirty.contains("| 10 | 2 | 0 | 0 | 3 dead letters |"));
        let mut idle = row(0, 0);
        idle.findings.acknowledged = 0;
        idle.findings.settled = false;
        idle.findings.failed_probes = 1;
        idle.findings.misdelivered = 2;
        assert!(table(&[idle], 7, false).contains(
            "| 0 | 0 | 0 | 0 | nothing acknowledged, never settled, 2 webhook events misdelivered, \
             1 probes unanswered |"
        ));
    }

    #[test]
    fn the_table_replaces_only_what_lies_between_the_markers() {
        let path = std::env::temp_dir().join(format!("chaos-{}.md", uuid::Uuid::new_v4()));
        std::fs::write(&path, format!("# Title\n\n{BEGIN}\nold\n{END}\n\nAfter.\n")).unwrap();
        write_into(&path, "| new |\n", false).unwrap();
        write_into(&path, "| newer |\n", false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("# Title\n\n{BEGIN}\n| newer |\n{END}\n\nAfter.\n")
        );
        std::fs::write(&path, "no markers").unwrap();
        assert!(write_into(&path, "| x |\n", false).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}

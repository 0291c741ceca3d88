//! The summary table, printed and kept in docs/RELIABILITY.md.

use std::path::Path;
use std::time::Duration;

use crate::scenarios::Row;

const BEGIN: &str = "<!-- chaos:begin -->";
const END: &str = "<!-- chaos:end -->";

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | faults | commands acknowledged | lost | duplicated | mismatches | \
         other findings | recovery (max) | settled after load |\n\
         | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |\n",
    );
    for row in rows {
        let f = &row.findings;
        let mut other = Vec::new();
        for (count, what) in [
            (f.negative_stock as u64, "negative stock"),
            (f.stuck_images as u64, "images stuck"),
            (f.missing_blobs as u64, "blobs missing"),
            (f.orphan_blobs as u64, "orphan blobs"),
            (f.dead_letters as u64, "dead letters"),
            (f.stale_reads, "stale reads"),
            (f.server_errors, "5xx answers"),
            (f.unknown, "commands without answer"),
        ] {
            if count > 0 {
                other.push(format!("{count} {what}"));
            }
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
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
            seconds(f.quiet_after),
        ));
    }
    out
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// Replaces what lies between the chaos markers of `path` with `table`.
pub fn write_into(path: &Path, table: &str) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        return Err(std::io::Error::other(format!(
            "{} has no {BEGIN} … {END} markers",
            path.display()
        )));
    };
    let updated = format!("{}{BEGIN}\n{table}{}", &text[..begin], &text[end..]);
    std::fs::write(path, updated)
}

//! The summary table, printed and kept in docs/RELIABILITY.md.

use std::path::Path;
use std::time::Duration;

use crate::scenarios::Row;

const BEGIN: &str = "<!-- chaos:begin -->";
const END: &str = "<!-- chaos:end -->";

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | faults | commands acknowledged | lost | duplicated | mismatches | \
         other findings | recovery (max) | read models caught up | images settled |\n\
         | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |\n",
    );
    for row in rows {
        let f = &row.findings;
        let mut other = Vec::new();
        for (count, what) in [
            (f.negative_stock as u64, "negative stock"),
            (f.stuck_images as u64, "images stuck"),
            (f.missing_blobs as u64, "blobs missing"),
            (f.orphan_blobs as u64, "orphan blobs"),
            (u64::from(f.dead_letters), "dead letters"),
            (f.stale_reads, "stale reads"),
            (f.server_errors, "5xx answers"),
            (f.unknown, "commands without answer"),
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
                lost,
                dead_letters,
                ..Findings::default()
            },
            recovery: Duration::from_millis(1500),
        }
    }

    #[test]
    fn the_table_names_every_finding() {
        let clean = table(&[row(0, 0)]);
        assert!(clean.contains("| projector SIGKILL | 1 kills | 10 | 0 | 0 | 0 | none | 1.5 s |"));
        let dirty = table(&[row(2, 3)]);
        assert!(dirty.contains("| 10 | 2 | 0 | 0 | 3 dead letters |"));
    }

    #[test]
    fn the_table_replaces_only_what_lies_between_the_markers() {
        let path = std::env::temp_dir().join(format!("chaos-{}.md", uuid::Uuid::new_v4()));
        std::fs::write(&path, format!("# Title\n\n{BEGIN}\nold\n{END}\n\nAfter.\n")).unwrap();
        write_into(&path, "| new |\n").unwrap();
        write_into(&path, "| newer |\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("# Title\n\n{BEGIN}\n| newer |\n{END}\n\nAfter.\n")
        );
        std::fs::write(&path, "no markers").unwrap();
        assert!(write_into(&path, "| x |\n").is_err());
        std::fs::remove_file(&path).unwrap();
    }
}

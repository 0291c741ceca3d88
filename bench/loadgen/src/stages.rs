//! Where an event's lag is spent, from the projector's own log: each `event handled` line of
//! one consumer carries the lag split at the relay's publish stamp and at the consumer's
//! receipt (`relay_ms`, `broker_ms`, `consumer_ms`). Reads JSON log lines on stdin, prints the
//! percentiles of each stage and of the whole lag.

use std::io::BufRead;
use std::time::Duration;

use serde_json::{json, Value};

use crate::latency::Latencies;

const STAGES: [&str; 4] = ["lag_ms", "relay_ms", "broker_ms", "consumer_ms"];

pub fn run(consumer: &str) -> anyhow::Result<()> {
    println!("{}", summarize(std::io::stdin().lock(), consumer)?);
    Ok(())
}

fn summarize(log: impl BufRead, consumer: &str) -> anyhow::Result<Value> {
    let mut stages: Vec<Latencies> = STAGES.iter().map(|_| Latencies::new()).collect();
    for line in log.lines() {
        let line = line?;
        // Other lines (and other programs' output) are not this summary's business.
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if entry["message"] != "event handled" || entry["consumer"] != consumer {
            continue;
        }
        // Events published without the stamp (none from the relay) have no split.
        if entry["relay_ms"].is_null() {
            continue;
        }
        for (name, latencies) in STAGES.iter().zip(&mut stages) {
            if let Some(ms) = entry[name].as_f64() {
                latencies.record(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
            }
        }
    }
    let summary: serde_json::Map<String, Value> = STAGES
        .iter()
        .zip(&stages)
        .map(|(name, latencies)| {
            let name = name.trim_end_matches("_ms").to_string();
            (name, json!(latencies.summary()))
        })
        .collect();
    Ok(Value::Object(summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_consumers_stamped_events_count() {
        let log = [
            r#"{"message":"event handled","consumer":"projector","lag_ms":9,"relay_ms":5.5,"broker_ms":1.25,"consumer_ms":2.25}"#,
            r#"{"message":"event handled","consumer":"projector","lag_ms":30,"relay_ms":20.0,"broker_ms":3.0,"consumer_ms":7.0}"#,
            // Published without the relay's stamp: no split to count.
            r#"{"message":"event handled","consumer":"projector","lag_ms":500}"#,
            r#"{"message":"event handled","consumer":"images","lag_ms":800,"relay_ms":700.0,"broker_ms":50.0,"consumer_ms":50.0}"#,
            r#"{"message":"consuming","consumer":"projector","lag_ms":900}"#,
            "not json at all",
        ]
        .join("\n");
        let summary = summarize(log.as_bytes(), "projector").unwrap();
        assert_eq!(summary["lag"]["count"], 2);
        // The histogram keeps three significant digits.
        let near = |stage: &str, figure: &str, ms: f64| {
            let got = summary[stage][figure].as_f64().unwrap();
            assert!(
                (got - ms).abs() <= ms / 500.0,
                "{stage} {figure}: {got} ms, not {ms}"
            );
        };
        near("relay", "p50_ms", 5.5);
        near("relay", "max_ms", 20.0);
        near("broker", "p50_ms", 1.25);
        near("consumer", "max_ms", 7.0);
        near("lag", "max_ms", 30.0);
    }
}

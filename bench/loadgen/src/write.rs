//! Command throughput: `clients` closed loops, each sending its next stock adjustment as soon
//! as the last one is answered, on products picked at random: every other one to the master's
//! stock (v1's route), the rest to a variant's (from the seed's variants file, when there is
//! one).

use std::path::Path;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;

use crate::client::{http, read_ids, variants_path, Api};
use crate::latency::Latencies;

pub async fn run(api: &Api, ids: &Path, clients: usize, seconds: u64) -> anyhow::Result<()> {
    let variants: Vec<(String, String)> = match std::fs::read_to_string(variants_path(ids)) {
        Ok(text) => text
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(id, variant)| (id.to_string(), variant.to_string()))
            .collect(),
        Err(_) => Vec::new(),
    };
    let ids = std::sync::Arc::new(read_ids(ids)?);
    let variants = std::sync::Arc::new(variants);
    let http = http(clients)?;
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let loops = (0..clients).map(|_| {
        let (http, ids, variants, api) = (http.clone(), ids.clone(), variants.clone(), api.clone());
        tokio::spawn(async move {
            let mut latencies = Latencies::new();
            let mut errors = Vec::new();
            while Instant::now() < until {
                let (id, variant) = match fastrand::bool() && !variants.is_empty() {
                    true => {
                        let (id, variant) = &variants[fastrand::usize(..variants.len())];
                        (id, Some(variant.as_str()))
                    }
                    false => (&ids[fastrand::usize(..ids.len())], None),
                };
                let sent = Instant::now();
                match api.adjust_stock(&http, id, variant).await {
                    Ok(_) => latencies.record(sent.elapsed()),
                    Err(err) => errors.push(err.to_string()),
                }
            }
            (latencies, errors)
        })
    });
    let mut latencies = Latencies::new();
    let mut errors = Vec::new();
    for done in join_all(loops).await {
        let (l, e) = done?;
        latencies.merge(&l);
        errors.extend(e);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let summary = latencies.summary();
    println!(
        "{}",
        json!({
            "clients": clients,
            "seconds": elapsed,
            "ok": summary.count,
            "errors": errors.len(),
            "first_error": errors.first(),
            "per_second": summary.count as f64 / elapsed,
            "latency": summary,
        })
    );
    Ok(())
}

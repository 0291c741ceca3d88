//! Command throughput: `clients` closed loops, each sending its next stock adjustment as soon
//! as the last one is answered, on products picked at random.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;

use crate::client::{http, read_ids, Api};
use crate::latency::Latencies;

pub async fn run(api: &Api, ids: &Path, clients: usize, seconds: u64) -> anyhow::Result<()> {
    let ids = std::sync::Arc::new(read_ids(ids)?);
    let http = http(clients)?;
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let loops = (0..clients).map(|_| {
        let (http, ids, api) = (http.clone(), ids.clone(), api.clone());
        tokio::spawn(async move {
            let mut latencies = Latencies::new();
            let mut errors = Vec::new();
            while Instant::now() < until {
                let id = &ids[fastrand::usize(..ids.len())];
                let sent = Instant::now();
                match api.adjust_stock(&http, id).await {
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

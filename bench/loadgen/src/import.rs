//! The bulk import row: a file of `products` products, a quarter of them with four variants
//! besides the master, uploaded to `POST /imports` and followed to its end; command-api's
//! resident memory is sampled throughout. The rate is event rows stored per second, from the
//! upload's start to the job's end, to set beside COPY of as many rows.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::client::Api;

/// Every `VARIANT_EVERY`-th product has `VARIANTS` variants besides its master.
pub const VARIANT_EVERY: usize = 4;
pub const VARIANTS: usize = 4;

/// Writes the file: SKUs under `prefix`, so a run never matches products of another.
fn write_file(path: &Path, products: usize, prefix: &str) -> anyhow::Result<usize> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut events = 0;
    for n in 0..products {
        let sku = format!("{prefix}-{n}");
        let variants: Vec<Value> = if n % VARIANT_EVERY == 0 {
            ["S", "M", "L", "XL"][..VARIANTS]
                .iter()
                .map(|size| {
                    json!({
                        "sku": format!("{sku}-{size}"),
                        "attributes": {"size": size},
                        "prices": [{"amount": 2000 + n % 500, "currency": "EUR"}],
                        "stock": 10,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        events += 1 + variants.len();
        let category = ["mugs", "shirts", "lamps", "books"][n % 4];
        let line = json!({
            "sku": sku,
            "name": {"en": format!("Product {n}"), "de": format!("Produkt {n}")},
            "description": "A product of the import benchmark, with a description of some length.",
            "category": category,
            "price": {"amount": 1000 + n % 9000, "currency": "EUR"},
            "stock": 100,
            "attributes": {"colour": "blue"},
            "variants": variants,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(events)
}

/// Resident memory of `pid` in kB, from /proc.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

pub async fn run(api: &Api, products: usize, file: &Path, pid: Option<u32>) -> anyhow::Result<()> {
    let prefix = format!("IMP{:x}", fastrand::u32(..));
    let events = write_file(file, products, &prefix)?;
    let body = std::fs::read(file)?;
    let bytes = body.len();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;
    let rss_before = pid.and_then(rss_kb);
    let started = Instant::now();
    let response = http
        .post(format!("{}/imports", api.command_api))
        .bearer_auth(&api.token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await?;
    if response.status() != reqwest::StatusCode::ACCEPTED {
        bail!(
            "the upload was answered {}: {}",
            response.status(),
            response.text().await?
        );
    }
    let uploaded = started.elapsed();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("no Location")?
        .to_string();
    let mut rss_max = rss_before.unwrap_or(0);
    let job = loop {
        if let Some(rss) = pid.and_then(rss_kb) {
            rss_max = rss_max.max(rss);
        }
        let job: Value = http
            .get(format!("{}{location}", api.command_api))
            .bearer_auth(&api.token)
            .send()
            .await?
            .json()
            .await?;
        if job["status"] != "running" {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "products": products,
            "events": events,
            "bytes": bytes,
            "seconds": seconds,
            "upload_seconds": uploaded.as_secs_f64(),
            "status": job["status"],
            "created": job["created"],
            "failed": job["failed"],
            "rss_before_kb": rss_before,
            "rss_max_kb": rss_max,
        })
    );
    Ok(())
}

//! `catalog export`: `GET /export` to standard output, counted on standard error.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

pub async fn run(query_api: &str) -> anyhow::Result<ExitCode> {
    let url = format!("{}/export", query_api.trim_end_matches('/'));
    let response = reqwest::get(&url)
        .await
        .with_context(|| format!("reading {url}"))?;
    if !response.status().is_success() {
        bail!(
            "{}: {}",
            response.status(),
            crate::import::problem(response).await
        );
    }
    let position = response
        .headers()
        .get("catalog-position")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_string();
    let progress = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {pos} products {per_sec}")
            .expect("the template is valid"),
    );
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut body = response.bytes_stream();
    let mut last = b'\n';
    while let Some(chunk) = body.next().await {
        // A response cut short (the server failed part way) ends in an error here, and the
        // file on standard output is not whole: said, with exit code 2.
        let chunk = chunk.context("the export was cut short")?;
        out.write_all(&chunk)?;
        progress.inc(chunk.iter().filter(|b| **b == b'\n').count() as u64);
        if let Some(byte) = chunk.last() {
            last = *byte;
        }
    }
    out.flush()?;
    progress.finish_and_clear();
    if last != b'\n' {
        bail!("the export ends inside a line: it was cut short");
    }
    eprintln!(
        "{} products exported at position {position}",
        progress.position()
    );
    Ok(ExitCode::SUCCESS)
}

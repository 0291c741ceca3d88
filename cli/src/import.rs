//! `catalog import`: the upload, then the job followed to its end.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

/// What to import, and where.
pub struct Import {
    pub file: PathBuf,
    pub csv: bool,
    pub dry_run: bool,
    pub api: String,
    pub token: String,
    pub errors_shown: usize,
}

/// `GET /imports/{id}`, the fields shown.
#[derive(Deserialize)]
struct Job {
    status: String,
    lines: u64,
    processed: u64,
    created: u64,
    updated: u64,
    unchanged: u64,
    failed: u64,
    failure: Option<String>,
    #[serde(default)]
    errors: Vec<LineError>,
}

#[derive(Deserialize)]
struct LineError {
    line: u64,
    sku: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    detail: String,
}

/// How often the job is looked at.
const POLL: Duration = Duration::from_millis(500);
/// Bytes read from the file per chunk of the upload.
const CHUNK: usize = 256 * 1024;

pub async fn run(import: Import) -> anyhow::Result<ExitCode> {
    // A CSV file is turned into NDJSON first, beside it in the temporary directory: one
    // product at a time, so memory stays flat whatever the file's size.
    let converted = if import.csv {
        let target =
            std::env::temp_dir().join(format!("catalog-import-{}.ndjson", std::process::id()));
        let source = std::fs::File::open(&import.file)
            .with_context(|| format!("opening {}", import.file.display()))?;
        let out = std::io::BufWriter::new(std::fs::File::create(&target)?);
        let products = crate::csv_file::to_ndjson(source, out)
            .with_context(|| format!("reading {} as CSV", import.file.display()))?;
        eprintln!("{products} products read from the CSV file");
        Some(target)
    } else {
        None
    };
    let path = converted.as_ref().unwrap_or(&import.file);
    let result = upload_and_follow(&import, path).await;
    if let Some(converted) = converted {
        let _ = std::fs::remove_file(converted);
    }
    result
}

async fn upload_and_follow(import: &Import, path: &PathBuf) -> anyhow::Result<ExitCode> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let client = reqwest::Client::new();
    let uploading = ProgressBar::new(size).with_style(style(
        "uploading {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ));
    let body = reqwest::Body::wrap_stream(chunks(path.clone(), uploading.clone())?);
    let url = format!(
        "{}/imports{}",
        import.api.trim_end_matches('/'),
        if import.dry_run { "?dry_run=true" } else { "" }
    );
    let response = client
        .post(&url)
        .bearer_auth(&import.token)
        .header("content-type", "application/x-ndjson")
        .header("content-length", size)
        .body(body)
        .send()
        .await
        .with_context(|| format!("sending the file to {url}"))?;
    uploading.finish_and_clear();
    if !response.status().is_success() {
        bail!("{}: {}", response.status(), problem(response).await);
    }
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("the answer has no Location")?
        .to_string();
    let status_url = format!("{}{location}", import.api.trim_end_matches('/'));
    eprintln!(
        "import {location} started{}",
        if import.dry_run { " (dry run)" } else { "" }
    );

    let progress = ProgressBar::new(0).with_style(style(
        "{bar:30} {pos}/{len} lines {per_sec} eta {eta} {msg}",
    ));
    let job = loop {
        let response = client
            .get(&status_url)
            .bearer_auth(&import.token)
            .send()
            .await
            .context("reading the job")?;
        if !response.status().is_success() {
            bail!("{}: {}", response.status(), problem(response).await);
        }
        let job: Job = response.json().await.context("reading the job")?;
        progress.set_length(job.lines);
        progress.set_position(job.processed);
        progress.set_message(format!(
            "created {} updated {} unchanged {} failed {}",
            job.created, job.updated, job.unchanged, job.failed
        ));
        if job.status != "running" {
            break job;
        }
        tokio::time::sleep(POLL).await;
    };
    progress.finish_and_clear();
    eprintln!(
        "{}: {} lines, {} created, {} updated, {} unchanged, {} failed",
        job.status, job.lines, job.created, job.updated, job.unchanged, job.failed
    );
    for error in job.errors.iter().take(import.errors_shown) {
        eprintln!(
            "line {}{}: {} — {}",
            error.line,
            error
                .sku
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            error.kind,
            error.detail
        );
    }
    if job.errors.len() > import.errors_shown {
        eprintln!(
            "… and {} more: GET {location} lists the first 1000",
            job.failed as usize - import.errors_shown
        );
    }
    Ok(match (job.status.as_str(), job.failed) {
        ("failed", _) => {
            eprintln!(
                "the import stopped: {}",
                job.failure.as_deref().unwrap_or("no reason given")
            );
            ExitCode::from(2)
        }
        (_, 0) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("the templates are valid")
}

/// The file as a stream of chunks, read on a blocking thread, each counted on `progress` as
/// it is handed to the upload.
fn chunks(
    path: PathBuf,
    progress: ProgressBar,
) -> anyhow::Result<impl futures::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static> {
    let mut file =
        std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    tokio::task::spawn_blocking(move || loop {
        let mut chunk = vec![0; CHUNK];
        match file.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                chunk.truncate(n);
                progress.inc(n as u64);
                if tx.blocking_send(Ok(chunk)).is_err() {
                    return;
                }
            }
            Err(err) => {
                let _ = tx.blocking_send(Err(err));
                return;
            }
        }
    });
    Ok(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}

/// A problem's `detail`, or the body as text.
pub async fn problem(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|p| p["detail"].as_str().map(str::to_string))
        .unwrap_or(text)
}

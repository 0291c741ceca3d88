//! Bulk imports: running the jobs `POST /imports` records. A job's file is read from the blob
//! store line by line, in chunks; each line becomes one `Import` command on the product its
//! master SKU names, through the same SKU registry, domain rules and event store as a single
//! command, with `import_id` and `import_line` in its events' metadata. Progress is saved
//! after each chunk, so a job picks up where it stopped when its process is killed; a line
//! taken again is counted as what it did the first time (it changes nothing the second time).
//!
//! Every command-api runs a worker. A worker holds a job by an advisory lock for as long as it
//! runs it; the lock goes with its connection, so a killed process's job is taken up by the
//! next worker that looks (at once when that is the restarted process itself).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use catalog_domain::{
    Attributes, ImportProduct, ImportVariant, Product, ProductCommand, ProductStatus, TextInput,
};
use catalog_store::blobs::BlobError;
use catalog_store::imports::{Counts, Held, ImportJob, Imports, LineError};
use catalog_store::repository::StoreError;
use catalog_support::problem::CommonError;
use catalog_support::shutdown::Shutdown;
use futures::{Stream, StreamExt, TryStreamExt};
use serde::Deserialize;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::error::ApiError;
use crate::routes::products::{Missing, MoneyBody};
use crate::routes::variants::PriceBody;
use crate::state::AppState;

/// The longest line a file may have; a longer one fails alone.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Lines read, decided and saved together.
const CHUNK_LINES: usize = crate::config::IMPORT_CHUNK_LINES;
/// How often an idle worker looks for jobs nobody holds (a job whose process died).
const IDLE_POLL: Duration = Duration::from_secs(2);
/// The metadata keys naming an event's import and line.
pub const IMPORT_ID: &str = "import_id";
/// See [`IMPORT_ID`].
pub const IMPORT_LINE: &str = "import_line";

/// Runs jobs until shutdown: those this process's uploads announce on `wake` at once, and
/// any other running job no worker holds every [`IDLE_POLL`].
pub async fn run(app: AppState, wake: Arc<Notify>, shutdown: Shutdown) -> anyhow::Result<()> {
    let jobs = Imports::new(app.pool.clone());
    let mut failing = Duration::from_millis(200);
    while !shutdown.is_triggered() {
        match run_waiting(&app, &jobs, &shutdown).await {
            Ok(()) => failing = Duration::from_millis(200),
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), retry_in = ?failing, "imports paused");
                failing = (failing * 2).min(Duration::from_secs(30));
                tokio::select! {
                    () = tokio::time::sleep(failing) => {}
                    () = shutdown.wait() => {}
                }
                continue;
            }
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(IDLE_POLL) => {}
            () = shutdown.wait() => {}
        }
    }
    Ok(())
}

/// Takes each running job no one holds, and runs it to its end or to shutdown.
async fn run_waiting(app: &AppState, jobs: &Imports, shutdown: &Shutdown) -> anyhow::Result<()> {
    for import_id in jobs.running().await? {
        if shutdown.is_triggered() {
            break;
        }
        if let Some(held) = jobs.hold(import_id).await? {
            Job::new(app, jobs, held).run(shutdown).await?;
        }
    }
    Ok(())
}

/// One job being run.
struct Job<'a> {
    app: &'a AppState,
    jobs: &'a Imports,
    held: Held,
    /// Lines at or before this may have been applied by an earlier run that stopped before
    /// saving them: taken again, they are counted as what they did then.
    resumed_through: i64,
}

/// What one line did.
enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl<'a> Job<'a> {
    fn new(app: &'a AppState, jobs: &'a Imports, held: Held) -> Self {
        // Up to a chunk past what was saved may have been applied by a run that was killed,
        // its first chunk included: whether one was is not known, so the first chunk is
        // always checked (only its lines that change nothing cost a lookup).
        let resumed_through = held.job.processed + CHUNK_LINES as i64;
        Self {
            app,
            jobs,
            held,
            resumed_through,
        }
    }

    fn job(&self) -> &ImportJob {
        &self.held.job
    }

    /// Reads the file from where the job stopped and takes its lines chunk by chunk; ends the
    /// job at the end of the file. Returns early, the job still running, at shutdown; with an
    /// error (and the chunk unsaved) when a dependency fails.
    async fn run(mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        let job = self.job();
        tracing::info!(import_id = %job.import_id, from_line = job.processed + 1, lines = job.lines, dry_run = job.dry_run, "import running");
        let offset = job.next_offset as u64;
        if job.next_offset >= job.bytes {
            return self.finish().await;
        }
        let file = match self.app.blobs.stream_from(&job.blob_key, offset).await {
            Ok(file) => file,
            Err(BlobError::NotFound(key)) => {
                let why = format!("the uploaded file {key} is no longer in the blob store");
                self.jobs.finish(self.held, Some(&why)).await?;
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        };
        let mut lines = Lines::new(file.map_err(anyhow::Error::new), offset);
        loop {
            if shutdown.is_triggered() {
                tracing::info!(import_id = %self.job().import_id, "import paused for shutdown");
                return Ok(());
            }
            let mut chunk = Vec::with_capacity(CHUNK_LINES);
            while chunk.len() < CHUNK_LINES {
                match lines.next().await? {
                    Some(line) => chunk.push(line),
                    None => break,
                }
            }
            if chunk.is_empty() {
                break;
            }
            let next_offset = chunk.last().map_or(0, |l| l.end) as i64;
            let (counts, errors) = self.take(chunk).await?;
            let import_id = self.job().import_id;
            self.jobs
                .save(&mut self.held, counts, &errors, next_offset)
                .await?;
            tracing::debug!(%import_id, processed = self.job().processed, "import chunk saved");
        }
        let job = self.job();
        tracing::info!(import_id = %job.import_id, created = job.created, updated = job.updated, unchanged = job.unchanged, failed = job.failed, "import done");
        self.finish().await
    }

    /// Ends the job as done, and removes its file: what it held is in the events now.
    async fn finish(self) -> anyhow::Result<()> {
        let key = self.job().blob_key.clone();
        self.jobs.finish(self.held, None).await?;
        if let Err(err) = self.app.blobs.delete(&key).await {
            tracing::warn!(key, error = %err, "an imported file could not be removed");
        }
        Ok(())
    }

    /// Takes one chunk: parses its lines, fails the duplicates, and runs the rest
    /// concurrently (each names a product of its own). Errors only for a failing dependency.
    async fn take(&mut self, chunk: Vec<RawLine>) -> anyhow::Result<(Counts, Vec<LineError>)> {
        let first = self.job().processed + 1;
        let mut parsed = Vec::with_capacity(chunk.len());
        for (k, raw) in chunk.into_iter().enumerate() {
            let line = first + k as i64;
            parsed.push((line, parse(line, raw)));
        }
        let skus: Vec<(String, i64)> = parsed
            .iter()
            .filter_map(|(line, p)| match p {
                Parsed::Product(product) => Some((product.sku.clone(), *line)),
                _ => None,
            })
            .collect();
        let owners = self.jobs.first_lines(&mut self.held, &skus).await?;
        let masters: Vec<String> = skus.into_iter().map(|(sku, _)| sku).collect();
        let holders = self.app.skus.holders(&masters).await?;
        let fresh = if self.job().dry_run {
            HashMap::new()
        } else {
            reserve_fresh(self.app, &parsed, &holders, &owners).await?
        };
        let job = self.job().clone();
        let concurrency = self.app.config.import_concurrency.max(1);
        let resumed_through = self.resumed_through;
        let app = self.app;
        let jobs = self.jobs;
        let results: Vec<anyhow::Result<Result<Outcome, LineError>>> =
            futures::stream::iter(parsed.into_iter().map(|(line, parsed)| {
                let (owner, prepared) = match &parsed {
                    Parsed::Product(p) => (
                        owners.get(&p.sku).copied(),
                        match fresh.get(&line) {
                            Some(id) => Prepared::Fresh(id.clone()),
                            None => Prepared::HeldBy(holders.get(&p.sku).cloned()),
                        },
                    ),
                    _ => (None, Prepared::HeldBy(None)),
                };
                let job = &job;
                async move {
                    match parsed {
                        Parsed::Blank => Ok(Ok(Outcome::Unchanged)),
                        Parsed::Failed(error) => Ok(Err(error)),
                        Parsed::Product(product) => {
                            if let Some(first) = owner.filter(|first| *first != line) {
                                return Ok(Err(LineError {
                                    line,
                                    sku: Some(product.sku.clone()),
                                    kind: "duplicate-sku".into(),
                                    detail: format!(
                                        "the SKU {:?} is imported by line {first} already",
                                        product.sku
                                    ),
                                }));
                            }
                            let again = line <= resumed_through;
                            apply(app, jobs, job, line, product, prepared, again).await
                        }
                    }
                }
            }))
            .buffered(concurrency)
            .collect()
            .await;
        let mut counts = Counts::default();
        let mut errors = Vec::new();
        for result in results {
            match result? {
                Ok(Outcome::Created) => counts.created += 1,
                Ok(Outcome::Updated) => counts.updated += 1,
                Ok(Outcome::Unchanged) => counts.unchanged += 1,
                Err(error) => {
                    counts.failed += 1;
                    errors.push(error);
                }
            }
        }
        Ok((counts, errors))
    }
}

/// What the chunk found out about a line before running it.
enum Prepared {
    /// A new product: its id made and every SKU it names reserved for it, in the chunk's one
    /// statement. It is created without a load.
    Fresh(String),
    /// The product holding its master SKU, if one does, as the chunk's one lookup found it.
    HeldBy(Option<String>),
}

/// Reserves, in one statement, the SKUs of the chunk's lines that name a product no one holds
/// (the common case of a first import), each line under a new id; answers the lines that got
/// every SKU they name. A line that got only some gives them back and takes the one-by-one
/// path, which reclaims dead reservations and reports a taken SKU.
async fn reserve_fresh(
    app: &AppState,
    parsed: &[(i64, Parsed)],
    holders: &HashMap<String, String>,
    owners: &HashMap<String, i64>,
) -> anyhow::Result<HashMap<i64, String>> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    let mut lines: Vec<(i64, String, Vec<String>)> = Vec::new();
    for (line, parsed) in parsed {
        let Parsed::Product(product) = parsed else {
            continue;
        };
        if holders.contains_key(&product.sku) || owners.get(&product.sku) != Some(line) {
            continue;
        }
        let id = Uuid::now_v7().to_string();
        let mut skus: Vec<String> = Vec::new();
        for sku in product.skus() {
            if !skus.iter().any(|s| s == sku) {
                skus.push(sku.to_string());
            }
        }
        wanted.extend(skus.iter().map(|sku| (sku.clone(), id.clone())));
        lines.push((*line, id, skus));
    }
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let taken = app.skus.reserve_free(&wanted).await?;
    let mut fresh = HashMap::new();
    for (line, id, skus) in lines {
        let mine = |sku: &String| taken.contains(&(sku.clone(), id.clone()));
        if skus.iter().all(mine) {
            fresh.insert(line, id);
        } else {
            let got: Vec<&String> = skus.iter().filter(|s| mine(s)).collect();
            app.skus.release_many(&got, &id).await;
        }
    }
    Ok(fresh)
}

/// Runs one line: finds its product by the master SKU, reserves the SKUs it adds, and stores
/// its events (or, in a dry run, decides them and stores nothing). The outer error is a
/// failing dependency, which stops the chunk; the inner one is the line's own failure.
async fn apply(
    app: &AppState,
    jobs: &Imports,
    job: &ImportJob,
    line: i64,
    product: ImportProduct,
    prepared: Prepared,
    again: bool,
) -> anyhow::Result<Result<Outcome, LineError>> {
    let sku = product.sku.clone();
    let failed = |err: ApiError| Ok(Err(line_error(line, Some(&sku), err)));
    let metadata = line_metadata(job, line);
    let holder = match prepared {
        Prepared::Fresh(id) => {
            let skus: Vec<String> = product.skus().map(str::to_string).collect();
            return match app
                .import_store
                .execute_new(&id, ProductCommand::Import(product), &metadata)
                .await
            {
                Ok(_) => Ok(Ok(Outcome::Created)),
                Err(err) => refused(app, err, &skus, &id, failed).await,
            };
        }
        Prepared::HeldBy(holder) => holder,
    };
    let (id, current) = match holder {
        Some(holder) => {
            let (state, _) = match app.import_store.load(&holder).await {
                Ok(loaded) => loaded,
                Err(err) => return dependency_or_line(err, failed),
            };
            if state.status == Some(ProductStatus::Archived) {
                // Its SKUs are free again: the line makes a new product.
                (Uuid::now_v7().to_string(), Product::default())
            } else if !state.exists() {
                // A create in flight, or one that died after reserving (this very line, in a
                // run that was killed): the line creates the product under that id. Should a
                // live writer create it first, the append loses the race and the line is
                // decided again as an update of that product.
                (holder, state)
            } else if state.sku() != sku {
                return failed(ApiError::SkuTaken(sku.clone()));
            } else {
                (holder, state)
            }
        }
        None => (Uuid::now_v7().to_string(), Product::default()),
    };
    let existed = current.exists();
    let held: Vec<String> = current.skus().map(str::to_string).collect();
    let command = ProductCommand::Import(product.clone());
    if job.dry_run {
        // The SKUs the line would add, looked up in one statement; the first one another
        // product holds is the one a real run would report.
        let new: Vec<String> = product
            .skus()
            .filter(|s| !held.iter().any(|h| h == s))
            .map(str::to_string)
            .collect();
        if !new.is_empty() {
            let holders = app.skus.holders(&new).await?;
            let taken = new
                .iter()
                .find(|sku| holders.get(*sku).is_some_and(|holder| *holder != id));
            if let Some(taken) = taken {
                return failed(ApiError::SkuTaken(taken.clone()));
            }
        }
        return match app.import_store.decide_on(&current, &command).await {
            Ok(events) if !existed => Ok(Ok(if events.is_empty() {
                Outcome::Unchanged
            } else {
                Outcome::Created
            })),
            Ok(events) if events.is_empty() => Ok(Ok(Outcome::Unchanged)),
            Ok(_) => Ok(Ok(Outcome::Updated)),
            Err(err) => dependency_or_line(err, failed),
        };
    }
    // Checked before any SKU is reserved, as a single create is.
    let changes = match app.import_store.decide_on(&current, &command).await {
        Ok(events) => events,
        Err(err) => return dependency_or_line(err, failed),
    };
    if existed && changes.is_empty() {
        // The product as just loaded is what the line describes: nothing to reserve or
        // append (a file imported again costs one load a line).
        return Ok(Ok(if again {
            applied_before(jobs, job, &id, line).await?
        } else {
            Outcome::Unchanged
        }));
    }
    let mut reserved: Vec<&str> = Vec::new();
    for new in product.skus().filter(|s| !held.iter().any(|h| h == s)) {
        if reserved.contains(&new) {
            continue;
        }
        // Reserved for this very product already: by a run of this line that was killed.
        let ours = || async {
            Ok::<_, sqlx::Error>(app.skus.holder(new).await?.as_deref() == Some(id.as_str()))
        };
        if !app.skus.reserve(new, &id).await? && !ours().await? {
            app.skus.release_many(&reserved, &id).await;
            return failed(ApiError::SkuTaken(new.to_string()));
        }
        reserved.push(new);
    }
    match app
        .import_store
        .execute(&id, command, None, &metadata)
        .await
    {
        Ok(_) if !existed => Ok(Ok(Outcome::Created)),
        Ok(committed) if !committed.events.is_empty() => Ok(Ok(Outcome::Updated)),
        Ok(_) if again => Ok(Ok(applied_before(jobs, job, &id, line).await?)),
        Ok(_) => Ok(Ok(Outcome::Unchanged)),
        Err(err) => refused(app, err, &reserved, &id, failed).await,
    }
}

/// What a line taken again after a restart did when it first ran, if it stored anything: the
/// outcome it is counted as.
async fn applied_before(
    jobs: &Imports,
    job: &ImportJob,
    id: &str,
    line: i64,
) -> sqlx::Result<Outcome> {
    Ok(match jobs.applied(id, job.import_id, line).await? {
        Some(true) => Outcome::Created,
        Some(false) => Outcome::Updated,
        None => Outcome::Unchanged,
    })
}

/// A line whose command failed: as a single create does, it gives back the SKUs it reserved,
/// unless the connection failed and the commit may have stored it.
async fn refused<S: AsRef<str>, T>(
    app: &AppState,
    err: StoreError,
    reserved: &[S],
    id: &str,
    failed: impl FnOnce(ApiError) -> anyhow::Result<Result<T, LineError>>,
) -> anyhow::Result<Result<T, LineError>> {
    if !matches!(err, StoreError::Unavailable) {
        app.skus.release_many(reserved, id).await;
    }
    dependency_or_line(err, failed)
}

/// The metadata of a line's events: the uploader as actor, the import as correlation and
/// cause, and the import and line themselves.
fn line_metadata(job: &ImportJob, line: i64) -> HashMap<String, String> {
    HashMap::from([
        ("actor".to_string(), job.actor.clone()),
        ("request_id".to_string(), Uuid::now_v7().to_string()),
        ("correlation_id".to_string(), job.import_id.to_string()),
        ("causation_id".to_string(), job.import_id.to_string()),
        (IMPORT_ID.to_string(), job.import_id.to_string()),
        (IMPORT_LINE.to_string(), line.to_string()),
    ])
}

/// A store error as the chunk sees it: a database that is down stops the chunk (it is
/// taken again later); anything else fails the line alone.
fn dependency_or_line<T>(
    err: StoreError,
    failed: impl FnOnce(ApiError) -> anyhow::Result<Result<T, LineError>>,
) -> anyhow::Result<Result<T, LineError>> {
    match err {
        StoreError::Unavailable => Err(anyhow::anyhow!("the event store is unavailable")),
        other => failed(other.into()),
    }
}

/// A line's failure, as its problem would answer a single command.
fn line_error(line: i64, sku: Option<&str>, err: ApiError) -> LineError {
    let problem = err.into_problem();
    // A line's invalid fields are listed in its detail: the report has no room for the
    // problem's `errors`, and "the request" would name the upload, which was fine.
    let detail = match &problem.errors {
        Some(fields) => {
            let listed: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect();
            format!("the line has invalid values: {}", listed.join("; "))
        }
        None => problem.detail,
    };
    LineError {
        line,
        sku: sku.map(str::to_string),
        kind: problem
            .kind
            .trim_start_matches("urn:catalog:problem:")
            .to_string(),
        detail,
    }
}

/// A line as the file has it: `POST /products`' body and the variants.
#[derive(Deserialize)]
struct LineBody {
    sku: Option<String>,
    #[serde(rename = "type")]
    product_type: Option<String>,
    name: Option<TextInput>,
    description: Option<TextInput>,
    price: Option<MoneyBody>,
    stock: Option<i64>,
    category: Option<String>,
    attributes: Option<Attributes>,
    variant_attributes: Option<Attributes>,
    #[serde(default)]
    variants: Vec<VariantBody>,
}

#[derive(Deserialize)]
struct VariantBody {
    sku: Option<String>,
    attributes: Option<Attributes>,
    prices: Option<Vec<PriceBody>>,
    stock: Option<i64>,
}

enum Parsed {
    Blank,
    Product(ImportProduct),
    Failed(LineError),
}

/// Reads one line into the product it describes, or why it cannot be read.
fn parse(line: i64, raw: RawLine) -> Parsed {
    let bytes = match raw.text {
        Ok(bytes) => bytes,
        Err(too_long) => {
            return Parsed::Failed(line_error(
                line,
                None,
                ApiError::PayloadTooLarge { limit: too_long },
            ))
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Parsed::Blank;
    }
    let body: LineBody = match serde_json::from_slice(&bytes) {
        Ok(body) => body,
        Err(err) => {
            return Parsed::Failed(line_error(
                line,
                None,
                ApiError::BadRequest(format!("the line is not a product as JSON: {err}")),
            ))
        }
    };
    let mut missing = Missing::default();
    let product = ImportProduct {
        sku: missing.take("sku", body.sku),
        product_type: body.product_type,
        name: missing.take("name", body.name),
        description: body.description,
        category: body.category,
        attributes: body.attributes,
        price: missing.money("price", body.price),
        stock: body.stock,
        variant_attributes: body.variant_attributes,
        variants: body
            .variants
            .into_iter()
            .enumerate()
            .map(|(i, v)| ImportVariant {
                new_id: Uuid::now_v7().to_string(),
                sku: missing.take(&format!("variants[{i}].sku"), v.sku),
                attributes: v.attributes,
                prices: v
                    .prices
                    .map(|prices| missing.prices(&format!("variants[{i}].prices"), prices)),
                stock: v.stock,
            })
            .collect(),
    };
    if missing.0.is_empty() {
        Parsed::Product(product)
    } else {
        let sku = Some(product.sku.as_str()).filter(|s| !s.is_empty());
        Parsed::Failed(line_error(
            line,
            sku,
            ApiError::from(CommonError::Validation(missing.0)),
        ))
    }
}

/// One line of the file: its bytes (without the newline), or the limit it went over, and the
/// offset just past it.
struct RawLine {
    text: Result<Bytes, usize>,
    end: u64,
}

/// A file's lines, read from a stream of chunks with at most one line (up to
/// [`MAX_LINE_BYTES`]) and one chunk in memory.
struct Lines<S> {
    chunks: S,
    buffer: BytesMut,
    /// The offset of the buffer's first byte in the file.
    at: u64,
    /// Inside a line over the limit: its bytes are dropped until its newline.
    skipping: bool,
    done: bool,
}

impl<S: Stream<Item = anyhow::Result<Bytes>> + Unpin> Lines<S> {
    fn new(chunks: S, offset: u64) -> Self {
        Self {
            chunks,
            buffer: BytesMut::new(),
            at: offset,
            skipping: false,
            done: false,
        }
    }

    async fn next(&mut self) -> anyhow::Result<Option<RawLine>> {
        loop {
            if let Some(newline) = self.buffer.iter().position(|b| *b == b'\n') {
                let line = self.buffer.split_to(newline + 1);
                self.at += line.len() as u64;
                let text = if std::mem::take(&mut self.skipping) {
                    Err(MAX_LINE_BYTES)
                } else {
                    Ok(line.freeze().slice(..newline))
                };
                return Ok(Some(RawLine { text, end: self.at }));
            }
            if self.buffer.len() > MAX_LINE_BYTES {
                // Too long already: keep only the count of what is dropped.
                self.at += self.buffer.len() as u64;
                self.buffer.clear();
                self.skipping = true;
            }
            if self.done {
                if self.buffer.is_empty() && !self.skipping {
                    return Ok(None);
                }
                // The last line, without a newline.
                let line = self.buffer.split();
                self.at += line.len() as u64;
                let text = if std::mem::take(&mut self.skipping) {
                    Err(MAX_LINE_BYTES)
                } else {
                    Ok(line.freeze())
                };
                return Ok(Some(RawLine { text, end: self.at }));
            }
            match self.chunks.next().await {
                Some(chunk) => self.buffer.extend_from_slice(&chunk?),
                None => self.done = true,
            }
        }
    }
}

/// Lines in a file as the job counts them: every newline ends one, and text after the last
/// newline is one more.
pub fn count_lines(newlines: u64, ends_with_newline: bool, bytes: u64) -> u64 {
    newlines + u64::from(bytes > 0 && !ends_with_newline)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(file: &[&str], offset: u64) -> Vec<(Result<String, usize>, u64)> {
        let chunks: Vec<anyhow::Result<Bytes>> = file
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c.as_bytes())))
            .collect();
        let mut lines = Lines::new(futures::stream::iter(chunks), offset);
        let mut out = Vec::new();
        while let Some(line) = lines.next().await.unwrap() {
            out.push((
                line.text.map(|b| String::from_utf8(b.to_vec()).unwrap()),
                line.end,
            ));
        }
        out
    }

    #[tokio::test]
    async fn lines_are_split_across_chunks_with_their_end_offsets() {
        let got = lines(&["{\"a\":", "1}\n{\"b\"", ":2}\n\n{\"c\":3}"], 100).await;
        assert_eq!(
            got,
            vec![
                (Ok("{\"a\":1}".into()), 108),
                (Ok("{\"b\":2}".into()), 116),
                (Ok(String::new()), 117),
                (Ok("{\"c\":3}".into()), 124),
            ]
        );
        assert_eq!(lines(&[], 0).await, vec![]);
        assert_eq!(lines(&["x\n"], 0).await, vec![(Ok("x".into()), 2)]);
    }

    #[tokio::test]
    async fn a_line_over_the_limit_fails_alone() {
        let long = "x".repeat(MAX_LINE_BYTES + 10);
        let got = lines(
            &[
                "ok\n",
                &long[..MAX_LINE_BYTES / 2],
                &long[MAX_LINE_BYTES / 2..],
                "\nnext\n",
            ],
            0,
        )
        .await;
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, Ok("ok".into()));
        assert_eq!(got[1], (Err(MAX_LINE_BYTES), 3 + long.len() as u64 + 1));
        assert_eq!(got[2].0, Ok("next".into()));
    }

    #[test]
    fn a_file_counts_its_last_line_without_a_newline() {
        assert_eq!(count_lines(2, true, 10), 2);
        assert_eq!(count_lines(2, false, 12), 3);
        assert_eq!(count_lines(0, false, 0), 0);
    }
}

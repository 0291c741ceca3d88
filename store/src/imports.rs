//! Bulk import jobs as PostgreSQL keeps them (migrations/…_imports.sql): created when a file
//! has been uploaded, held by one worker at a time through an advisory lock, their progress
//! saved chunk by chunk, and read back by `GET /imports`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How many errors a job keeps: the first ones, by line.
pub const ERRORS_KEPT: i64 = 1000;

/// A job as `GET /imports/{id}` shows it, without its errors.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ImportJob {
    /// The job's id, also its path: `/imports/{import_id}`.
    pub import_id: Uuid,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// Whether the job only checks and counts, writing nothing.
    pub dry_run: bool,
    /// Who uploaded the file; its events name them as their actor.
    pub actor: String,
    /// Lines in the file (blank ones included).
    pub lines: i64,
    /// Lines taken so far: created, updated, unchanged or failed.
    pub processed: i64,
    /// Lines that created a product.
    pub created: i64,
    /// Lines that changed a product.
    pub updated: i64,
    /// Lines whose product was already as they describe it, and blank lines.
    pub unchanged: i64,
    /// Lines that failed alone, with an error each.
    pub failed: i64,
    /// Why the job stopped as a whole, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The file's size.
    pub bytes: i64,
    /// When the file was received.
    pub created_at: DateTime<Utc>,
    /// When progress was last saved.
    pub updated_at: DateTime<Utc>,
    /// When the job ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Where the file is in the blob store.
    #[serde(skip)]
    pub blob_key: String,
    /// The byte offset of the first line not yet taken.
    #[serde(skip)]
    pub next_offset: i64,
}

/// One failed line.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct LineError {
    /// 1-based, as an editor numbers the file's lines.
    pub line: i64,
    /// The line's master SKU, when it could be read.
    pub sku: Option<String>,
    /// The problem type's last part: `validation`, `duplicate-sku`, `sku-taken`, ….
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    /// What is wrong, for people.
    pub detail: String,
}

/// What a chunk of lines did, added to the job's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Lines that created a product.
    pub created: i64,
    /// Lines that changed one.
    pub updated: i64,
    /// Lines that changed nothing.
    pub unchanged: i64,
    /// Lines that failed.
    pub failed: i64,
}

impl Counts {
    /// Lines counted.
    pub fn lines(&self) -> i64 {
        self.created + self.updated + self.unchanged + self.failed
    }
}

/// A new job: its file is stored.
pub struct NewImport<'a> {
    /// Its id.
    pub import_id: Uuid,
    /// Who uploaded the file.
    pub actor: &'a str,
    /// Whether it only checks and counts.
    pub dry_run: bool,
    /// Where the file is stored.
    pub blob_key: &'a str,
    /// The file's size.
    pub bytes: i64,
    /// Its lines: a job with none is done at once.
    pub lines: i64,
}

/// The jobs' table.
#[derive(Clone)]
pub struct Imports {
    pool: PgPool,
}

/// A job this worker holds: the connection that holds its lock, which its progress is saved
/// on, so that a worker that lost the lock (its connection died) cannot save over another's.
pub struct Held {
    lock: PgConnection,
    /// The job as this worker last saved it.
    pub job: ImportJob,
}

const COLUMNS: &str = "import_id, status, dry_run, actor, lines, processed, created, updated, \
                       unchanged, failed, failure, bytes, created_at, updated_at, finished_at, \
                       blob_key, next_offset";

impl Imports {
    /// The jobs in `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Records a job whose file is stored, ready to run.
    pub async fn create(&self, job: NewImport<'_>) -> sqlx::Result<()> {
        let status = if job.lines == 0 { "done" } else { "running" };
        sqlx::query(
            "INSERT INTO imports (import_id, actor, dry_run, status, blob_key, bytes, lines, \
                                  finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $4 = 'done' THEN now() END)",
        )
        .bind(job.import_id)
        .bind(job.actor)
        .bind(job.dry_run)
        .bind(status)
        .bind(job.blob_key)
        .bind(job.bytes)
        .bind(job.lines)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The job, if there is one with this id.
    pub async fn get(&self, import_id: Uuid) -> sqlx::Result<Option<ImportJob>> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM imports WHERE import_id = $1"
        ))
        .bind(import_id)
        .fetch_optional(&self.pool)
        .await
    }

    /// The job's first errors, by line.
    pub async fn errors(&self, import_id: Uuid) -> sqlx::Result<Vec<LineError>> {
        sqlx::query_as(
            "SELECT line, sku, type, detail FROM import_errors WHERE import_id = $1 \
             ORDER BY line LIMIT $2",
        )
        .bind(import_id)
        .bind(ERRORS_KEPT)
        .fetch_all(&self.pool)
        .await
    }

    /// The latest jobs, newest first.
    pub async fn recent(&self, limit: i64) -> sqlx::Result<Vec<ImportJob>> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM imports ORDER BY created_at DESC, import_id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Running jobs, oldest first: what workers look for.
    pub async fn running(&self) -> sqlx::Result<Vec<Uuid>> {
        sqlx::query_scalar(
            "SELECT import_id FROM imports WHERE status = 'running' ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Takes the job if no worker holds it and it is still running.
    pub async fn hold(&self, import_id: Uuid) -> anyhow::Result<Option<Held>> {
        let name = format!("catalog-import:{import_id}");
        let Some(mut lock) = crate::leadership::try_acquire(&self.pool, &name, "import").await?
        else {
            return Ok(None);
        };
        // Read after the lock: the worker before may have finished it meanwhile.
        let job: Option<ImportJob> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM imports WHERE import_id = $1 AND status = 'running'"
        ))
        .bind(import_id)
        .fetch_optional(&mut lock)
        .await?;
        Ok(job.map(|job| Held { lock, job }))
    }

    /// The first line of the job that named each of `skus` (the master SKUs of a chunk, with
    /// their lines): a line whose SKU was first named by another is a duplicate. A line taken
    /// again after a restart finds itself.
    ///
    /// The chunk's names are inserted first; only those already there (a duplicate of an
    /// earlier chunk, or a chunk taken again) are looked up, so a file without duplicates
    /// costs one insert a chunk.
    pub async fn first_lines(
        &self,
        held: &mut Held,
        skus: &[(String, i64)],
    ) -> sqlx::Result<HashMap<String, i64>> {
        let mut first: HashMap<String, i64> = HashMap::with_capacity(skus.len());
        for (sku, line) in skus {
            first
                .entry(sku.clone())
                .and_modify(|l| *l = (*l).min(*line))
                .or_insert(*line);
        }
        let (names, lines): (Vec<&str>, Vec<i64>) = first
            .iter()
            .map(|(sku, line)| (sku.as_str(), *line))
            .unzip();
        let inserted: Vec<String> = sqlx::query_scalar(
            "INSERT INTO import_skus (import_id, sku, line) \
             SELECT $1, * FROM unnest($2::text[], $3::bigint[]) \
             ON CONFLICT (import_id, sku) DO NOTHING RETURNING sku",
        )
        .bind(held.job.import_id)
        .bind(&names)
        .bind(&lines)
        .fetch_all(&mut held.lock)
        .await?;
        if inserted.len() < first.len() {
            let inserted: HashSet<&str> = inserted.iter().map(String::as_str).collect();
            let named_before: Vec<&str> = names
                .into_iter()
                .filter(|sku| !inserted.contains(sku))
                .collect();
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT sku, line FROM import_skus WHERE import_id = $1 AND sku = ANY($2)",
            )
            .bind(held.job.import_id)
            .bind(&named_before)
            .fetch_all(&mut held.lock)
            .await?;
            first.extend(rows);
        }
        Ok(first)
    }

    /// Saves a chunk's progress: its counts, its errors (while the job keeps fewer than
    /// [`ERRORS_KEPT`]), and where the next chunk starts. One transaction: a chunk is saved
    /// whole or not at all.
    pub async fn save(
        &self,
        held: &mut Held,
        counts: Counts,
        errors: &[LineError],
        next_offset: i64,
    ) -> sqlx::Result<()> {
        let mut tx = sqlx::Connection::begin(&mut held.lock).await?;
        let room = (ERRORS_KEPT - held.job.failed).max(0) as usize;
        let kept = &errors[..errors.len().min(room)];
        if !kept.is_empty() {
            sqlx::query(
                "INSERT INTO import_errors (import_id, line, sku, type, detail) \
                 SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) \
                 ON CONFLICT (import_id, line) DO NOTHING",
            )
            .bind(held.job.import_id)
            .bind(kept.iter().map(|e| e.line).collect::<Vec<_>>())
            .bind(kept.iter().map(|e| e.sku.clone()).collect::<Vec<_>>())
            .bind(kept.iter().map(|e| e.kind.clone()).collect::<Vec<_>>())
            .bind(kept.iter().map(|e| e.detail.clone()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE imports SET processed = processed + $2, created = created + $3, \
                 updated = updated + $4, unchanged = unchanged + $5, failed = failed + $6, \
                 next_offset = $7, updated_at = now() \
             WHERE import_id = $1",
        )
        .bind(held.job.import_id)
        .bind(counts.lines())
        .bind(counts.created)
        .bind(counts.updated)
        .bind(counts.unchanged)
        .bind(counts.failed)
        .bind(next_offset)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let job = &mut held.job;
        job.processed += counts.lines();
        job.created += counts.created;
        job.updated += counts.updated;
        job.unchanged += counts.unchanged;
        job.failed += counts.failed;
        job.next_offset = next_offset;
        Ok(())
    }

    /// Ends the job: `done`, or `failed` with why.
    pub async fn finish(&self, mut held: Held, failure: Option<&str>) -> sqlx::Result<()> {
        let mut tx = sqlx::Connection::begin(&mut held.lock).await?;
        sqlx::query(
            "UPDATE imports SET status = CASE WHEN $2::text IS NULL THEN 'done' ELSE 'failed' END, \
                 failure = $2, finished_at = now(), updated_at = now() \
             WHERE import_id = $1",
        )
        .bind(held.job.import_id)
        .bind(failure)
        .execute(&mut *tx)
        .await?;
        // Only a running job looks for duplicates.
        sqlx::query("DELETE FROM import_skus WHERE import_id = $1")
            .bind(held.job.import_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether line `line` of the job already stored events for `product_id`, and if so
    /// whether it created the product: how a line taken again after a restart is counted as
    /// what it did the first time, not as unchanged.
    pub async fn applied(
        &self,
        product_id: &str,
        import_id: Uuid,
        line: i64,
    ) -> sqlx::Result<Option<bool>> {
        sqlx::query_scalar(
            "SELECT bool_or(event_type = 'ProductCreated') FROM events \
             WHERE aggregate_type = 'Product' AND aggregate_id = $1 \
               AND metadata ->> 'import_id' = $2 AND metadata ->> 'import_line' = $3 \
             HAVING count(*) > 0",
        )
        .bind(product_id)
        .bind(import_id.to_string())
        .bind(line.to_string())
        .fetch_optional(&self.pool)
        .await
    }
}

//! Group commit: the appends of concurrent commands written together, one statement and one
//! transaction for all of them, so one round trip and one WAL flush serve the whole group.
//!
//! Each command hands its events (and the snapshot it takes) to [`Groups::append`] and waits.
//! A few writer tasks take turns at the queue: a free writer takes every append waiting, up to
//! a bound, and writes them through `catalog_append_group` (migration `…_group_commit.sql`).
//! There is no timer: a lone command is written at once, and under load the appends that
//! arrive while the writers' statements are in flight make the next group. A command is
//! answered only after its group's transaction has committed.
//!
//! Each command keeps its own outcome. One that lost its race to another writer (its first
//! sequence is taken) is left out by the statement and reported lost, to be decided again by
//! its caller, while the rest of the group is stored. When the statement fails as a whole (a
//! hand-written row in the way, a deadlock with a writer outside the groups), each command of
//! the group is written again alone, so a neighbour's failure never becomes a command's own.
//! When the database cannot be reached, every command of the group learns that its outcome is
//! unknown, as a single append would.
//!
//! A stored command that carries an idempotency key has its idempotency record answered in
//! the same transaction (migration `…_group_answers_idempotency.sql`): the record's answer is
//! the event. [`answering`] tells the caller so, and it writes nothing more.

use std::cell::Cell;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use cqrs_es::persist::SerializedEvent;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};
use uuid::Uuid;

/// How a command's append ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Its events (and snapshot) are committed.
    Stored,
    /// Another writer holds its first sequence: nothing of it was stored.
    Lost,
}

/// Why an append failed: shared by every command of a group that failed together.
pub(crate) type AppendError = Arc<sqlx::Error>;

/// How groups are formed: how many are written at once, and how large one may grow.
#[derive(Debug, Clone, Copy)]
pub struct Grouping {
    /// Writers taking turns at the queue: how many groups may be in flight at once.
    pub writers: usize,
    /// The most commands one group holds.
    pub max_commands: usize,
}

impl Default for Grouping {
    /// Two writers, so one group is being formed while the other is committed (measured
    /// against one command a transaction in docs/PERFORMANCE.md, "Group commit"); at most 64
    /// commands a group, which keeps the statement's arrays small and is more than 32
    /// concurrent clients fill.
    fn default() -> Self {
        Self {
            writers: 2,
            max_commands: 64,
        }
    }
}

tokio::task_local! {
    /// Set by an append that stored a command carrying an idempotency key, inside
    /// [`answering`].
    static ANSWERED: Cell<bool>;
}

/// Runs `command` and tells whether an append inside it was stored with an idempotency key,
/// and so answered that key's record in its own transaction: the caller then has no answer
/// left to store. Appends outside such a scope are stored the same way and tell no one.
pub async fn answering<F: Future>(command: F) -> (F::Output, bool) {
    ANSWERED
        .scope(Cell::new(false), async {
            let output = command.await;
            (output, ANSWERED.with(Cell::get))
        })
        .await
}

/// One command's append, in the columns `catalog_append_group` takes.
pub(crate) struct Append {
    events: Vec<EventRow>,
    snapshot: Option<SnapshotRow>,
    /// Whether its first event carries an idempotency key, whose record the append answers.
    keyed: bool,
}

struct EventRow {
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    /// JSON text, serialized by the command's own task rather than by the writer.
    payload: String,
    metadata: String,
    event_id: Uuid,
}

struct SnapshotRow {
    last_sequence: i64,
    counter: i64,
    payload: String,
}

impl Append {
    /// `events` in sequence order; `snapshot` is the state folded up to `last_sequence` and
    /// cqrs-es's snapshot counter.
    pub(crate) fn new(events: &[SerializedEvent], snapshot: Option<(Value, usize, usize)>) -> Self {
        Self {
            keyed: events
                .first()
                .is_some_and(|e| e.metadata.get(crate::log::IDEMPOTENCY_KEY).is_some()),
            events: events
                .iter()
                .map(|e| EventRow {
                    aggregate_type: e.aggregate_type.clone(),
                    aggregate_id: e.aggregate_id.clone(),
                    sequence: e.sequence as i64,
                    event_type: e.event_type.clone(),
                    event_version: e.event_version.clone(),
                    payload: e.payload.to_string(),
                    metadata: e.metadata.to_string(),
                    event_id: Uuid::new_v4(),
                })
                .collect(),
            snapshot: snapshot.map(|(state, last_sequence, counter)| SnapshotRow {
                last_sequence: last_sequence as i64,
                counter: counter as i64,
                payload: state.to_string(),
            }),
        }
    }
}

struct Waiting {
    append: Append,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// The queue of appends and the writers that take groups off it.
pub(crate) struct Groups {
    pool: PgPool,
    grouping: Grouping,
    queue: mpsc::UnboundedSender<Waiting>,
    /// Handed to the writers when the first append starts them, inside the runtime that
    /// appends. From then on only they hold it, so when they are gone (their runtime shut
    /// down) an append fails instead of waiting for nobody.
    receiver: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Waiting>>>,
    started: OnceLock<()>,
}

impl Groups {
    pub(crate) fn new(pool: PgPool, grouping: Grouping) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        Self {
            pool,
            grouping: Grouping {
                writers: grouping.writers.max(1),
                max_commands: grouping.max_commands.max(1),
            },
            queue,
            receiver: std::sync::Mutex::new(Some(receiver)),
            started: OnceLock::new(),
        }
    }

    /// Appends one command's events with the next group, and waits until it is committed (or
    /// lost, or failed).
    pub(crate) async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        self.start();
        let keyed = append.keyed;
        let (reply, outcome) = oneshot::channel();
        self.queue
            .send(Waiting { append, reply })
            .map_err(|_| Arc::new(sqlx::Error::WorkerCrashed))?;
        let appended = outcome
            .await
            .unwrap_or_else(|_| Err(Arc::new(sqlx::Error::WorkerCrashed)));
        if keyed && matches!(appended, Ok(Appended::Stored)) {
            // Outside `answering` there is no one to tell.
            let _ = ANSWERED.try_with(|answered| answered.set(true));
        }
        appended
    }

    fn start(&self) {
        self.started.get_or_init(|| {
            let receiver = self
                .receiver
                .lock()
                .expect("the receiver's lock is never poisoned")
                .take()
                .expect("the writers start once");
            let receiver = Arc::new(Mutex::new(receiver));
            for _ in 0..self.grouping.writers {
                tokio::spawn(write_groups(
                    self.pool.clone(),
                    Arc::clone(&receiver),
                    self.grouping.max_commands,
                ));
            }
        });
    }
}

/// One writer: takes the appends waiting (at least one, at most `max_commands`), writes them
/// as a group, answers each, and goes back for more.
async fn write_groups(
    pool: PgPool,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<Waiting>>>,
    max_commands: usize,
) {
    let mut group = Vec::with_capacity(max_commands);
    loop {
        {
            let mut queue = receiver.lock().await;
            if queue.recv_many(&mut group, max_commands).await == 0 {
                return; // every sender is gone
            }
        }
        metrics::histogram!("catalog_append_group_commands").record(group.len() as f64);
        match write(&pool, &group).await {
            Ok(stored) => answer(group.drain(..), |i| Ok(appended(&stored, i))),
            Err(err) if group.len() == 1 || catalog_support::db::is_unavailable(&err) => {
                let err = Arc::new(err);
                answer(group.drain(..), |_| Err(Arc::clone(&err)));
            }
            Err(err) => {
                tracing::debug!(error = %err, commands = group.len(), "group failed; writing each command alone");
                let alone = group.drain(..).map(|waiting| async {
                    let outcome = write(&pool, std::slice::from_ref(&waiting))
                        .await
                        .map(|stored| appended(&stored, 0))
                        .map_err(Arc::new);
                    // The command may have given up waiting: nothing to tell it.
                    let _ = waiting.reply.send(outcome);
                });
                futures::future::join_all(alone).await;
            }
        }
    }
}

/// How command `index` of a group fared, given the indexes the statement stored.
fn appended(stored: &[i32], index: usize) -> Appended {
    if stored.contains(&(index as i32)) {
        Appended::Stored
    } else {
        Appended::Lost
    }
}

fn answer(
    group: impl Iterator<Item = Waiting>,
    outcome: impl Fn(usize) -> Result<Appended, AppendError>,
) {
    for (i, waiting) in group.enumerate() {
        let _ = waiting.reply.send(outcome(i));
    }
}

/// Writes `group` in one statement; returns the indexes of the commands stored.
async fn write(pool: &PgPool, group: &[Waiting]) -> Result<Vec<i32>, sqlx::Error> {
    let rows = group.iter().map(|w| w.append.events.len()).sum();
    let mut columns = Columns::with_capacity(rows);
    let mut snapshots = SnapshotColumns::default();
    for (command, waiting) in group.iter().enumerate() {
        let command = command as i32;
        for (n, event) in waiting.append.events.iter().enumerate() {
            columns.push(command, n == 0, event);
        }
        if let Some(snapshot) = &waiting.append.snapshot {
            snapshots.commands.push(command);
            snapshots.sequences.push(snapshot.last_sequence);
            snapshots.counters.push(snapshot.counter);
            snapshots.payloads.push(&snapshot.payload);
        }
    }
    sqlx::query_scalar(APPEND_GROUP)
        .bind(&columns.commands)
        .bind(&columns.aggregate_types)
        .bind(&columns.aggregate_ids)
        .bind(&columns.sequences)
        .bind(&columns.event_types)
        .bind(&columns.event_versions)
        .bind(&columns.payloads)
        .bind(&columns.metadata)
        .bind(&columns.event_ids)
        .bind(&columns.firsts)
        .bind(&snapshots.commands)
        .bind(&snapshots.sequences)
        .bind(&snapshots.counters)
        .bind(&snapshots.payloads)
        .fetch_one(pool)
        .await
}

const APPEND_GROUP: &str = "SELECT catalog_append_group($1, $2, $3, $4, $5, $6, \
     $7::text[]::jsonb[], $8::text[]::jsonb[], $9, $10, $11, $12, $13, $14::text[]::jsonb[])";

/// The group's events as the statement's parallel arrays.
struct Columns<'a> {
    commands: Vec<i32>,
    aggregate_types: Vec<&'a str>,
    aggregate_ids: Vec<&'a str>,
    sequences: Vec<i64>,
    event_types: Vec<&'a str>,
    event_versions: Vec<&'a str>,
    payloads: Vec<&'a str>,
    metadata: Vec<&'a str>,
    event_ids: Vec<Uuid>,
    firsts: Vec<bool>,
}

impl<'a> Columns<'a> {
    fn with_capacity(rows: usize) -> Self {
        Self {
            commands: Vec::with_capacity(rows),
            aggregate_types: Vec::with_capacity(rows),
            aggregate_ids: Vec::with_capacity(rows),
            sequences: Vec::with_capacity(rows),
            event_types: Vec::with_capacity(rows),
            event_versions: Vec::with_capacity(rows),
            payloads: Vec::with_capacity(rows),
            metadata: Vec::with_capacity(rows),
            event_ids: Vec::with_capacity(rows),
            firsts: Vec::with_capacity(rows),
        }
    }

    fn push(&mut self, command: i32, first: bool, event: &'a EventRow) {
        self.commands.push(command);
        self.aggregate_types.push(&event.aggregate_type);
        self.aggregate_ids.push(&event.aggregate_id);
        self.sequences.push(event.sequence);
        self.event_types.push(&event.event_type);
        self.event_versions.push(&event.event_version);
        self.payloads.push(&event.payload);
        self.metadata.push(&event.metadata);
        self.event_ids.push(event.event_id);
        self.firsts.push(first);
    }
}

/// The group's snapshots, one per command that takes one.
#[derive(Default)]
struct SnapshotColumns<'a> {
    commands: Vec<i32>,
    sequences: Vec<i64>,
    counters: Vec<i64>,
    payloads: Vec<&'a str>,
}

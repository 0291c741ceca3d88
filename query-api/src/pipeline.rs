//! The pipeline's progress as `GET /status` reports it: how far behind the event store each
//! stage runs. Everything is read from PostgreSQL, which holds the event store, the relay's
//! checkpoint and the read model, so the answer needs no access to the broker or to the other
//! services' metrics.
//!
//! One answer is shared for a second by every caller: a room of open consoles polling it costs
//! the database one round of queries a second, not one per console.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use catalog_read_model::postgres;
use catalog_store::{log, relay};

use crate::error::ApiError;
use catalog_support::problem::CommonError;

/// How long one answer is served to every caller.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// Events further back than this many positions are not searched for unprojected ones: a
/// projection that far behind shows in the relay backlog and the dead-letter queues already,
/// and the search stays one short index range however large the store grows.
const PROJECTION_WINDOW: i64 = 10_000;

/// The pipeline's state, as read from PostgreSQL.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[allow(missing_docs)] // a schema for the OpenAPI document: a doc comment would change it
pub struct PipelineStatus {
    /// When this answer was read (it is shared for up to a second).
    pub checked_at: DateTime<Utc>,
    pub events: EventsStatus,
    pub relay: RelayStatus,
    pub projection: ProjectionStatus,
    pub images: ImagesStatus,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[allow(missing_docs)] // a schema for the OpenAPI document: a doc comment would change it
pub struct EventsStatus {
    /// Position of the last stored event (0 for an empty store).
    pub last_position: i64,
    /// When the last event was stored.
    pub last_recorded_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[allow(missing_docs)] // a schema for the OpenAPI document: a doc comment would change it
pub struct RelayStatus {
    /// Events stored but not yet confirmed by the broker, counted up to 100,000.
    pub backlog: i64,
    /// Whether the backlog reached the count's cap (the real backlog is larger).
    pub backlog_capped: bool,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[allow(missing_docs)] // a schema for the OpenAPI document: a doc comment would change it
pub struct ProjectionStatus {
    /// Products whose PostgreSQL read model is behind their last event (among the products
    /// of the last 10,000 events).
    pub products_behind: i64,
    /// Age of the oldest event not yet in the read model, in seconds; 0 when caught up.
    pub lag_seconds: f64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[allow(missing_docs)] // a schema for the OpenAPI document: a doc comment would change it
pub struct ImagesStatus {
    /// Images attached but not yet rendered.
    pub processing: i64,
}

/// The last answer and when it was read; the lock also makes concurrent callers wait for one
/// read instead of starting their own.
#[derive(Default)]
pub struct StatusCache(Mutex<Option<(Instant, PipelineStatus)>>);

impl StatusCache {
    pub(crate) async fn get(&self, pool: &PgPool, relay: &str) -> Result<PipelineStatus, ApiError> {
        let mut cached = self.0.lock().await;
        if let Some((at, status)) = cached.as_ref() {
            if at.elapsed() < FRESH_FOR {
                return Ok(status.clone());
            }
        }
        let status = read(pool, relay).await.map_err(CommonError::database)?;
        *cached = Some((Instant::now(), status.clone()));
        Ok(status)
    }
}

async fn read(pool: &PgPool, relay: &str) -> sqlx::Result<PipelineStatus> {
    let (last_position, last_recorded_at) = log::head(pool).await?;
    let backlog = relay::unpublished(pool, relay, relay::BACKLOG_CAP).await?;
    let (products_behind, oldest) =
        postgres::behind_since(pool, last_position - PROJECTION_WINDOW).await?;
    let processing = postgres::images_processing(pool).await?;
    let now = Utc::now();
    Ok(PipelineStatus {
        checked_at: now,
        events: EventsStatus {
            last_position,
            last_recorded_at,
        },
        relay: RelayStatus {
            backlog,
            backlog_capped: backlog >= relay::BACKLOG_CAP,
        },
        projection: ProjectionStatus {
            products_behind,
            lag_seconds: oldest.map_or(0.0, |t| {
                ((now - t).num_milliseconds().max(0) as f64) / 1000.0
            }),
        },
        images: ImagesStatus { processing },
    })
}

//! `GET /export`: the whole catalog as NDJSON, every product not archived as its view, all as
//! of one event position (`Catalog-Position`).
//!
//! One read-only REPEATABLE READ snapshot holds the events and the read model together
//! ([`feed::settled_snapshot`]), so writes during the export never reach the file. In it, each
//! product's version at the position is read from the events; where the read model holds that
//! version (the usual case) its document is sent as stored, and where it does not (the
//! projector is behind, or already past the position) the product is folded from its events
//! up to that version, with the read model's own fold. The file is streamed as it is read,
//! through a bounded channel: memory stays flat whatever the catalog's size.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use catalog_domain::ProductStatus;
use catalog_read_model::postgres::fold;
use catalog_store::feed;
use catalog_store::log;
use catalog_support::problem::CommonError;
use futures::TryStreamExt;
use sqlx::{Postgres, Transaction};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::openapi as doc;
use crate::state::AppState;

/// The header naming the position the export is at.
pub const CATALOG_POSITION: HeaderName = HeaderName::from_static("catalog-position");
/// Lines read ahead of the client.
const BUFFERED_LINES: usize = 256;

pub fn router() -> Router<AppState> {
    Router::new().route("/export", get(export))
}

/// The whole catalog at one position, one product view per line.
#[utoipa::path(
    get,
    path = "/export",
    tag = "export",
    operation_id = "export",
    responses(
        (status = 200, description = "Every product not archived as its ProductView (every \
         translation and price), one per line, by id, as of the position in `Catalog-Position`",
         content_type = "application/x-ndjson", body = String,
         headers(("Catalog-Position" = i64, description = "The event position the file is at: \
         every product as of the events at or below it, none after"))),
        doc::ExportErrors,
    ),
)]
pub(crate) async fn export(State(app): State<AppState>) -> Result<Response, ApiError> {
    let (tx, position) = feed::settled_snapshot(&app.pool)
        .await
        .map_err(|err| match err {
            feed::FeedError::Database(err) => ApiError::from(CommonError::database(err)),
            other => ApiError::from(anyhow::Error::new(other)),
        })?;
    let (lines, body) = mpsc::channel::<Result<Bytes, std::io::Error>>(BUFFERED_LINES);
    tokio::spawn(async move {
        if let Err(err) = write(&app, tx, position, &lines).await {
            tracing::error!(error = %format!("{err:#}"), position, "export failed; the file is cut short");
            let _ = lines
                .send(Err(std::io::Error::other("the export failed")))
                .await;
        }
    });
    let body = futures::stream::unfold(body, |mut body| async move {
        body.recv().await.map(|line| (line, body))
    });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(CATALOG_POSITION, HeaderValue::from(position));
    Ok(response)
}

/// Sends every product's line until the snapshot is read through, or the client leaves.
async fn write(
    app: &AppState,
    mut tx: Transaction<'static, Postgres>,
    position: i64,
    lines: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> anyhow::Result<()> {
    // Each product's version at the position beside what the read model holds; a document
    // only where the two agree and it is not archived.
    let rows: Vec<(String, i64, Option<String>, bool)> = {
        let mut stream = sqlx::query_as::<_, (String, i64, Option<String>, bool)>(
            "WITH at_position AS ( \
                 SELECT aggregate_id AS id, max(sequence) AS version FROM events \
                 WHERE aggregate_type = 'Product' AND position <= $1 GROUP BY aggregate_id) \
             SELECT a.id, a.version, \
                    CASE WHEN v.version = a.version AND v.status <> 'archived' \
                         THEN v.doc::text END, \
                    coalesce(v.version = a.version AND v.status = 'archived', false) \
             FROM at_position a LEFT JOIN read_model.product_view v ON v.id = a.id \
             ORDER BY a.id",
        )
        .bind(position)
        .fetch(&mut *tx);
        let mut behind = Vec::new();
        while let Some((id, version, doc, archived)) = stream.try_next().await? {
            match doc {
                Some(doc) => {
                    if !send(lines, doc).await {
                        return Ok(());
                    }
                }
                None if archived => {}
                None => behind.push((id, version, None, false)),
            }
        }
        behind
    };
    // The products whose read model is not at the position, folded from their events.
    for (id, version, _, _) in rows {
        let events = log::read_events(&mut tx, &id, 0, version).await?;
        let Some(folded) = fold(&id, None, &events, &app.schema)? else {
            continue;
        };
        if folded.state.status == Some(ProductStatus::Archived) {
            continue;
        }
        if !send(lines, serde_json::to_string(&folded.view)?).await {
            return Ok(());
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Sends one line; false once the client has gone.
async fn send(lines: &mpsc::Sender<Result<Bytes, std::io::Error>>, mut line: String) -> bool {
    line.push('\n');
    lines.send(Ok(Bytes::from(line))).await.is_ok()
}

//! `Idempotency-Key`: the first response to a mutation is stored and replayed to retries of the
//! same request, so a client can retry after a timeout without applying a command twice.
//!
//! The record is claimed before the command runs (the primary key decides between concurrent
//! requests with one key) and completed with the response afterwards. A second request that
//! finds the record still running waits for it and replays its response.
//!
//! The event a command appends carries its key (`idempotency_key` in the metadata), so the
//! event store, not the key table, is the word on whether a command ran. A command that
//! appends has its record answered by the append's own transaction (`catalog_store::append`):
//! the record is marked answered by its event, and a retry rebuilds the answer from that event
//! (and keeps it in the record). Only answers without an event (a refusal, a command that
//! changed nothing) are stored here after the command. A process that dies before its append,
//! or a commit whose answer was lost with its connection, leaves a record without an answer;
//! whoever next claims such a record once it is abandoned looks for the key's event first and
//! answers as the command did, and runs the command again only when no event holds the key.

use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use catalog_support::auth::Actor;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use catalog_store::append;
use catalog_store::log::{self, RequestEvent};

use crate::error::ApiError;
use catalog_support::problem::CommonError;

/// The request header naming the key.
pub const HEADER: &str = "idempotency-key";
/// The response header (`true`) that marks a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";

/// Headers of a stored response that a replay must repeat.
const KEPT_HEADERS: [&str; 4] = ["content-type", "etag", "location", "retry-after"];

/// How much longer than a request may run its record must stay unfinished before it counts as
/// abandoned: a request cut off at its limit may still have a statement in flight.
const ABANDON_MARGIN: Duration = Duration::from_secs(5);

/// How long a duplicate waits for the first request before answering 409 "in progress".
const WAIT_FOR_FIRST: Duration = Duration::from_secs(15);

/// The idempotency records (table `idempotency_keys`) and the rules they are kept by: the state
/// of [`middleware`] and of the hourly purge.
#[derive(Clone)]
pub struct Idempotency {
    /// The database holding the records and the event store, on connections that do not wait
    /// for each commit's WAL flush: a claim is flushed by the command's own append after it,
    /// and a completion a crash loses is rebuilt from the command's event like any record left
    /// without its response ([`catalog_support::db::unflushed`]).
    pub pool: PgPool,
    /// How long a key is remembered (`IDEMPOTENCY_TTL_HOURS`).
    pub ttl: Duration,
    /// Largest body hashed: the largest any route accepts.
    pub max_body: usize,
    /// How long a command may run (the request timeout). It is cut off after this, so a record
    /// unfinished for longer belongs to a request that is gone.
    pub run_limit: Duration,
}

enum Claim {
    /// This request owns the key and must run.
    Run,
    /// A completed response to replay.
    Replay(Response),
}

#[derive(sqlx::FromRow)]
struct Stored {
    request_hash: Vec<u8>,
    status_code: Option<i16>,
    response_headers: Option<serde_json::Value>,
    response_body: Option<Vec<u8>>,
    /// Answered by the event its command stored, whose answer is rebuilt on a retry.
    answered_by_event: bool,
    expired: bool,
    abandoned: bool,
}

/// Runs a request that carries an `Idempotency-Key` at most once per actor and key: the first
/// runs and its response is stored, a retry of the same request gets that response again, and
/// the key sent with another request is 422. Requests without the header run as they are.
///
/// Either way the command runs in a task of its own once its request has arrived whole, so a
/// client that goes away (which drops the request's future) cannot stop it between its steps:
/// a SKU reserved but no event appended, or a key claimed but its command never run.
pub async fn middleware(State(idem): State<Idempotency>, request: Request, next: Next) -> Response {
    match request.headers().get(HEADER).cloned() {
        Some(raw_key) => run(idem, raw_key, request, next)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        None => {
            detached(async move {
                let result = idem.within_limit(next.run(request)).await;
                result.unwrap_or_else(IntoResponse::into_response)
            })
            .await
        }
    }
}

/// Checks the key and reads the body (a bad key or an over-long body is answered here, with
/// nothing claimed), then claims the key and runs the command detached.
async fn run(
    idem: Idempotency,
    raw_key: HeaderValue,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = valid_key(&raw_key)?;
    let actor = request
        .extensions()
        .get::<Actor>()
        .map(|a| a.subject.clone())
        .ok_or_else(|| ApiError::from(anyhow::anyhow!("idempotency needs authentication")))?;
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, idem.max_body)
        .await
        .map_err(|_| ApiError::PayloadTooLarge {
            limit: idem.max_body,
        })?;
    let hash = request_hash(parts.method.as_str(), parts.uri.path(), &body);
    let request = Request::from_parts(parts, Body::from(body));
    Ok(detached(async move {
        match idem.claim(&actor, &key, &hash).await {
            Err(err) => err.into_response(),
            Ok(Claim::Replay(response)) => response,
            Ok(Claim::Run) => match idem
                .within_limit(append::answering(next.run(request)))
                .await
            {
                // The append that stored the command answered its record.
                Ok((response, true)) if response.status().is_success() => response,
                Ok((response, _)) => idem.complete(&actor, &key, response).await,
                Err(unavailable) => {
                    // Cut off at the run limit: a retry may take the key over at once.
                    idem.release(&actor, &key).await;
                    unavailable.into_response()
                }
            },
        }
    })
    .await)
}

/// Runs `work` to completion in a task of its own, whatever becomes of the request's future.
async fn detached(work: impl std::future::Future<Output = Response> + Send + 'static) -> Response {
    tokio::spawn(work).await.unwrap_or_else(|e| {
        ApiError::from(anyhow::anyhow!("request task failed: {e}")).into_response()
    })
}

pub(crate) fn valid_key(raw: &HeaderValue) -> Result<String, ApiError> {
    let key = raw.to_str().unwrap_or("");
    let printable = key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if key.is_empty() || key.len() > 255 || !printable {
        return Err(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 255 printable ASCII characters".into(),
        ));
    }
    Ok(key.to_string())
}

fn request_hash(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().to_vec()
}

impl Idempotency {
    async fn claim(&self, actor: &str, key: &str, hash: &[u8]) -> Result<Claim, ApiError> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
        let mut pause = Duration::from_millis(10);
        loop {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (actor, key, request_hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (actor, key) DO NOTHING",
            )
            .bind(actor)
            .bind(key)
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(CommonError::database)?
            .rows_affected();
            if inserted == 1 {
                return Ok(Claim::Run);
            }
            let Some(stored) = self.load(actor, key).await? else {
                continue; // deleted in between (expired or failed): claim again
            };
            if stored.expired {
                self.forget(actor, key).await;
                continue;
            }
            if stored.request_hash != hash {
                return Err(ApiError::IdempotencyKeyReused);
            }
            if let Some(status) = stored.status_code {
                return Ok(Claim::Replay(replay(status, stored)));
            }
            // A record answered by its event, or abandoned by a request that may have stored
            // one, is answered as the command did when the event is there.
            if stored.answered_by_event || stored.abandoned {
                if let Some(response) = self.settled_by_event(actor, key).await? {
                    if !stored.answered_by_event {
                        tracing::warn!(
                            key,
                            "an abandoned idempotent request had stored its event; answering as it did"
                        );
                    }
                    return Ok(Claim::Replay(response));
                }
            }
            if stored.abandoned && self.take_over(actor, key).await? {
                return Ok(Claim::Run);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::IdempotencyInProgress);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    async fn load(&self, actor: &str, key: &str) -> Result<Option<Stored>, ApiError> {
        sqlx::query_as::<_, Stored>(
            "SELECT request_hash, status_code, response_headers, response_body, \
                    status_code IS NULL AND completed_at IS NOT NULL AS answered_by_event, \
                    created_at < now() - make_interval(secs => $3) AS expired, \
                    status_code IS NULL AND created_at < now() - make_interval(secs => $4) AS abandoned \
             FROM idempotency_keys WHERE actor = $1 AND key = $2",
        )
        .bind(actor)
        .bind(key)
        .bind(self.ttl.as_secs_f64())
        .bind(self.abandoned_after().as_secs_f64())
        .fetch_optional(&self.pool)
        .await
        .map_err(|err| CommonError::database(err).into())
    }

    async fn take_over(&self, actor: &str, key: &str) -> Result<bool, ApiError> {
        let updated = sqlx::query(
            "UPDATE idempotency_keys SET created_at = now() \
             WHERE actor = $1 AND key = $2 AND status_code IS NULL \
               AND created_at < now() - make_interval(secs => $3)",
        )
        .bind(actor)
        .bind(key)
        .bind(self.abandoned_after().as_secs_f64())
        .execute(&self.pool)
        .await
        .map_err(CommonError::database)?
        .rows_affected();
        if updated == 1 {
            tracing::warn!(
                key,
                "taking over an idempotency key abandoned by a dead request"
            );
        }
        Ok(updated == 1)
    }

    /// `command`, cut off at the run limit (503): after that a retry may take its key over, so
    /// it must not go on.
    async fn within_limit<T>(
        &self,
        command: impl std::future::Future<Output = T>,
    ) -> Result<T, ApiError> {
        tokio::time::timeout(self.run_limit, command)
            .await
            .map_err(|_| ApiError::from(CommonError::Unavailable("the event store")))
    }

    fn abandoned_after(&self) -> Duration {
        self.run_limit + ABANDON_MARGIN
    }

    /// The answer of a request whose event is stored, rebuilt from the event: the response it
    /// gave (or would have given), now stored as the record's so that later retries replay it
    /// directly.
    async fn settled_by_event(&self, actor: &str, key: &str) -> Result<Option<Response>, ApiError> {
        let stored = log::event_of_request(&self.pool, actor, key)
            .await
            .map_err(CommonError::database)?;
        let Some(RequestEvent {
            aggregate_id: id,
            sequence: version,
            event_type,
            added_id,
        }) = stored
        else {
            return Ok(None);
        };
        let response = crate::respond::answer(&event_type, &id, version as u64, added_id);
        let mut response = self.complete(actor, key, response).await;
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
        Ok(Some(response))
    }

    /// Leaves an unfinished record to be taken over at once: its request failed or was cut off
    /// and may or may not have stored its event, which the next claim looks for.
    async fn release(&self, actor: &str, key: &str) {
        if let Err(err) = sqlx::query(
            "UPDATE idempotency_keys SET created_at = now() - make_interval(secs => $3) \
             WHERE actor = $1 AND key = $2 AND status_code IS NULL",
        )
        .bind(actor)
        .bind(key)
        .bind(self.abandoned_after().as_secs_f64())
        .execute(&self.pool)
        .await
        {
            tracing::warn!(error = %err, "could not release an idempotency record; it is taken over once abandoned");
        }
    }

    async fn forget(&self, actor: &str, key: &str) {
        if let Err(err) = sqlx::query("DELETE FROM idempotency_keys WHERE actor = $1 AND key = $2")
            .bind(actor)
            .bind(key)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %err, "could not delete idempotency record");
        }
    }

    /// Stores the response for replay. A server error is not stored: the key is released, and
    /// a retry runs the command again unless its event turns out to be stored after all (a
    /// commit whose answer was lost).
    async fn complete(&self, actor: &str, key: &str, response: Response) -> Response {
        let (parts, body) = response.into_parts();
        // Command responses are small JSON documents; the cap only guards against a bug.
        let body = match to_bytes(body, 1 << 20).await {
            Ok(body) => body,
            Err(err) => {
                self.release(actor, key).await;
                return ApiError::from(anyhow::anyhow!("response body unreadable: {err}"))
                    .into_response();
            }
        };
        if parts.status.is_server_error() {
            self.release(actor, key).await;
            return Response::from_parts(parts, Body::from(body));
        }
        let headers: serde_json::Map<String, serde_json::Value> = KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = parts.headers.get(*name)?.to_str().ok()?;
                Some((name.to_string(), serde_json::Value::from(value)))
            })
            .collect();
        let stored = sqlx::query(
            "UPDATE idempotency_keys SET status_code = $3, response_headers = $4, \
             response_body = $5, completed_at = now() WHERE actor = $1 AND key = $2",
        )
        .bind(actor)
        .bind(key)
        .bind(parts.status.as_u16() as i16)
        .bind(serde_json::Value::Object(headers))
        .bind(body.as_ref())
        .execute(&self.pool)
        .await;
        if let Err(err) = stored {
            tracing::error!(key, error = %err, "could not store the response of an idempotent request");
        }
        Response::from_parts(parts, Body::from(body))
    }

    /// Deletes expired records; run periodically.
    pub async fn purge_expired(&self) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
        )
        .bind(self.ttl.as_secs_f64())
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}

fn replay(status: i16, stored: Stored) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(serde_json::Value::Object(map)) = stored.response_headers {
        for (name, value) in map {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name),
                value.as_str().map(HeaderValue::from_str),
            ) {
                headers.insert(name, value);
            }
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    let body = Bytes::from(stored.response_body.unwrap_or_default());
    (status, headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_short_and_printable() {
        assert!(valid_key(&HeaderValue::from_static("abc-123 x")).is_ok());
        assert!(valid_key(&HeaderValue::from_static("")).is_err());
        assert!(valid_key(&HeaderValue::from_str(&"k".repeat(255)).unwrap()).is_ok());
        assert!(valid_key(&HeaderValue::from_str(&"k".repeat(256)).unwrap()).is_err());
        assert!(valid_key(&HeaderValue::from_bytes(b"tab\there").unwrap()).is_err());
    }

    #[test]
    fn the_hash_tells_method_path_and_body_apart() {
        let base = request_hash("POST", "/products", b"{}");
        assert_eq!(base, request_hash("POST", "/products", b"{}"));
        assert_ne!(base, request_hash("PUT", "/products", b"{}"));
        assert_ne!(base, request_hash("POST", "/products/1", b"{}"));
        assert_ne!(base, request_hash("POST", "/products", b"{ }"));
    }
}

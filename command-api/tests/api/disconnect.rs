//! A client that goes away mid-request: the command it sent is recorded whole (event, SKU
//! reservation and idempotency record) or not at all, and a retry with its key settles it once;
//! a command sent without a key and cut off mid-command still runs to its end.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::helpers::*;

/// Requests cut off, each with a key and a SKU of its own.
const ROUNDS: usize = 30;
/// Requests without a key cut off mid-command, after them, each with a SKU of its own.
const KEYLESS: usize = 5;

/// Where the client goes away.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cut {
    /// Halfway through the headers: the server never has a whole request.
    MidHeaders,
    /// Headers sent, half the body.
    MidBody,
    /// The whole request, then the connection closed at once.
    AfterRequest,
    /// The whole request, then a reset once the server has claimed the key.
    AfterClaim,
    /// The whole request, then a reset once the server has reserved the SKU: mid-command.
    AfterReservation,
}

const CUTS: [Cut; 5] = [
    Cut::MidHeaders,
    Cut::MidBody,
    Cut::AfterRequest,
    Cut::AfterClaim,
    Cut::AfterReservation,
];

fn key(round: usize) -> String {
    format!("cut-{round}")
}

fn sku(round: usize) -> String {
    format!("CUT-{round}")
}

/// Writes all of `bytes` (the client's half of the exchange needs no more than the socket).
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        stream.writable().await.unwrap();
        match stream.try_write(bytes) {
            Ok(written) => bytes = &bytes[written..],
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => panic!("the request cannot be written: {err}"),
        }
    }
}

/// Waits until `sql` (one `$1`) finds a row, as closely as the database can be asked.
async fn until_row(pool: &PgPool, sql: &str, bind: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found: Option<i32> = sqlx::query_scalar(sql)
            .bind(bind)
            .fetch_optional(pool)
            .await
            .unwrap();
        if found.is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "no row for {bind}: {sql}");
        tokio::task::yield_now().await;
    }
}

/// Sends round `round`'s create over a raw connection, with its key or without one, and drops
/// it at `cut`, before reading a byte of the answer.
async fn send_and_cut(app: &TestApp, round: usize, cut: Cut, with_key: bool) {
    let body = serde_json::to_vec(&product_body(&sku(round))).unwrap();
    let key_header = if with_key {
        format!("Idempotency-Key: {}\r\n", key(round))
    } else {
        String::new()
    };
    let head = format!(
        "POST /products HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\n{key_header}\
         Content-Length: {length}\r\n\r\n",
        host = app.base.trim_start_matches("http://"),
        token = app.token,
        length = body.len(),
    );
    let stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    match cut {
        Cut::MidHeaders => write_all(&stream, &head.as_bytes()[..head.len() / 2]).await,
        Cut::MidBody => {
            write_all(&stream, head.as_bytes()).await;
            write_all(&stream, &body[..body.len() / 2]).await;
        }
        Cut::AfterRequest => {
            write_all(&stream, head.as_bytes()).await;
            write_all(&stream, &body).await;
        }
        Cut::AfterClaim | Cut::AfterReservation => {
            write_all(&stream, head.as_bytes()).await;
            write_all(&stream, &body).await;
            if cut == Cut::AfterClaim {
                let claimed = "SELECT 1 FROM idempotency_keys WHERE key = $1";
                until_row(&app.pool, claimed, &key(round)).await;
            } else {
                let reserved = "SELECT 1 FROM sku_reservations WHERE sku = $1";
                until_row(&app.pool, reserved, &sku(round)).await;
            }
            // A reset rather than an orderly close: the client is gone at once.
            stream.set_zero_linger().unwrap();
        }
    }
    drop(stream);
}

/// What the database holds of one round's command.
#[derive(Debug)]
struct Recorded {
    /// Products whose `ProductCreated` carries the round's key.
    created: Vec<String>,
    /// The product holding the round's SKU.
    reserved_by: Option<String>,
    /// The round's idempotency record, `None` when there is none.
    record: Option<Record>,
}

/// Where an idempotency record stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Record {
    /// Claimed, its command not stored.
    Running,
    /// Answered by the transaction that stored its command's event.
    AnsweredByEvent,
    /// Its response stored.
    Answered(i16),
}

impl Record {
    /// Whether the record answers as a created product does.
    fn created(record: Option<Self>) -> bool {
        matches!(record, Some(Self::AnsweredByEvent | Self::Answered(201)))
    }
}

async fn recorded(pool: &PgPool, round: usize) -> Recorded {
    let created = sqlx::query_scalar(
        "SELECT aggregate_id FROM events \
         WHERE event_type = 'ProductCreated' AND metadata->>'idempotency_key' = $1",
    )
    .bind(key(round))
    .fetch_all(pool)
    .await
    .unwrap();
    let reserved_by = sqlx::query_scalar("SELECT product_id FROM sku_reservations WHERE sku = $1")
        .bind(sku(round))
        .fetch_optional(pool)
        .await
        .unwrap();
    let record = sqlx::query_as::<_, (Option<i16>, bool)>(
        "SELECT status_code, completed_at IS NOT NULL FROM idempotency_keys WHERE key = $1",
    )
    .bind(key(round))
    .fetch_optional(pool)
    .await
    .unwrap()
    .map(|answered| match answered {
        (Some(status), _) => Record::Answered(status),
        (None, true) => Record::AnsweredByEvent,
        (None, false) => Record::Running,
    });
    Recorded {
        created,
        reserved_by,
        record,
    }
}

/// Waits until no command is between its steps: every reservation has its product's event and
/// every record whose event is stored has its answer.
async fn settle(pool: &PgPool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (orphans, unanswered): (i64, i64) = sqlx::query_as(
            "SELECT \
               (SELECT count(*) FROM sku_reservations r WHERE NOT EXISTS ( \
                  SELECT 1 FROM events e WHERE e.aggregate_id = r.product_id \
                    AND e.event_type = 'ProductCreated')), \
               (SELECT count(*) FROM idempotency_keys k \
                 WHERE k.status_code IS NULL AND k.completed_at IS NULL AND EXISTS ( \
                  SELECT 1 FROM events e WHERE e.metadata->>'idempotency_key' = k.key))",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if orphans == 0 && unanswered == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "half-recorded commands: {orphans} reservations without their event, \
             {unanswered} stored events without their answer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The create of round `round` sent again, whole, with its key, until it is answered: a claim
/// its cut-off request left behind answers 409 or 503 until it counts as abandoned.
async fn retry(app: &TestApp, round: usize) -> (StatusCode, bool, Value) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let response = app
            .request(Method::POST, "/products")
            .header("idempotency-key", key(round))
            .json(&product_body(&sku(round)))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        let body: Value = response.json().await.unwrap();
        let waiting = matches!(
            status,
            StatusCode::CONFLICT | StatusCode::SERVICE_UNAVAILABLE
        ) && body["type"] != "urn:catalog:problem:sku-taken";
        if !waiting || Instant::now() >= deadline {
            return (status, replayed, body);
        }
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_client_that_disconnects_leaves_its_command_whole_or_absent(pool: PgPool) {
    // A claim left behind by a request that never ran is taken over 10 + 5 s on.
    let app = TestApp::spawn_with(pool, &[("REQUEST_TIMEOUT_SECS", "10")]).await;
    for round in 0..ROUNDS {
        send_and_cut(&app, round, CUTS[round % CUTS.len()], true).await;
    }
    // Commands without a key, cut mid-command: nothing replays them, so they must finish.
    for round in ROUNDS..ROUNDS + KEYLESS {
        send_and_cut(&app, round, Cut::AfterReservation, false).await;
    }
    settle(&app.pool).await;
    for round in ROUNDS..ROUNDS + KEYLESS {
        let created: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events \
             WHERE event_type = 'ProductCreated' AND payload->'ProductCreated'->>'sku' = $1",
        )
        .bind(sku(round))
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(
            created, 1,
            "a command without a key, cut mid-command, runs to its end"
        );
    }

    let mut before = Vec::new();
    for round in 0..ROUNDS {
        let cut = CUTS[round % CUTS.len()];
        let state = recorded(&app.pool, round).await;
        match state.created.as_slice() {
            [id] => {
                assert_eq!(state.reserved_by.as_ref(), Some(id), "{cut:?}: {state:?}");
                assert!(Record::created(state.record), "{cut:?}: {state:?}");
            }
            [] => {
                assert_eq!(state.reserved_by, None, "{cut:?}: {state:?}");
                // A claimed key always has its command running: none is left claimed for
                // a retry to wait out.
                assert_eq!(state.record, None, "{cut:?}: {state:?}");
            }
            _ => panic!("{cut:?}: one request, several products: {state:?}"),
        }
        if matches!(cut, Cut::MidHeaders | Cut::MidBody) {
            assert!(
                state.created.is_empty() && state.record.is_none(),
                "{cut:?}: an incomplete request is not a command: {state:?}"
            );
        }
        before.push(state.created.first().cloned());
    }

    for (round, stored) in before.into_iter().enumerate() {
        let cut = CUTS[round % CUTS.len()];
        let (status, replayed, body) = retry(&app, round).await;
        assert_eq!(status, StatusCode::CREATED, "{cut:?}: {body}");
        let state = recorded(&app.pool, round).await;
        assert_eq!(state.created.len(), 1, "{cut:?}: created exactly once");
        let id = &state.created[0];
        assert_eq!(body["id"].as_str(), Some(id.as_str()), "{cut:?}");
        assert_eq!(state.reserved_by.as_ref(), Some(id), "{cut:?}");
        assert!(Record::created(state.record), "{cut:?}: {state:?}");
        match stored {
            Some(first) => {
                assert!(
                    replayed,
                    "{cut:?}: the stored command is answered, not run again"
                );
                assert_eq!(&first, id);
            }
            None => assert!(!replayed, "{cut:?}: nothing was stored: the command runs"),
        }
    }
    assert_eq!(app.event_count().await, (ROUNDS + KEYLESS) as i64);
    let unanswered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM idempotency_keys WHERE status_code IS NULL AND completed_at IS NULL",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(unanswered, 0, "no record is left waiting for an answer");
}

//! `Idempotency-Key`: retries replay the first response and write nothing; one key is one
//! request per actor.

use futures::future::join_all;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

const KEY: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";

/// A response read whole, so that two can be compared.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    async fn read(response: Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {bytes:?}"));
        Self {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn replayed(&self) -> bool {
        self.header(REPLAYED) == Some("true")
    }
}

/// A request with the default write token and an Idempotency-Key.
fn keyed(app: &TestApp, method: Method, path: &str, key: &str) -> RequestBuilder {
    app.request(method, path).header(KEY, key)
}

async fn adjust_with_key(app: &TestApp, id: &str, delta: i64, key: &str) -> Answer {
    let response = keyed(
        app,
        Method::POST,
        &format!("/products/{id}/stock-adjustments"),
        key,
    )
    .json(&json!({"delta": delta, "reason": "test"}))
    .send()
    .await
    .unwrap();
    Answer::read(response).await
}

async fn create_with_key(app: &TestApp, sku: &str, key: &str) -> Answer {
    let response = keyed(app, Method::POST, "/products", key)
        .json(&product_body(sku))
        .send()
        .await
        .unwrap();
    Answer::read(response).await
}

/// The stock after the last event of a product.
async fn stock(app: &TestApp, id: &str) -> i64 {
    let events = app.events(id).await;
    let (_, _, payload, _) = events.last().unwrap();
    payload
        .get("StockAdjusted")
        .map(|e| e["stock"].as_i64().unwrap())
        .or_else(|| payload["ProductCreated"]["stock"].as_i64())
        .unwrap_or_else(|| panic!("no stock in the last event: {payload}"))
}

fn assert_same_answer(first: &Answer, retry: &Answer) {
    assert_eq!(retry.status, first.status);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("content-type"), first.header("content-type"));
    assert_eq!(retry.header("etag"), first.header("etag"));
    assert!(!first.replayed(), "a first response is not a replay");
    assert!(
        retry.replayed(),
        "a retry carries Idempotent-Replayed: true"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_retried_create_replays_the_first_response_and_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let first = create_with_key(&app, "IDEM-1", "create-1").await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("etag"), Some("\"1\""));
    let id = first.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        first.header("location").map(str::to_string),
        Some(format!("/products/{id}"))
    );

    for _ in 0..2 {
        let retry = create_with_key(&app, "IDEM-1", "create-1").await;
        assert_same_answer(&first, &retry);
        assert_eq!(retry.header("location"), first.header("location"));
    }
    assert_eq!(app.event_count().await, 1, "one product created, once");
    assert_eq!(app.events(&id).await.len(), 1);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_retry_replays_the_first_response_even_after_the_product_moved_on(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-2").await; // stock 10
    let first = adjust_with_key(&app, &id, 5, "adjust-1").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body, json!({"id": id, "version": 2}));
    assert_eq!(first.header("etag"), Some("\"2\""));

    // Another command, without a key, moves the product to version 3.
    let other = app.adjust_stock(&id, 1).await;
    assert_eq!(other.status(), StatusCode::OK);

    let retry = adjust_with_key(&app, &id, 5, "adjust-1").await;
    assert_same_answer(&first, &retry);
    assert_eq!(retry.body["version"], 2, "the first answer, not a new one");
    assert_eq!(app.events(&id).await.len(), 3);
    assert_eq!(stock(&app, &id).await, 16, "the +5 was applied once");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_same_key_with_a_different_body_gets_422_and_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-3").await;
    let first = adjust_with_key(&app, &id, 1, "reused").await;
    assert_eq!(first.status, StatusCode::OK);

    let response = keyed(
        &app,
        Method::POST,
        &format!("/products/{id}/stock-adjustments"),
        "reused",
    )
    .json(&json!({"delta": 2, "reason": "test"}))
    .send()
    .await
    .unwrap();
    assert_ne!(
        response
            .headers()
            .get(REPLAYED)
            .map(reqwest::header::HeaderValue::as_bytes),
        Some(&b"true"[..])
    );
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;

    assert_eq!(app.events(&id).await.len(), 2, "only the first adjustment");
    assert_eq!(stock(&app, &id).await, 11);
    // The key still belongs to the first request.
    let retry = adjust_with_key(&app, &id, 1, "reused").await;
    assert_same_answer(&first, &retry);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_same_key_on_a_different_path_or_method_gets_422_and_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let a = app.create_product("IDEM-4A").await;
    let b = app.create_product("IDEM-4B").await;
    let first = adjust_with_key(&app, &a, 1, "shared").await;
    assert_eq!(first.status, StatusCode::OK);
    let before = app.event_count().await;

    // The same body on another product's route.
    let response = keyed(
        &app,
        Method::POST,
        &format!("/products/{b}/stock-adjustments"),
        "shared",
    )
    .json(&json!({"delta": 1, "reason": "test"}))
    .send()
    .await
    .unwrap();
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Another command on the same product.
    let response = keyed(
        &app,
        Method::POST,
        &format!("/products/{a}/publish"),
        "shared",
    )
    .send()
    .await
    .unwrap();
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Another method on the same path.
    let response = keyed(&app, Method::DELETE, &format!("/products/{a}"), "shared")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;

    assert_eq!(app.event_count().await, before, "nothing written");
    assert_eq!(app.events(&b).await.len(), 1);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_refused_command_is_replayed_as_the_same_409(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-5").await; // stock 10
    let first = adjust_with_key(&app, &id, -100, "too-much").await;
    assert_eq!(first.status, StatusCode::CONFLICT);
    assert_eq!(
        first.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(first.body["type"], "urn:catalog:problem:insufficient-stock");

    let retry = adjust_with_key(&app, &id, -100, "too-much").await;
    assert_same_answer(&first, &retry);

    // Even once the stock would allow it, the retry is the first answer, not a new attempt.
    let restock = app.adjust_stock(&id, 200).await;
    assert_eq!(restock.status(), StatusCode::OK);
    let retry = adjust_with_key(&app, &id, -100, "too-much").await;
    assert_same_answer(&first, &retry);
    assert_eq!(app.events(&id).await.len(), 2, "created and restocked only");
    assert_eq!(stock(&app, &id).await, 210);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn keys_are_scoped_per_actor(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-6").await; // stock 10
    let path = format!("/products/{id}/stock-adjustments");
    let body = json!({"delta": 1, "reason": "test"});
    let send = |token: String, body: Value| {
        let request = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth(token)
            .header(KEY, "same-key")
            .json(&body);
        async move { Answer::read(request.send().await.unwrap()).await }
    };

    let tester = send(app.token.clone(), body.clone()).await;
    assert_eq!(tester.status, StatusCode::OK);
    assert_eq!(tester.body["version"], 2);

    // The same request with the same key from another subject runs on its own.
    let alice = send(app.token_for("alice", "catalog:write"), body.clone()).await;
    assert_eq!(alice.status, StatusCode::OK);
    assert!(!alice.replayed(), "alice must not get tester's answer");
    assert_eq!(alice.body["version"], 3);

    // A different request with that key from a third subject is no reuse either.
    let bob = send(
        app.token_for("bob", "catalog:write"),
        json!({"delta": 4, "reason": "test"}),
    )
    .await;
    assert_eq!(bob.status, StatusCode::OK);
    assert!(!bob.replayed());
    assert_eq!(bob.body["version"], 4);

    assert_eq!(app.events(&id).await.len(), 4);
    assert_eq!(stock(&app, &id).await, 16);

    // Each actor's key still replays that actor's own first answer.
    let alice_again = send(app.token_for("alice", "catalog:write"), body.clone()).await;
    assert_same_answer(&alice, &alice_again);
    let tester_again = send(app.token.clone(), body).await;
    assert_same_answer(&tester, &tester_again);
    assert_eq!(app.events(&id).await.len(), 4);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn concurrent_requests_with_one_key_execute_exactly_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-7").await; // stock 10
    let answers = join_all((0..8).map(|_| adjust_with_key(&app, &id, 1, "concurrent"))).await;

    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(answer.body, json!({"id": id, "version": 2}));
        assert_eq!(answer.header("etag"), Some("\"2\""));
    }
    let executed = answers.iter().filter(|a| !a.replayed()).count();
    assert_eq!(executed, 1, "exactly one answer is not a replay");
    assert_eq!(app.events(&id).await.len(), 2, "exactly one new event");
    assert_eq!(stock(&app, &id).await, 11);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn concurrent_creates_with_one_key_create_one_product(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let answers = join_all((0..8).map(|_| create_with_key(&app, "IDEM-8", "create-once"))).await;

    let first = &answers[0];
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        assert_eq!(answer.body, first.body);
        assert_eq!(answer.header("location"), first.header("location"));
        assert_eq!(answer.header("etag"), Some("\"1\""));
    }
    assert_eq!(answers.iter().filter(|a| !a.replayed()).count(), 1);
    assert_eq!(app.event_count().await, 1, "one product");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn an_invalid_key_gets_400_and_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-9").await;
    let before = app.event_count().await;
    let too_long = "k".repeat(256);
    for key in ["", too_long.as_str(), "tab\there"] {
        let response = keyed(
            &app,
            Method::POST,
            &format!("/products/{id}/stock-adjustments"),
            key,
        )
        .json(&json!({"delta": 1, "reason": "test"}))
        .send()
        .await
        .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "key of {} chars",
            key.len()
        );
        assert_problem(response, StatusCode::BAD_REQUEST).await;
        let response = keyed(&app, Method::POST, "/products", key)
            .json(&product_body("IDEM-9B"))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(app.event_count().await, before, "nothing written");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn keys_of_1_and_255_printable_characters_are_accepted(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-10").await;
    let longest = "k".repeat(255);
    for (delta, key) in [(1, "x"), (2, longest.as_str()), (3, "with spaces & ~!{}")] {
        let first = adjust_with_key(&app, &id, delta, key).await;
        assert_eq!(first.status, StatusCode::OK, "key {key:?}");
        let retry = adjust_with_key(&app, &id, delta, key).await;
        assert_same_answer(&first, &retry);
    }
    assert_eq!(app.events(&id).await.len(), 4);
    assert_eq!(stock(&app, &id).await, 16);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn requests_without_a_key_are_each_executed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-11").await;
    let first = Answer::read(app.adjust_stock(&id, 1).await).await;
    let second = Answer::read(app.adjust_stock(&id, 1).await).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(first.body["version"], 2);
    assert_eq!(second.body["version"], 3);
    assert!(first.header(REPLAYED).is_none() && second.header(REPLAYED).is_none());
    assert_eq!(app.events(&id).await.len(), 3);
    assert_eq!(stock(&app, &id).await, 12);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_request_refused_by_authentication_does_not_claim_its_key(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // The same subject as the write token, without the write scope: 403 before any key is kept.
    let reader = app.token_for("tester", "catalog:audit");
    let response = app
        .client
        .post(format!("{}/products", app.base))
        .bearer_auth(&reader)
        .header(KEY, "first-try")
        .json(&product_body("IDEM-12A"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN).await;
    let response = app
        .client
        .post(format!("{}/products", app.base))
        .header(KEY, "first-try")
        .json(&product_body("IDEM-12A"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED).await;

    // With the right token, the key is fresh: the request runs, even with another body.
    let created = create_with_key(&app, "IDEM-12B", "first-try").await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert!(!created.replayed());
    assert_eq!(app.event_count().await, 1);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_retry_with_a_stale_if_match_is_replayed_not_refused_with_412(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-13").await;
    let send = || {
        keyed(
            &app,
            Method::PUT,
            &format!("/products/{id}/price"),
            "price-once",
        )
        .header("if-match", "\"1\"")
        .json(&json!({"amount": 4999, "currency": "EUR"}))
        .send()
    };
    let first = Answer::read(send().await.unwrap()).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["version"], 2);
    // The product is now at version 2, so running the command again would be 412.
    let retry = Answer::read(send().await.unwrap()).await;
    assert_same_answer(&first, &retry);
    assert_eq!(app.events(&id).await.len(), 2);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_key_is_still_honoured_23_hours_after_its_first_use(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-14").await;
    let first = adjust_with_key(&app, &id, 3, "day-old").await;
    assert_eq!(first.status, StatusCode::OK);
    // Age the record as if the first request had been made 23 hours ago.
    let aged = sqlx::query(
        "UPDATE idempotency_keys SET created_at = created_at - interval '23 hours', \
         completed_at = completed_at - interval '23 hours' WHERE key = 'day-old'",
    )
    .execute(&app.pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(aged, 1, "the key is stored");

    let retry = adjust_with_key(&app, &id, 3, "day-old").await;
    assert_same_answer(&first, &retry);
    assert_eq!(app.events(&id).await.len(), 2);
    assert_eq!(stock(&app, &id).await, 13);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_stored_command_answers_its_record_in_its_own_transaction(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-20").await; // stock 10
    let first = adjust_with_key(&app, &id, 5, "same-transaction").await;
    assert_eq!(first.status, StatusCode::OK);
    // The record was answered by the transaction that stored the event, not by a statement of
    // its own afterwards: its row version is that transaction's, and no response is kept yet.
    let (same_transaction, status): (bool, Option<i16>) = sqlx::query_as(
        "SELECT k.xmin::text = (e.transaction_id::text::numeric % 4294967296)::text, \
                k.status_code \
           FROM idempotency_keys k \
           JOIN events e ON e.metadata->>'idempotency_key' = k.key \
          WHERE k.key = 'same-transaction' AND k.completed_at IS NOT NULL",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(same_transaction, "answered by the event's own transaction");
    assert_eq!(status, None, "the answer is the event's");

    // A retry is answered from the event, as the command was, and the answer is kept.
    let retry = adjust_with_key(&app, &id, 5, "same-transaction").await;
    assert_same_answer(&first, &retry);
    let kept: Option<i16> = sqlx::query_scalar(
        "SELECT status_code FROM idempotency_keys WHERE key = 'same-transaction'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(kept, Some(200));
    let again = adjust_with_key(&app, &id, 5, "same-transaction").await;
    assert_same_answer(&first, &again);
    assert_eq!(app.events(&id).await.len(), 2, "the command ran once");
    assert_eq!(stock(&app, &id).await, 15);

    // A refusal stores no event: its answer is kept by the record itself.
    let refused = adjust_with_key(&app, &id, -1000, "refused").await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    let kept: Option<i16> =
        sqlx::query_scalar("SELECT status_code FROM idempotency_keys WHERE key = 'refused'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(kept, Some(409));
    assert_same_answer(
        &refused,
        &adjust_with_key(&app, &id, -1000, "refused").await,
    );
}

/// Makes a completed record look like one whose process died after the command's event was
/// stored but before its answer was kept: no response, claimed long ago.
async fn forget_the_answer(app: &TestApp, key: &str) {
    let reset = sqlx::query(
        "UPDATE idempotency_keys SET status_code = NULL, response_headers = NULL, \
         response_body = NULL, completed_at = NULL, created_at = now() - interval '10 minutes' \
         WHERE key = $1",
    )
    .bind(key)
    .execute(&app.pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(reset, 1, "the key is stored");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_retry_after_a_crash_between_append_and_answer_replays_from_the_event(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-15").await; // stock 10
    let first = adjust_with_key(&app, &id, 4, "crashed-adjust").await;
    assert_eq!(first.status, StatusCode::OK);
    forget_the_answer(&app, "crashed-adjust").await;

    let retry = adjust_with_key(&app, &id, 4, "crashed-adjust").await;
    assert_same_answer(&first, &retry);
    assert_eq!(app.events(&id).await.len(), 2, "the command ran once");
    assert_eq!(stock(&app, &id).await, 14);
    // The rebuilt answer is kept: the next retry is an ordinary replay.
    let again = adjust_with_key(&app, &id, 4, "crashed-adjust").await;
    assert_same_answer(&first, &again);
    assert_eq!(app.events(&id).await.len(), 2);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_create_retried_after_a_crash_answers_201_with_its_location(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let first = create_with_key(&app, "IDEM-16", "crashed-create").await;
    assert_eq!(first.status, StatusCode::CREATED);
    forget_the_answer(&app, "crashed-create").await;

    let retry = create_with_key(&app, "IDEM-16", "crashed-create").await;
    assert_same_answer(&first, &retry);
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(app.event_count().await, 1, "one product, created once");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn an_abandoned_request_that_stored_nothing_runs_on_retry(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IDEM-17").await;
    // The same request under another key, for the request hash a retry of it carries.
    let twin = adjust_with_key(&app, &id, 2, "twin").await;
    assert_eq!(twin.status, StatusCode::OK);
    // A request with that hash claimed "died-early" and died before it stored anything.
    sqlx::query(
        "INSERT INTO idempotency_keys (actor, key, request_hash, created_at) \
         SELECT actor, 'died-early', request_hash, now() - interval '10 minutes' \
         FROM idempotency_keys WHERE key = 'twin'",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let retry = adjust_with_key(&app, &id, 2, "died-early").await;
    assert_eq!(retry.status, StatusCode::OK);
    assert!(!retry.replayed(), "nothing to replay: the command runs");
    assert_eq!(retry.body["version"], 3);
    assert_eq!(stock(&app, &id).await, 14, "10 + 2 (twin) + 2 (retry)");
}

/// The request timeout the take-over tests run with: a record still unfinished this long plus
/// 5 s after its claim belongs to a request that is gone (a live one is cut off at the timeout).
const RUN_LIMIT_SECS: f64 = 30.0;
const ABANDONED_AFTER_SECS: f64 = RUN_LIMIT_SECS + 5.0;

async fn spawn_with_run_limit(pool: PgPool) -> TestApp {
    TestApp::spawn_with(pool, &[("REQUEST_TIMEOUT_SECS", "30")]).await
}

/// Claims `key` for a stock adjustment of +2 on `id`, as a request does before it runs, and
/// leaves the record unfinished with its claim made `age_secs` ago. The request hash is taken
/// from `twin`, a completed key of the very same request.
async fn claim_unfinished(app: &TestApp, key: &str, twin: &str, age_secs: f64) {
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (actor, key, request_hash, created_at) \
         SELECT actor, $1, request_hash, now() - make_interval(secs => $3) \
         FROM idempotency_keys WHERE key = $2",
    )
    .bind(key)
    .bind(twin)
    .bind(age_secs)
    .execute(&app.pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(claimed, 1, "the twin's record is stored");
}

/// Whether `key`'s record still waits for its answer, and when it was claimed.
async fn unfinished_since(app: &TestApp, key: &str) -> (bool, String) {
    sqlx::query_as(
        "SELECT status_code IS NULL, created_at::text FROM idempotency_keys WHERE key = $1",
    )
    .bind(key)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

fn assert_in_progress(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::CONFLICT, "{answer:?}");
    assert_eq!(
        answer.body["type"],
        "urn:catalog:problem:idempotency-in-progress"
    );
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(!answer.replayed());
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_live_record_is_not_taken_over_and_its_duplicate_gets_409(pool: PgPool) {
    let app = spawn_with_run_limit(pool).await;
    let id = app.create_product("IDEM-18").await; // stock 10
    let twin = adjust_with_key(&app, &id, 2, "twin").await;
    assert_eq!(twin.status, StatusCode::OK);
    // A request with that hash has just claimed "live" and is still running.
    claim_unfinished(&app, "live", "twin", 0.0).await;
    let (_, claimed) = unfinished_since(&app, "live").await;

    let duplicate = adjust_with_key(&app, &id, 2, "live").await;
    assert_in_progress(&duplicate);
    assert_eq!(
        unfinished_since(&app, "live").await,
        (true, claimed),
        "the record is still the first request's, unfinished"
    );
    assert_eq!(stock(&app, &id).await, 12, "10 + 2 (twin): nothing ran");

    // Once the claim is older than the timeout plus 5 s, its request is gone: the key is taken
    // over and, no event holding it, the command runs.
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - make_interval(secs => $1) \
         WHERE key = 'live'",
    )
    .bind(ABANDONED_AFTER_SECS + 1.0)
    .execute(&app.pool)
    .await
    .unwrap();
    let retry = adjust_with_key(&app, &id, 2, "live").await;
    assert_eq!(retry.status, StatusCode::OK, "{retry:?}");
    assert!(!retry.replayed(), "nothing to replay: the command runs");
    assert_eq!(retry.body["version"], 3);
    assert_eq!(stock(&app, &id).await, 14, "10 + 2 (twin) + 2 (take-over)");
    // The answer is kept: the next retry replays it.
    let again = adjust_with_key(&app, &id, 2, "live").await;
    assert_same_answer(&retry, &again);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_record_just_short_of_the_timeout_plus_5_s_is_still_not_taken_over(pool: PgPool) {
    let app = spawn_with_run_limit(pool).await;
    let id = app.create_product("IDEM-19").await; // stock 10
    let twin = adjust_with_key(&app, &id, 2, "twin").await;
    assert_eq!(twin.status, StatusCode::OK);
    // The duplicate looks at the record again and again while it waits, each time against the
    // database's clock: hold the claim 2 s short of abandoned for as long as it does.
    let edge = ABANDONED_AFTER_SECS - 2.0;
    claim_unfinished(&app, "edge", "twin", edge).await;
    let pool = app.pool.clone();
    let hold = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        loop {
            tick.tick().await;
            sqlx::query(
                "UPDATE idempotency_keys SET created_at = now() - make_interval(secs => $1) \
                 WHERE key = 'edge' AND status_code IS NULL",
            )
            .bind(edge)
            .execute(&pool)
            .await
            .unwrap();
        }
    });

    let duplicate = adjust_with_key(&app, &id, 2, "edge").await;
    hold.abort();
    assert_in_progress(&duplicate);
    assert!(unfinished_since(&app, "edge").await.0);
    assert_eq!(stock(&app, &id).await, 12, "10 + 2 (twin): nothing ran");
}

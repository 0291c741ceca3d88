//! Bulk imports (`POST /imports`, `GET /imports/{id}`, `GET /imports`): each line through the
//! same rules, SKU registry and event store as a single command, counted, and failing alone.

use std::time::{Duration, Instant};

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

async fn upload(app: &TestApp, query: &str, body: impl Into<reqwest::Body>) -> Response {
    app.request(Method::POST, &format!("/imports{query}"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Uploads `body` and waits for its job to end; returns the job.
async fn import(app: &TestApp, query: &str, body: impl Into<reqwest::Body>) -> Value {
    let response = upload(app, query, body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let started: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/imports/{}", started["import_id"].as_str().unwrap())
    );
    finished(app, &location).await
}

async fn finished(app: &TestApp, location: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job: Value = app
            .send(Method::GET, location, None)
            .await
            .json()
            .await
            .unwrap();
        if job["status"] != "running" {
            return job;
        }
        assert!(Instant::now() < deadline, "the import did not end: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn counts(job: &Value) -> [i64; 6] {
    [
        "lines",
        "processed",
        "created",
        "updated",
        "unchanged",
        "failed",
    ]
    .map(|k| job[k].as_i64().unwrap_or_else(|| panic!("{k} in {job}")))
}

fn shirt(sku: &str, stock: i64) -> Value {
    json!({
        "sku": sku,
        "name": "Shirt",
        "price": {"amount": 1999, "currency": "EUR"},
        "stock": stock,
        "variants": [
            {"sku": format!("{sku}-M"), "attributes": {"size": "M"}, "stock": 3,
             "prices": [{"amount": 2100, "currency": "EUR"}]},
            {"sku": format!("{sku}-L"), "attributes": {"size": "L"}},
        ]
    })
}

async fn product_id_of(app: &TestApp, sku: &str) -> String {
    sqlx::query_scalar("SELECT product_id FROM sku_reservations WHERE sku = $1")
        .bind(sku)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn each_line_is_created_updated_unchanged_or_fails_alone(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let existing = app.create_product("CUP-1").await;
    let unchanged = app.create_product("CUP-2").await;
    let mut renamed = product_body("CUP-1");
    renamed["name"] = json!("Espresso cup, large");
    let file = [
        ndjson(&[shirt("SHIRT-1", 5), renamed, product_body("CUP-2")]),
        "{\"sku\": \"BROKEN\"\n".to_string(),
        "\n".to_string(),
        ndjson(&[
            json!({"sku": "NO-PRICE", "name": "No price"}),
            shirt("SHIRT-1", 9),
            // Its variant's SKU is CUP-2's master's: taken by another product.
            json!({"sku": "MUG-1", "name": "Mug", "price": {"amount": 900, "currency": "EUR"},
                   "variants": [{"sku": "CUP-2"}]}),
        ]),
    ]
    .concat();
    let job = import(&app, "", file).await;
    assert_eq!(job["status"], "done");
    assert_eq!(job["dry_run"], false);
    // 8 lines: created 1, updated 1, unchanged 2 (CUP-2 and the blank line), failed 4.
    assert_eq!(counts(&job), [8, 8, 1, 1, 2, 4], "{job}");
    let errors: Vec<(i64, String)> = job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (4, "bad-request".to_string()),
            (6, "validation".to_string()),
            (7, "duplicate-sku".to_string()),
            (8, "sku-taken".to_string()),
        ]
    );
    assert_eq!(job["errors"][1]["sku"], "NO-PRICE");
    let detail = job["errors"][1]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("the line has invalid values: ") && detail.contains("price"),
        "{job}"
    );

    // The new product: one stream, its events naming the import and the line.
    let shirt_id = product_id_of(&app, "SHIRT-1").await;
    let events = app.events(&shirt_id).await;
    let types: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(types, ["ProductCreated", "VariantAdded", "VariantAdded"]);
    for (_, _, _, metadata) in &events {
        assert_eq!(metadata["import_id"], job["import_id"]);
        assert_eq!(metadata["import_line"], "1");
        assert_eq!(metadata["actor"], "tester");
    }
    assert_eq!(product_id_of(&app, "SHIRT-1-M").await, shirt_id);
    assert_eq!(
        app.events(&existing).await.last().unwrap().1,
        "DetailsUpdated"
    );
    assert_eq!(app.events(&unchanged).await.len(), 1);
    // The refused line gave back nothing it did not hold: MUG-1 is free.
    let mug: Option<String> =
        sqlx::query_scalar("SELECT product_id FROM sku_reservations WHERE sku = 'MUG-1'")
            .fetch_optional(&app.pool)
            .await
            .unwrap();
    assert_eq!(mug, None);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_duplicate_in_a_later_chunk_fails_and_a_finished_job_keeps_no_sku_list(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // 300 lines: more than one chunk (256), line 290 naming line 5's SKU again.
    let lines: Vec<Value> = (1..=300)
        .map(|n| product_body(&format!("BULK-{}", if n == 290 { 5 } else { n })))
        .collect();
    let job = import(&app, "", ndjson(&lines)).await;
    assert_eq!(counts(&job), [300, 300, 299, 0, 0, 1], "{job}");
    assert_eq!(job["errors"][0]["line"], 290, "{job}");
    assert_eq!(job["errors"][0]["type"], "duplicate-sku", "{job}");
    assert!(
        job["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("line 5"),
        "{job}"
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM import_skus")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept, 0, "the duplicate check's list outlived its job");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_same_file_again_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let file = ndjson(&[shirt("A-1", 1), shirt("A-2", 2), product_body("A-3")]);
    let first = import(&app, "", file.clone()).await;
    assert_eq!(counts(&first), [3, 3, 3, 0, 0, 0]);
    let stored = app.event_count().await;
    let files: Vec<_> = std::fs::read_dir(app.blob_dir().join("imports"))
        .unwrap()
        .collect();
    assert!(files.is_empty(), "a done job's file is removed: {files:?}");
    let second = import(&app, "", file).await;
    assert_eq!(counts(&second), [3, 3, 0, 0, 3, 0]);
    assert_eq!(app.event_count().await, stored);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_dry_run_counts_and_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_product("D-1").await;
    let stored = app.event_count().await;
    let mut changed = product_body("D-1");
    changed["stock"] = json!(99);
    let file = ndjson(&[
        shirt("D-2", 1),
        changed,
        json!({"sku": "D-3", "name": "", "price": {"amount": 1, "currency": "EUR"}}),
        // Its variant's SKU is D-1's: a real run would refuse it, and so does the dry run.
        json!({"sku": "D-4", "name": "Mug", "price": {"amount": 900, "currency": "EUR"},
               "variants": [{"sku": "D-4-S"}, {"sku": "D-1"}]}),
    ]);
    let job = import(&app, "?dry_run=true", file).await;
    assert_eq!(job["dry_run"], true);
    assert_eq!(counts(&job), [4, 4, 1, 1, 0, 2], "{job}");
    assert_eq!(job["errors"][0]["line"], 3);
    assert_eq!(job["errors"][1]["line"], 4);
    assert_eq!(job["errors"][1]["type"], "sku-taken", "{job}");
    assert!(
        job["errors"][1]["detail"].as_str().unwrap().contains("D-1"),
        "{job}"
    );
    assert_eq!(app.event_count().await, stored);
    let reserved: i64 = sqlx::query_scalar("SELECT count(*) FROM sku_reservations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(reserved, 1, "only D-1's own SKU");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_job_taken_again_after_a_stop_counts_what_it_did_the_first_time(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_product("R-2").await;
    let mut changed = product_body("R-2");
    changed["stock"] = json!(42);
    let file = ndjson(&[shirt("R-1", 1), changed, product_body("R-3")]);
    let job = import(&app, "", file.clone()).await;
    assert_eq!(counts(&job), [3, 3, 2, 1, 0, 0]);
    let stored = app.event_count().await;
    // As a process killed after storing the lines' events and before saving its progress
    // leaves the job: running, nothing counted, its file still there.
    let id = job["import_id"].as_str().unwrap();
    std::fs::write(app.blob_dir().join(format!("imports/{id}.ndjson")), &file).unwrap();
    sqlx::query(
        "UPDATE imports SET status = 'running', processed = 0, next_offset = 0, created = 0, \
         updated = 0, unchanged = 0, failed = 0, finished_at = NULL",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let location = format!("/imports/{}", job["import_id"].as_str().unwrap());
    let again = finished(&app, &location).await;
    assert_eq!(again["status"], "done");
    assert_eq!(counts(&again), [3, 3, 2, 1, 0, 0], "{again}");
    assert_eq!(app.event_count().await, stored, "nothing stored twice");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn bad_uploads_get_their_problems(pool: PgPool) {
    let app = TestApp::spawn_with(pool, &[("IMPORT_MAX_BYTES", "2000")]).await;
    let json = app
        .request(Method::POST, "/imports")
        .header("content-type", "application/json")
        .body(ndjson(&[product_body("X-1")]))
        .send()
        .await
        .unwrap();
    assert_problem(json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let big = ndjson(
        &(0..40)
            .map(|i| product_body(&format!("BIG-{i}")))
            .collect::<Vec<_>>(),
    );
    assert!(big.len() > 2000);
    assert_problem(
        upload(&app, "", big.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    // Without a Content-Length, the limit is found while reading.
    let stream = futures::stream::iter(
        big.into_bytes()
            .chunks(100)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let chunked = upload(&app, "", reqwest::Body::wrap_stream(stream)).await;
    assert_problem(chunked, StatusCode::PAYLOAD_TOO_LARGE).await;

    let maybe = upload(&app, "?dry_run=maybe", ndjson(&[product_body("X-1")])).await;
    assert_problem(maybe, StatusCode::BAD_REQUEST).await;

    let reader = app
        .client
        .post(format!("{}/imports", app.base))
        .bearer_auth(app.token_for("reader", "catalog:audit"))
        .header("content-type", "application/x-ndjson")
        .body(ndjson(&[product_body("X-1")]))
        .send()
        .await
        .unwrap();
    assert_problem(reader, StatusCode::FORBIDDEN).await;

    let unknown = app
        .send(
            Method::GET,
            &format!("/imports/{}", uuid::Uuid::now_v7()),
            None,
        )
        .await;
    assert_problem(unknown, StatusCode::NOT_FOUND).await;
    assert_eq!(app.event_count().await, 0);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM imports")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0, "no refused upload left a job");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn recent_jobs_are_listed_newest_first(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let first = import(&app, "", ndjson(&[product_body("L-1")])).await;
    let second = import(&app, "?dry_run=true", ndjson(&[product_body("L-2")])).await;
    let listed: Value = app
        .send(Method::GET, "/imports", None)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&Value> = listed["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["import_id"])
        .collect();
    assert_eq!(ids, [&second["import_id"], &first["import_id"]]);
}

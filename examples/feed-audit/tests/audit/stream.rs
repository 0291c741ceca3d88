//! `feed-audit` against a real query-api: events stored through command-api, the stream read
//! as any outside consumer reads it, and stored events altered behind the feed's back.

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use catalog_testkit::proxy::FaultProxy;
use catalog_testkit::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// command-api and query-api only: the feed reads the event store, nothing else.
async fn world(pool: PgPool) -> World {
    World::start(
        pool,
        Options {
            query_api: true,
            ..Options::new(false, false)
        },
    )
    .await
}

fn query_url(world: &World) -> &str {
    &world.query.as_ref().expect("query-api was started").0
}

fn auditor_token(world: &World) -> String {
    world.token_for("auditor", "catalog:audit")
}

/// `feed-audit` with `args`, nothing from the test's environment.
fn feed_audit(url: &str, token: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_feed-audit"));
    command
        .env_clear()
        .args(["--url", url, "--token", token])
        .args(args)
        .kill_on_drop(true);
    command
}

/// Runs `feed-audit` to its end, which `--until-idle` bounds.
async fn audit(world: &World, args: &[&str]) -> Output {
    let run = feed_audit(query_url(world), &auditor_token(world), args).output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("feed-audit exits")
        .expect("feed-audit runs")
}

/// The positions of the lines `feed-audit` printed with `outcome` (`verified`, `anchored`).
fn positions(output: &Output, outcome: &str) -> Vec<i64> {
    positions_in(String::from_utf8_lossy(&output.stdout).lines(), outcome)
}

fn positions_in<'a>(lines: impl IntoIterator<Item = &'a str>, outcome: &str) -> Vec<i64> {
    lines
        .into_iter()
        .filter(|line| line.split('\t').nth(1) == Some(outcome))
        .map(|line| line.split('\t').next().unwrap().parse().unwrap())
        .collect()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every position stored, in order; with `event_type`, only that type's.
async fn stored(pool: &PgPool, event_type: Option<&str>) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT position FROM public.events WHERE $1::text IS NULL OR event_type = $1 \
         ORDER BY position",
    )
    .bind(event_type)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The position of `aggregate_id`'s event `sequence`.
async fn position_of(pool: &PgPool, aggregate_id: &str, sequence: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT position FROM public.events WHERE aggregate_id = $1 AND sequence = $2",
    )
    .bind(aggregate_id)
    .bind(sequence)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Alters a stored event's data in place, as someone with write access to the database could:
/// its hash keeps the value computed when it was stored.
async fn tamper(pool: &PgPool, position: i64) {
    let altered = sqlx::query(
        "UPDATE public.events SET payload = jsonb_set(payload, '{tampered}', 'true') \
         WHERE position = $1",
    )
    .bind(position)
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(altered.rows_affected(), 1);
}

/// Defines (or redefines) the product type `key`, whose events have no product id.
async fn define_type(world: &World, key: &str, attributes: serde_json::Value) {
    let admin = world.token_for("admin", "catalog:admin");
    let response = world
        .client
        .put(format!("{}/product-types/{key}", world.base))
        .bearer_auth(admin)
        .json(&json!({"name": "Mug", "attributes": attributes}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// A product whose name PostgreSQL's jsonb text prints differently from serde_json (spacing,
/// non-ASCII), so a verifier that printed the JSON again would fail.
async fn create_with_awkward_name(world: &World, sku: &str) -> String {
    let response = world
        .send(
            Method::POST,
            "/products",
            Some(json!({
                "sku": sku, "name": "Tasse «été» \"spéciale\" ☕",
                "price": {"amount": 1299, "currency": "EUR"}, "stock": 3, "category": "tests"
            })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn every_stored_event_is_verified_and_an_altered_one_is_named_by_position(pool: PgPool) {
    let world = world(pool.clone()).await;
    let first = create_with_awkward_name(&world, "AUDIT-1").await;
    let second = world.create("AUDIT-2").await;
    define_type(&world, "mug", json!([])).await;
    world.adjust(&first, 5).await;
    world.adjust(&second, -3).await;
    let priced = world
        .send(
            Method::PUT,
            &format!("/products/{first}/price"),
            Some(json!({"amount": 1250, "currency": "EUR"})),
        )
        .await;
    assert_eq!(priced.status(), StatusCode::OK);
    define_type(
        &world,
        "mug",
        json!([{"name": "volume_ml", "type": "number"}]),
    )
    .await;
    let all = stored(&pool, None).await;
    assert_eq!(all.len(), 7);

    let intact = audit(&world, &["--until-idle", "2"]).await;
    assert!(intact.status.success(), "{}", stderr(&intact));
    assert_eq!(positions(&intact, "verified"), all);
    assert!(
        stdout(&intact).contains(&format!(
            "verified 7 events through position {} (0 earlier links read, 0 aggregates",
            all[6]
        )),
        "{}",
        stdout(&intact)
    );

    // One product from after its creation: the creation is read by id to link the rest.
    let created = position_of(&pool, &first, 1).await;
    let one = audit(
        &world,
        &[
            "--product-id",
            &first,
            "--after",
            &created.to_string(),
            "--max-events",
            "2",
            "--quiet",
        ],
    )
    .await;
    assert!(one.status.success(), "{}", stderr(&one));
    assert_eq!(
        stdout(&one).trim(),
        format!(
            "verified 2 events through position {} (1 earlier links read, 0 aggregates \
             anchored at their first event seen, 1 connections)",
            position_of(&pool, &first, 3).await
        )
    );

    let altered = position_of(&pool, &first, 2).await;
    tamper(&pool, altered).await;
    let broken = audit(&world, &["--until-idle", "2"]).await;
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    assert!(
        stderr(&broken).contains(&format!(
            "broken link at position {altered}: Product {first} sequence 2: hash mismatch"
        )),
        "{}",
        stderr(&broken)
    );
    let before: Vec<i64> = all.iter().copied().filter(|p| *p < altered).collect();
    assert_eq!(positions(&broken, "verified"), before);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn started_mid_stream_it_reads_products_earlier_links_and_anchors_product_types(
    pool: PgPool,
) {
    let world = world(pool.clone()).await;
    let first = world.create("MID-1").await;
    let second = world.create("MID-2").await;
    define_type(&world, "mug", json!([])).await;
    world.adjust(&first, 1).await;
    world.adjust(&second, 2).await;
    define_type(
        &world,
        "mug",
        json!([{"name": "volume_ml", "type": "number"}]),
    )
    .await;
    world.adjust(&first, 3).await;
    let start = position_of(&pool, "mug", 1).await;
    let after: Vec<i64> = stored(&pool, None)
        .await
        .into_iter()
        .filter(|p| *p > start)
        .collect();
    let type_again = position_of(&pool, "mug", 2).await;

    let mid = audit(
        &world,
        &["--after", &start.to_string(), "--until-idle", "2"],
    )
    .await;
    assert!(mid.status.success(), "{}", stderr(&mid));
    assert_eq!(positions(&mid, "anchored"), [type_again]);
    let verified: Vec<i64> = after.iter().copied().filter(|p| *p != type_again).collect();
    assert_eq!(positions(&mid, "verified"), verified);
    assert!(
        stdout(&mid).contains("verified 3 events through position")
            && stdout(&mid).contains("(2 earlier links read, 1 aggregates anchored"),
        "{}",
        stdout(&mid)
    );

    // An event before the start is verified too, when a later one of its product needs it.
    let created = position_of(&pool, &second, 1).await;
    tamper(&pool, created).await;
    let broken = audit(
        &world,
        &["--after", &start.to_string(), "--until-idle", "2"],
    )
    .await;
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    assert!(
        stderr(&broken).contains(&format!(
            "broken link at position {created}: Product {second} sequence 1: hash mismatch"
        )),
        "{}",
        stderr(&broken)
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_feed_filtered_by_type_is_verified_through_the_events_it_skips(pool: PgPool) {
    let world = world(pool.clone()).await;
    let first = world.create("TYPES-1").await;
    world.adjust(&first, 1).await;
    let priced = world
        .send(
            Method::PUT,
            &format!("/products/{first}/price"),
            Some(json!({"amount": 700, "currency": "EUR"})),
        )
        .await;
    assert_eq!(priced.status(), StatusCode::OK);
    world.adjust(&first, 2).await;
    let second = world.create("TYPES-2").await;
    world.adjust(&second, 4).await;
    let adjusted = stored(&pool, Some("StockAdjusted")).await;
    assert_eq!(adjusted.len(), 3);

    let filtered = audit(&world, &["--types", "StockAdjusted", "--until-idle", "2"]).await;
    assert!(filtered.status.success(), "{}", stderr(&filtered));
    assert_eq!(positions(&filtered, "verified"), adjusted);
    // The two creations and the price change, read by product to link what the filter skips.
    assert!(
        stdout(&filtered).contains("verified 3 events through position")
            && stdout(&filtered).contains("(3 earlier links read, 0 aggregates anchored"),
        "{}",
        stdout(&filtered)
    );

    let price = position_of(&pool, &first, 3).await;
    tamper(&pool, price).await;
    let broken = audit(&world, &["--types", "StockAdjusted", "--until-idle", "2"]).await;
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    assert!(
        stderr(&broken).contains(&format!("broken link at position {price}:")),
        "{}",
        stderr(&broken)
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_cut_connection_resumes_after_the_last_event_without_loss_or_repeat(pool: PgPool) {
    let world = world(pool.clone()).await;
    let query: SocketAddr = query_url(&world)
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = FaultProxy::start(query).await;
    let id = world.create("CUT-1").await;
    world.adjust(&id, 1).await;
    world.adjust(&id, 2).await;
    let before_cut = *stored(&pool, None).await.last().unwrap();

    let mut child = feed_audit(
        &format!("http://{}", proxy.addr()),
        &auditor_token(&world),
        &["--until-idle", "3"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let seen_all = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let at_cut = line.starts_with(&format!("{before_cut}\t"));
            printed.push(line);
            if at_cut {
                return;
            }
        }
        panic!("feed-audit stopped before position {before_cut}: {printed:?}");
    })
    .await;
    assert!(seen_all.is_ok(), "{printed:?}");

    proxy.cut();
    world.adjust(&id, 3).await;
    let other = world.create("CUT-2").await;
    world.adjust(&other, 4).await;

    while let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("feed-audit keeps going")
        .unwrap()
    {
        printed.push(line);
    }
    let output = child.wait_with_output().await.unwrap();
    let errors = stderr(&output);
    assert!(output.status.success(), "{errors}");
    assert!(proxy.connections_cut() >= 1);
    assert!(
        errors.contains(&format!("resuming after position {before_cut}")),
        "{errors}"
    );
    let verified = positions_in(printed.iter().map(String::as_str), "verified");
    assert_eq!(verified, stored(&pool, None).await, "{printed:?}");
    let summary = printed.last().unwrap();
    assert!(
        summary.starts_with("verified 6 events") && summary.ends_with("2 connections)"),
        "{summary}"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_token_without_the_audit_scope_is_refused_with_exit_code_3(pool: PgPool) {
    let world = world(pool).await;
    let writer = world.token_for("writer", "catalog:write");
    let run = feed_audit(query_url(&world), &writer, &["--until-idle", "2"]).output();
    let output = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("403"), "{}", stderr(&output));
}

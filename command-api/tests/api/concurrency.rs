use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn concurrent_stock_adjustments_lose_no_update(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("CONC-1").await; // stock 10
                                                 // Their sum is -32 against a stock of 10, so some must be refused whatever the order.
    let deltas: Vec<i64> = (0..32).map(|i| if i % 2 == 0 { -5 } else { 3 }).collect();
    let responses = join_all(deltas.iter().map(|&d| app.adjust_stock(&id, d))).await;

    let mut accepted_sum = 0;
    let mut accepted = 0;
    for (delta, response) in deltas.iter().zip(responses) {
        match response.status() {
            StatusCode::OK => {
                accepted_sum += delta;
                accepted += 1;
            }
            StatusCode::CONFLICT => {
                let problem = assert_problem(response, StatusCode::CONFLICT).await;
                assert_eq!(problem["type"], "urn:catalog:problem:insufficient-stock");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let events = app.events(&id).await;
    assert_eq!(
        events.len(),
        1 + accepted,
        "one event per accepted adjustment"
    );
    let final_stock = events.last().unwrap().2["StockAdjusted"]["stock"]
        .as_i64()
        .unwrap();
    assert_eq!(final_stock, 10 + accepted_sum);
    assert!(final_stock >= 0);
    // Every recorded level is the previous one plus its delta, and never negative.
    let mut level = 10;
    for (_, _, payload, _) in &events[1..] {
        level += payload["StockAdjusted"]["delta"].as_i64().unwrap();
        assert_eq!(payload["StockAdjusted"]["stock"].as_i64().unwrap(), level);
        assert!(level >= 0);
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn concurrent_writers_with_one_if_match_version_let_exactly_one_through(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("CONC-2").await;
    let path = format!("/products/{id}/stock-adjustments");
    let requests = (0..16).map(|_| {
        app.request(Method::POST, &path)
            .header("if-match", "\"1\"")
            .json(&json!({"delta": 1, "reason": "r"}))
            .send()
    });
    let statuses: Vec<StatusCode> = join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let stale = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((ok, stale), (1, 15), "{statuses:?}");
    assert_eq!(app.events(&id).await.len(), 2);
}

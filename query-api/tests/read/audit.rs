use catalog_testkit::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

/// A product with four events: created, renamed, repriced, restocked.
async fn storied_product(world: &World) -> String {
    let id = world.create("HIST-1").await;
    world
        .send(
            Method::PATCH,
            &format!("/products/{id}"),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    world
        .send(
            Method::PUT,
            &format!("/products/{id}/price"),
            Some(json!({"amount": 999, "currency": "EUR"})),
        )
        .await;
    world.adjust(&id, 5).await;
    id
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn history_needs_the_audit_scope(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let id = storied_product(&world).await;
    for path in [
        format!("/products/{id}/history"),
        format!("/products/{id}/versions/1"),
    ] {
        let anonymous = world.read(&path, None).await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        let writer = world.token_for("w", "catalog:write");
        assert_eq!(
            world.read(&path, Some(&writer)).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
        let forged = catalog_support::auth::Authenticator::new(
            &catalog_support::secret::Secret::new("not-the-secret"),
            std::time::Duration::ZERO,
        )
        .issue("a", "catalog:audit", std::time::Duration::from_secs(60));
        assert_eq!(
            world.read(&path, Some(&forged)).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn history_lists_every_event_with_who_and_why(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let id = storied_product(&world).await;
    let auditor = world.token_for("auditor", "catalog:audit");
    let response = world
        .read(&format!("/products/{id}/history"), Some(&auditor))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    let types: Vec<&str> = items.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "ProductCreated",
            "DetailsUpdated",
            "PriceChanged",
            "StockAdjusted"
        ]
    );
    assert_eq!(page["next_after"], Value::Null);
    let adjusted = &items[3];
    assert_eq!(adjusted["sequence"], 4);
    assert_eq!(
        adjusted["data"],
        json!({"delta": 5, "reason": "test", "stock": 105})
    );
    assert_eq!(adjusted["actor"], "delivery-tester");
    assert!(adjusted["correlation_id"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    assert!(adjusted["causation_id"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    assert!(adjusted["recorded_at"].as_str().is_some());
    let hashes: Vec<&str> = items.iter().map(|i| i["hash"].as_str().unwrap()).collect();
    assert!(hashes.iter().all(|h| h.len() == 64), "{hashes:?}");
    assert_eq!(
        hashes
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        4
    );
    assert_eq!(
        items[2]["data"]["previous"],
        json!({"amount": 500, "currency": "EUR"})
    );
    // Each entry names what it changed, before and after.
    let fields = |item: &Value| -> Vec<String> {
        item["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        fields(&items[0]),
        ["sku", "name", "category", "price", "stock", "status"]
    );
    assert_eq!(items[0]["changes"][0]["from"], Value::Null);
    assert_eq!(items[0]["changes"][5]["to"], "draft");
    assert_eq!(
        items[1]["changes"],
        // Localized text changes as texts per locale (a plain string is the default locale's)
        json!([{"field": "name", "from": {"en": "Product HIST-1"}, "to": {"en": "Renamed"}}])
    );
    assert_eq!(
        items[3]["changes"],
        json!([{"field": "stock", "from": 100, "to": 105}])
    );

    // Paged: two at a time.
    let first: Value = world
        .read(&format!("/products/{id}/history?limit=2"), Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["next_after"], 2);
    let second: Value = world
        .read(
            &format!("/products/{id}/history?after=2&limit=2"),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    let sequences: Vec<i64> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, [3, 4]);
    assert_eq!(second["next_after"], Value::Null);
    // A page that starts later still knows each field's value before its first event.
    assert_eq!(
        second["items"][0]["changes"],
        json!([{"field": "price", "from": {"amount": 500, "currency": "EUR"},
                "to": {"amount": 999, "currency": "EUR"}}])
    );

    for query in ["limit=0", "limit=1001", "after=-1", "limit=x"] {
        let response = world
            .read(&format!("/products/{id}/history?{query}"), Some(&auditor))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
    }
    let unknown = world
        .read(
            "/products/0190f0a4-0000-7000-8000-000000000000/history",
            Some(&auditor),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn any_past_version_is_rebuilt_from_the_event_store(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let id = storied_product(&world).await;
    let auditor = world.token_for("auditor", "catalog:audit");
    let at = |n: u32| {
        let path = format!("/products/{id}/versions/{n}");
        let (world, auditor) = (&world, &auditor);
        async move { world.read(&path, Some(auditor)).await }
    };

    let first = at(1).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["etag"], "\"1\"");
    let first: Value = first.json().await.unwrap();
    assert_eq!(
        (first["name"].clone(), first["version"].clone()),
        (json!("Product HIST-1"), json!(1))
    );
    let second: Value = at(2).await.json().await.unwrap();
    assert_eq!(second["name"], "Renamed");
    assert_eq!(second["price"]["amount"], 500);
    let latest: Value = at(4).await.json().await.unwrap();
    assert_eq!(
        (latest["price"]["amount"].clone(), latest["stock"].clone()),
        (json!(999), json!(105))
    );
    // The latest version equals the read model's document.
    let (view, _) = world.wait_for_version(&id, 4).await;
    assert_eq!(latest, serde_json::to_value(&view).unwrap());

    for n in [0, 5, 99] {
        assert_eq!(at(n).await.status(), StatusCode::NOT_FOUND, "{n}");
    }
}

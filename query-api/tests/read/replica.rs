//! `DATABASE_REPLICA_URL`: lists and searches come from the read replica, reads by id and
//! `min_version` reads from the primary and Redis (they must see what was just written). The
//! replica is a real streaming hot standby of a private primary, whose replay the test pauses
//! to make the replica's lag visible on demand.

use std::time::Duration;

use catalog_testkit::private::PrivatePostgres;
use catalog_testkit::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// How long lists may take to show what the standby replayed once it resumes.
const CATCH_UP: Duration = Duration::from_secs(30);

async fn get(world: &World, path: &str) -> Value {
    let response = world.read(path, None).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// The `status` facet's count of drafts in `/products?facets=status`: counted from the facet
/// index, which follows the standby lists are read from.
async fn drafts(world: &World) -> i64 {
    let page = get(world, "/products?facets=status").await;
    let values = page["facets"]["status"].as_array().unwrap().clone();
    values
        .iter()
        .find(|v| v["value"] == "draft")
        .map_or(0, |v| v["count"].as_i64().unwrap())
}

fn skus(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page of items: {page}"))
        .iter()
        .map(|item| item["sku"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn lists_lag_on_a_paused_standby_while_reads_by_id_see_every_write() {
    let primary = PrivatePostgres::start().await;
    let database = "catalog_replica";
    let pool = primary.migrated_database(database).await;
    // The standby is copied from the migrated primary; from here on it streams.
    let standby = primary.start_standby().await;
    let options = Options {
        query_api_env: vec![("DATABASE_REPLICA_URL", standby.url(database))],
        ..Options::everything()
    };
    // The read model's tables are this release's generation's.
    let world = World::start(read_model_pool(&pool), options).await;

    let first = world.create("REPLICA-1").await;
    world.wait_for_version(&first, 1).await;
    standby.wait_caught_up(&primary).await;
    assert_eq!(skus(&get(&world, "/products").await), ["REPLICA-1"]);
    let search = get(&world, "/products?q=REPLICA").await;
    assert_eq!(skus(&search), ["REPLICA-1"], "search runs on the replica");
    let index = world.query.as_ref().unwrap().1.facets.clone().unwrap();
    let ready = eventually(CATCH_UP, || async { index.is_ready().then_some(()) });
    assert!(
        ready.await.is_some(),
        "the facet index loads from the standby"
    );
    assert_eq!(drafts(&world).await, 1);

    // Replay stops: the standby's readers see this moment until it resumes.
    standby.pause_replay().await;
    let second = world
        .create_from(json!({
            "sku": "REPLICA-2", "name": "Lagging teapot",
            "price": {"amount": 700, "currency": "EUR"}, "stock": 5
        }))
        .await;
    let changed = world
        .send(
            Method::POST,
            &format!("/products/{second}/stock-adjustments"),
            Some(json!({"delta": 7, "reason": "restock"})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);

    // Read-your-writes holds at once: min_version waits on the read models, never the replica.
    let read = get(&world, &format!("/products/{second}?min_version=2")).await;
    assert_eq!(
        (read["version"].as_u64(), read["stock"].as_i64()),
        (Some(2), Some(12))
    );
    let by_id = get(&world, &format!("/products/{second}")).await;
    assert_eq!(by_id["version"], 2, "by id: the primary's read models");
    assert_eq!(by_id["name"], "Lagging teapot");

    // Lists are the paused standby's: still without the new product, however long one waits
    // (the projector has long written it on the primary).
    world.wait_for_version(&second, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        skus(&get(&world, "/products").await),
        ["REPLICA-1"],
        "stale"
    );
    let search = get(&world, "/products?q=teapot").await;
    assert_eq!(
        skus(&search),
        Vec::<&str>::new(),
        "search is as stale as lists"
    );
    assert_eq!(
        drafts(&world).await,
        1,
        "facet counts are as stale as lists"
    );

    // Replay resumes: lists catch up with the product and its follow-up change.
    standby.resume_replay().await;
    let caught_up = eventually(CATCH_UP, || async {
        let page = get(&world, "/products").await;
        let latest = page["items"]
            .as_array()?
            .iter()
            .find(|item| item["id"] == second.as_str())?
            .clone();
        (latest["version"] == 2).then_some((page, latest))
    })
    .await;
    let (page, latest) = caught_up.expect("lists caught up once replay resumed");
    let mut listed = skus(&page);
    listed.sort_unstable();
    assert_eq!(listed, ["REPLICA-1", "REPLICA-2"]);
    assert_eq!(latest["stock"], 12, "{latest}");
    let search = get(&world, "/products?q=teapot").await;
    assert_eq!(skus(&search), ["REPLICA-2"]);
    assert_eq!(drafts(&world).await, 2, "and so are the counts");
    assert!(index.is_ready(), "counted from memory throughout");

    let ready = get(&world, "/health/ready").await;
    assert_eq!(ready["checks"]["postgres-replica"], "up", "{ready}");
    // The answer's every check is one the OpenAPI document declares.
    let document = get(&world, "/openapi.json").await;
    let declared = &document["components"]["schemas"]["Checks"]["properties"];
    for check in ready["checks"].as_object().unwrap().keys() {
        assert!(
            declared.get(check).is_some(),
            "{check} is not in the Checks schema: {declared}"
        );
    }

    // The services go before the servers they use; the servers and their directories go with
    // `standby` and `primary`.
    drop(world);
    pool.close().await;
}

//! `DATABASE_REPLICA_URL`: lists and searches come from the read replica, reads by id from the
//! primary (they must see what was just written).

use catalog_testkit::*;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// A second database standing in for a replica: the same schema, rows copied from the primary
/// with one difference the test can see (the product's name).
async fn replica_of(primary: &PgPool) -> (String, String, PgPool) {
    // Short: the test databases' own names already fill PostgreSQL's 63 characters.
    let name = format!("replica_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(primary)
        .await
        .unwrap();
    let primary_name = primary
        .connect_options()
        .get_database()
        .unwrap()
        .to_string();
    let url = database_url(primary).replace(&format!("/{primary_name}"), &format!("/{name}"));
    let replica = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();
    catalog_support::db::MIGRATOR.run(&replica).await.unwrap();
    (name, url, read_model_pool(&replica))
}

const COLUMNS: &str = "id, sku, name, description, category, status, price_amount, \
                       price_currency, stock, version, created_at, updated_at, state, doc";

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn lists_are_read_from_the_replica_and_products_by_id_from_the_primary(pool: PgPool) {
    // The read model's tables are this release's generation's.
    let pool = read_model_pool(&pool);
    let (replica_name, replica_url, replica) = replica_of(&pool).await;
    let options = Options {
        query_api_env: vec![("DATABASE_REPLICA_URL", replica_url)],
        ..Options::everything()
    };
    let world = World::start(pool.clone(), options).await;
    let id = world.create("REPLICA-1").await;
    world.wait_for_version(&id, 1).await;

    // The replica's copy of the row, under another name.
    let rows: Vec<(serde_json::Value,)> = sqlx::query_as(&format!(
        "SELECT to_jsonb(p) FROM (SELECT {COLUMNS} FROM product_view) p"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    sqlx::query(&format!(
        "INSERT INTO product_view ({COLUMNS}) \
         SELECT {COLUMNS} FROM jsonb_populate_record(NULL::product_view, $1)"
    ))
    .bind(&rows[0].0)
    .execute(&replica)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE product_view SET name = 'As the replica has it', \
         doc = jsonb_set(doc, '{name}', '\"As the replica has it\"')",
    )
    .execute(&replica)
    .await
    .unwrap();

    let list: Value = world.read("/products", None).await.json().await.unwrap();
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["name"], "As the replica has it");
    let search: Value = world
        .read("/products?q=has", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(search["items"].as_array().unwrap().len(), 1, "{search}");

    let one: Value = world
        .read(&format!("/products/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "Product REPLICA-1", "by id: the primary");

    let ready: Value = world
        .read("/health/ready", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["postgres-replica"], "up", "{ready}");
    // The answer's every check is one the OpenAPI document declares.
    let document: Value = world
        .read("/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let declared = &document["components"]["schemas"]["Checks"]["properties"];
    for check in ready["checks"].as_object().unwrap().keys() {
        assert!(
            declared.get(check).is_some(),
            "{check} is not in the Checks schema: {declared}"
        );
    }

    replica.close().await;
    drop(world);
    sqlx::query(&format!("DROP DATABASE {replica_name} WITH (FORCE)"))
        .execute(&pool)
        .await
        .unwrap();
}

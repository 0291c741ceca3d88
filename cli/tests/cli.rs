//! The `catalog` binary against a running Catalog: an import followed to its end with the exit
//! code its lines earn, a CSV file, and the export written to standard output.

use std::process::Output;

use catalog_testkit::*;
use serde_json::Value;
use sqlx::PgPool;

async fn catalog(world: &World, args: &[&str]) -> Output {
    let (query_api, _) = world.query.as_ref().expect("query-api runs");
    tokio::process::Command::new(env!("CARGO_BIN_EXE_catalog"))
        .args(args)
        .env("CATALOG_API", &world.base)
        .env("CATALOG_QUERY_API", query_api)
        .env("CATALOG_TOKEN", &world.token)
        .output()
        .await
        .expect("catalog runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn import_then_export(pool: PgPool) {
    let world = World::start(
        pool,
        Options {
            query_api: true,
            ..Options::new(true, true)
        },
    )
    .await;
    let dir = std::env::temp_dir().join(format!("catalog-cli-{}", world.namespace));
    std::fs::create_dir_all(&dir).unwrap();

    let ndjson = dir.join("products.ndjson");
    std::fs::write(
        &ndjson,
        "{\"sku\":\"CLI-1\",\"name\":\"One\",\"price\":{\"amount\":100,\"currency\":\"EUR\"}}\n\
         {\"sku\":\"CLI-2\",\"name\":\"\",\"price\":{\"amount\":100,\"currency\":\"EUR\"}}\n",
    )
    .unwrap();
    let output = catalog(&world, &["import", ndjson.to_str().unwrap()]).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "a line failed: {}",
        stderr(&output)
    );
    let said = stderr(&output);
    assert!(
        said.contains("done: 2 lines, 1 created, 0 updated, 0 unchanged, 1 failed"),
        "{said}"
    );
    assert!(said.contains("line 2 (CLI-2): validation"), "{said}");

    let csv = dir.join("products.csv");
    std::fs::write(
        &csv,
        "sku,variant_sku,name,price_amount,price_currency,stock,attr.size\n\
         CLI-3,,Three,300,EUR,4,\n\
         CLI-3,CLI-3-M,,,,2,M\n",
    )
    .unwrap();
    let output = catalog(&world, &["import", "--csv", csv.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", stderr(&output));

    world.wait_for_quiescence().await;
    let output = catalog(&world, &["export"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let exported: Vec<Value> = String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut skus: Vec<&str> = exported
        .iter()
        .map(|v| v["sku"].as_str().unwrap())
        .collect();
    skus.sort();
    assert_eq!(skus, ["CLI-1", "CLI-3"]);
    let three = exported.iter().find(|v| v["sku"] == "CLI-3").unwrap();
    assert_eq!(three["stock"], 4);
    assert!(
        stderr(&output).contains("2 products exported at position"),
        "{}",
        stderr(&output)
    );
    let _ = std::fs::remove_dir_all(dir);
}

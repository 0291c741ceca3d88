//! Every documented sort and filter of `GET /products` is served by an index at 1,000,000
//! products: the plans are read from PostgreSQL itself, on a table of that size.

use catalog_read_model::listing::{ListQuery, Planned};
use catalog_testkit::read_model_pool;
use sqlx::PgPool;

/// In chunks, each its own short transaction: a long one would hold back the outbox relay of
/// every other test on this server (it waits for the oldest running transaction).
/// The migrations' own indexes are dropped while filling and built again from their recorded
/// definitions afterwards: one bulk build is much faster than a million index insertions.
async fn fill(pool: &PgPool, products: i64) {
    const CHUNK: i64 = 50_000;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname, indexdef FROM pg_indexes \
         WHERE schemaname = current_schema() \
           AND tablename = 'product_view' \
           AND indexname <> 'product_view_pkey'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(indexes.len() >= 9, "the migrations' indexes: {indexes:?}");
    for (name, _) in &indexes {
        sqlx::query(&format!("DROP INDEX {name}"))
            .execute(pool)
            .await
            .unwrap();
    }
    for start in (1..=products).step_by(CHUNK as usize) {
        fill_range(pool, start, (start + CHUNK - 1).min(products)).await;
    }
    for (_, definition) in &indexes {
        sqlx::query(definition).execute(pool).await.unwrap();
    }
    sqlx::query("ANALYZE product_view")
        .execute(pool)
        .await
        .unwrap();
}

async fn fill_range(pool: &PgPool, first: i64, last: i64) {
    sqlx::query(
        "INSERT INTO product_view (id, sku, name, description, category, status, price_amount, \
           price_currency, stock, version, created_at, updated_at, state, doc) \
         SELECT lpad(p::text, 12, '0'), 'SKU-' || p, \
           'Product ' || md5(p::text) || CASE WHEN p % 10000 = 0 THEN ' espresso' ELSE '' END, \
           'Description ' || p, \
           'category-' || (p % 500), (ARRAY['draft', 'published', 'archived'])[1 + p % 3], \
           (p * 7919) % 1000000, (ARRAY['EUR', 'USD'])[1 + p % 2], p % 100, 1, \
           now() - make_interval(secs => p), now() - make_interval(secs => p), '{}', \
           jsonb_build_object('type', 'type-' || (p % 20), \
             'attributes', jsonb_build_object('brand', 'brand-' || (p % 200), \
                                              'weight', (p % 1000) / 10.0), \
             'variants', jsonb_build_array( \
               jsonb_build_object('attributes', jsonb_build_object( \
                 'colour', (ARRAY['red', 'blue', 'green', 'black'])[1 + p % 4])), \
               jsonb_build_object('attributes', jsonb_build_object( \
                 'colour', (ARRAY['white', 'grey', 'red'])[1 + p % 3])))) \
         FROM generate_series($1, $2) p",
    )
    .bind(first)
    .bind(last)
    .execute(pool)
    .await
    .unwrap();
}

async fn plan(pool: &PgPool, query: &str) -> String {
    plan_of(pool, query, false).await
}

/// The plan of the list `query`, or with `facets` of its facet counts.
async fn plan_of(pool: &PgPool, query: &str, facets: bool) -> String {
    let which = if facets {
        Planned::Facets
    } else {
        Planned::Page
    };
    ListQuery::parse(Some(query))
        .unwrap()
        .plan(pool, which, "")
        .await
        .unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn every_list_query_is_an_index_scan_at_a_million_products(pool: PgPool) {
    // The read model's tables are this release's generation's.
    let pool = read_model_pool(&pool);
    fill(&pool, 1_000_000).await;
    let cases = [
        "",
        "sort=updated",
        "sort=name",
        "sort=-name",
        "sort=price",
        "sort=-price",
        "status=published",
        "status=archived&sort=name",
        "status=draft&sort=-price",
        "category=category-7",
        "category=category-7&sort=name",
        "q=SKU-4242",
        // A typo: one name in 10,000 holds "espresso", two edits away. (A typo of a word that
        // every name holds plans a scan, as the word itself would: most rows match.)
        "q=esspreso",
        "q=esspreso&sort=name",
        "sku=SKU-4242",
        "min_price=1000&max_price=2000&currency=EUR&sort=price",
        // Attribute filters: 1 product in 200 of a brand, any variant's colour, a range.
        "attr.brand=brand-7",
        "attr.brand=brand-7&attr.colour=white&sort=name",
        "type=type-3&category=category-7",
        "attr.weight.min=10&attr.weight.max=10.5&sort=price",
        "category=category-7&attr.colour=red&attr.colour=blue",
    ];
    for case in cases {
        let plan = plan(&pool, case).await;
        println!("-- GET /products?{case}\n{plan}\n");
        assert!(
            plan.contains("Index Scan")
                || plan.contains("Index Only Scan")
                || plan.contains("Bitmap Index Scan"),
            "GET /products?{case} is not served by an index:\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan"),
            "GET /products?{case} scans the table:\n{plan}"
        );
    }
    // The facet index's catch-up: the rows written since its horizon, through their index.
    let plan = catalog_read_model::facet_index::plan_catch_up(&pool)
        .await
        .unwrap();
    println!("-- the facet index's catch-up\n{plan}\n");
    assert!(
        plan.contains("product_view_written_idx") && !plan.contains("Seq Scan"),
        "the facet index's catch-up does not read through `written`'s index:\n{plan}"
    );
    // Facets over two filters: the selected products found through indexes, their tokens
    // counted from the rows read, never a scan of the table.
    for case in [
        "category=category-7&attr.colour=red&facets=category,status,type,attr.colour,attr.brand",
        "attr.brand=brand-7&type=type-7&facets=attr.colour,attr.weight",
        "q=esspreso&facets=attr.colour",
    ] {
        let plan = plan_of(&pool, case, true).await;
        println!("-- GET /products?{case} (facets)\n{plan}\n");
        assert!(plan.contains("Index"), "{case}:\n{plan}");
        assert!(!plan.contains("Seq Scan"), "{case} scans a table:\n{plan}");
    }
}

//! `q` forgives typos (docs/API.md "Search that forgives typos"): one edit for words of 4 to 7
//! letters, two from 8, none below 4 or for words with digits; exact matches rank first;
//! `did_you_mean` names the nearest text that matches; relevance pages neither skip nor repeat.

use std::collections::BTreeSet;

use catalog_testkit::*;

use crate::lists::{list, skus};
use serde_json::json;
use sqlx::PgPool;

async fn product(world: &World, sku: &str, name: &str, description: &str) -> String {
    world
        .create_from(json!({
            "sku": sku, "name": name, "description": description,
            "price": {"amount": 500, "currency": "EUR"}
        }))
        .await
}

async fn found(world: &World, q: &str) -> BTreeSet<String> {
    skus(&list(world, &format!("q={q}")).await)
        .into_iter()
        .collect()
}

fn set(skus: &[&str]) -> BTreeSet<String> {
    skus.iter().map(ToString::to_string).collect()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn typos_within_the_allowance_match_and_beyond_it_do_not(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    product(&world, "ESP-1", "Espresso machine", "Pumps at nine bar").await;
    product(&world, "COF-1", "Coffee grinder", "Burrs of steel").await;
    product(&world, "TSH-1", "Cotton t-shirt", "Plain and white").await;
    product(&world, "TEA-1", "Tea pot", "Holds a litre").await;
    world.wait_for_quiescence().await;

    let cases: [(&str, &[&str]); 17] = [
        // As written, whatever the case.
        ("coffee", &["COF-1"]),
        ("ESPRESSO", &["ESP-1"]),
        // 4 to 7 letters: one edit (replace, delete, insert).
        ("cofee", &["COF-1"]),
        ("coffe", &["COF-1"]),
        ("cofffee", &["COF-1"]),
        ("tshirt", &["TSH-1"]),
        ("grindar", &["COF-1"]),
        // ... but not two: a transposition is two edits.
        ("grindre", &[]),
        ("cafe", &[]),
        // 8 letters or more: two edits.
        ("expresso", &["ESP-1"]),
        ("esspreso", &["ESP-1"]),
        ("coofffee", &["COF-1"]),
        // ... but not three.
        ("exprezzo", &[]),
        // Fewer than 4 letters, and words with digits: only as written.
        ("tee", &[]),
        ("ESP-2", &[]),
        // Every word must match, each within its own allowance.
        ("cofee%20grnder", &["COF-1"]),
        ("cofee%20machine", &[]),
    ];
    for (q, expected) in cases {
        assert_eq!(found(&world, q).await, set(expected), "q={q}");
    }
    // The search vocabulary is verified with the read models: a word missing is reported.
    assert!(world.verify().await.is_empty());
    sqlx::query("DELETE FROM search_words WHERE word = 'espresso'")
        .execute(&world.pool)
        .await
        .unwrap();
    assert_eq!(
        world.verify().await,
        ["search: the vocabulary lacks \"espresso\""]
    );
    assert_eq!(
        found(&world, "expresso").await,
        set(&[]),
        "nothing to widen to"
    );
    assert_eq!(
        found(&world, "espresso").await,
        set(&["ESP-1"]),
        "as written still"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn exact_matches_rank_before_typos_and_a_miss_suggests_the_nearest(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    // "toffee" is one edit from "coffee"; the toffee is the newer, so `-updated` puts it first.
    product(&world, "COF-1", "Coffee beans", "Roasted").await;
    product(&world, "TOF-1", "Toffee crunch", "Sweet").await;
    world.wait_for_quiescence().await;

    let page = list(&world, "q=coffee").await;
    assert_eq!(skus(&page), ["COF-1", "TOF-1"], "exact first: {page}");
    assert!(page.get("did_you_mean").is_none(), "{page}");
    assert_eq!(skus(&list(&world, "q=toffee").await), ["TOF-1", "COF-1"]);
    // Another sort orders the same matches its way.
    assert_eq!(
        skus(&list(&world, "q=coffee&sort=-updated").await),
        ["TOF-1", "COF-1"]
    );

    // Nothing is written "cofee": its nearest word is suggested, and what it matches listed.
    let page = list(&world, "q=cofee").await;
    assert_eq!(skus(&page), ["COF-1"]);
    assert_eq!(page["did_you_mean"], "coffee", "{page}");
    let page = list(&world, "q=cofee%20beens").await;
    assert_eq!(page["did_you_mean"], "coffee beans", "{page}");
    // No suggestion where nothing is near, nor where the words are all known.
    let page = list(&world, "q=xylophone").await;
    assert_eq!(skus(&page), Vec::<String>::new());
    assert!(page.get("did_you_mean").is_none(), "{page}");
    let page = list(&world, "q=coffee%20sweet").await;
    assert!(page.get("did_you_mean").is_none(), "{page}");
    // Filters apply to the suggestion too: no product of that category matches it.
    let page = list(&world, "q=cofee&category=garden").await;
    assert!(page.get("did_you_mean").is_none(), "{page}");

    // Without a text, `relevance` is the default order.
    assert_eq!(list(&world, "sort=relevance").await, list(&world, "").await);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn relevance_pages_neither_skip_nor_repeat(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let mut exact = BTreeSet::new();
    let mut near = BTreeSet::new();
    for n in 0..9 {
        // Several ranks: the word once or twice, in the name or only in the description.
        exact.insert(
            product(
                &world,
                &format!("C-{n}"),
                "Coffee",
                &"coffee ".repeat(n % 3),
            )
            .await,
        );
        near.insert(product(&world, &format!("T-{n}"), &format!("Toffee {n}"), "toffee").await);
    }
    product(&world, "X-1", "Kettle", "Boils").await;
    world.wait_for_quiescence().await;

    let mut seen: Vec<(String, bool)> = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = list(&world, &format!("q=coffee&limit=4&cursor={cursor}")).await;
        for item in page["items"].as_array().unwrap() {
            let id = item["id"].as_str().unwrap().to_string();
            let is_exact = exact.contains(&id);
            assert!(is_exact || near.contains(&id), "{item}");
            seen.push((id, is_exact));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let ids: BTreeSet<&String> = seen.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), seen.len(), "no product is repeated");
    assert_eq!(seen.len(), exact.len() + near.len(), "none is skipped");
    let first_near = seen.iter().position(|(_, e)| !e).unwrap();
    assert!(
        seen[first_near..].iter().all(|(_, e)| !e),
        "every exact match comes before the typos: {seen:?}"
    );
}

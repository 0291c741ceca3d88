//! The change feed: `GET /events` and `GET /events/stream`, read straight from the event store.

use std::collections::BTreeSet;
use std::time::Duration;

use catalog_testkit::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{PgPool, Postgres, Transaction};

/// command-api and query-api only: the feed reads the event store, nothing else.
async fn world(pool: PgPool, query_env: &[(&'static str, &str)]) -> World {
    World::start(
        pool,
        Options {
            query_api: true,
            query_api_env: query_env
                .iter()
                .map(|(k, v)| (*k, (*v).to_string()))
                .collect(),
            ..Options::new(false, false)
        },
    )
    .await
}

fn auditor(world: &World) -> String {
    world.token_for("auditor", "catalog:audit")
}

/// Every position stored, in order.
async fn stored_positions(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT position FROM public.events ORDER BY position")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn page(world: &World, token: &str, query: &str) -> Value {
    let response = world.read(&format!("/events?{query}"), Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK, "/events?{query}");
    response.json().await.unwrap()
}

/// Pages through the feed from `after` to its current end, `limit` at a time.
async fn drain(world: &World, token: &str, mut after: i64, limit: u32) -> (Vec<Value>, i64) {
    let mut items = Vec::new();
    loop {
        let page = page(world, token, &format!("after={after}&limit={limit}")).await;
        let got = page["items"].as_array().unwrap().clone();
        let next = page["next_after"].as_i64().unwrap();
        if got.is_empty() {
            assert_eq!(next, after, "an empty page keeps the cursor");
            return (items, after);
        }
        assert_eq!(next, got.last().unwrap()["position"].as_i64().unwrap());
        items.extend(got);
        after = next;
    }
}

fn positions(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|i| i["position"].as_i64().unwrap())
        .collect()
}

/// An event inserted by hand in a transaction left open: it holds a position, invisible until
/// committed.
async fn open_transaction_with_event(pool: &PgPool) -> (Transaction<'static, Postgres>, i64) {
    let mut tx = pool.begin().await.unwrap();
    let position: i64 = sqlx::query_scalar(
        "INSERT INTO public.events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) \
         VALUES ('Product', gen_random_uuid()::text, 1, 'ProductPublished', '1', \
             '{\"ProductPublished\": {}}', '{\"actor\": \"late\"}') \
         RETURNING position",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    (tx, position)
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_feed_needs_the_audit_scope_and_names_every_bad_parameter(pool: PgPool) {
    let world = world(pool, &[]).await;
    for path in ["/events", "/events/stream"] {
        assert_eq!(
            world.read(path, None).await.status(),
            StatusCode::UNAUTHORIZED
        );
        let writer = world.token_for("w", "catalog:write");
        assert_eq!(
            world.read(path, Some(&writer)).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    let token = auditor(&world);
    for (query, fields) in [
        ("after=-1", vec!["after"]),
        ("after=x&limit=1001", vec!["after", "limit"]),
        ("limit=0", vec!["limit"]),
        ("types=StockAdjusted,NoSuchEvent", vec!["types"]),
        ("types=,Nope", vec!["types"]),
        ("product_id=not-a-uuid", vec!["product_id"]),
    ] {
        for path in ["/events", "/events/stream"] {
            if path == "/events/stream" && query.contains("limit") {
                continue;
            }
            let response = world.read(&format!("{path}?{query}"), Some(&token)).await;
            assert_eq!(
                response.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path}?{query}"
            );
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let problem: Value = response.json().await.unwrap();
            assert_eq!(error_fields(&problem), fields, "{path}?{query}");
        }
    }
    let (base, _) = world.query.as_ref().unwrap();
    let bad_resume = world
        .client
        .get(format!("{base}/events/stream"))
        .bearer_auth(&token)
        .header("Last-Event-ID", "twelve")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_resume.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn pages_hold_every_event_once_in_position_order_with_filters(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let token = auditor(&world);
    let first = world.create("FEED-1").await;
    let second = world.create("FEED-2").await;
    world.adjust(&first, 5).await;
    world.adjust(&second, 7).await;
    world
        .send(
            Method::PUT,
            &format!("/products/{first}/price"),
            Some(json!({"amount": 1250, "currency": "EUR"})),
        )
        .await;

    let (items, end) = drain(&world, &token, 0, 2).await;
    assert_eq!(positions(&items), stored_positions(&pool).await);
    assert_eq!(end, *stored_positions(&pool).await.last().unwrap());
    let created = &items[0];
    assert_eq!(created["type"], "ProductCreated");
    assert_eq!(created["product_id"], first.as_str());
    assert_eq!(created["sequence"], 1);
    assert_eq!(created["actor"], "delivery-tester");
    assert_eq!(created["data"]["ProductCreated"]["sku"], "FEED-1");
    assert_eq!(created["hash"].as_str().unwrap().len(), 64);
    for field in [
        "event_version",
        "recorded_at",
        "correlation_id",
        "event_id",
        "metadata",
    ] {
        assert!(!created[field].is_null(), "{field}");
    }

    let stock = page(&world, &token, "types=StockAdjusted").await;
    let stock = stock["items"].as_array().unwrap();
    assert_eq!(
        stock
            .iter()
            .map(|i| i["product_id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [first.as_str(), second.as_str()]
    );
    let two_types = page(&world, &token, "types=PriceChanged,StockAdjusted&limit=2").await;
    let types: Vec<_> = two_types["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["StockAdjusted", "StockAdjusted"]);
    let after = two_types["next_after"].as_i64().unwrap();
    let rest = page(
        &world,
        &token,
        &format!("types=PriceChanged,StockAdjusted&after={after}"),
    )
    .await;
    assert_eq!(rest["items"][0]["type"], "PriceChanged");

    let one = page(&world, &token, &format!("product_id={first}")).await;
    let one = one["items"].as_array().unwrap();
    assert_eq!(
        one.iter()
            .map(|i| i["sequence"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(one.iter().all(|i| i["product_id"] == first.as_str()));
    let past_the_end = page(&world, &token, &format!("after={}", end + 100)).await;
    assert_eq!(past_the_end["items"], json!([]));
    assert_eq!(past_the_end["next_after"], end + 100);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_page_stops_before_a_position_a_running_transaction_holds(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let token = auditor(&world);
    let id = world.create("LATE-1").await;
    let (late, held) = open_transaction_with_event(&pool).await;
    // Committed after the held position was taken: visible, but not yet final.
    world.adjust(&id, 1).await;
    world.adjust(&id, 2).await;
    let (before, cursor) = drain(&world, &token, 0, 10).await;
    assert!(
        positions(&before).iter().all(|p| *p < held),
        "the page passed position {held}, held by a running transaction: {:?}",
        positions(&before)
    );
    assert_eq!(positions(&before), [held - 1]);
    late.commit().await.unwrap();
    let (after, _) = drain(&world, &token, cursor, 10).await;
    assert_eq!(after[0]["position"], held);
    assert_eq!(after[0]["actor"], "late");
    let mut all = positions(&before);
    all.extend(positions(&after));
    assert_eq!(all, stored_positions(&pool).await);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn paging_under_concurrent_writers_and_late_commits_skips_nothing(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let token = auditor(&world);
    let ids: Vec<String> = futures::future::join_all((0..4).map(|i| {
        let world = &world;
        async move { world.create(&format!("CONC-{i}")).await }
    }))
    .await;
    let adjustments = futures::future::join_all((0..10).flat_map(|_| {
        ids.iter().map(|id| {
            let world = &world;
            async move {
                world.adjust(id, 1).await;
            }
        })
    }));
    // Transactions that commit late, and some that roll back (a position never used).
    let late_commits = futures::future::join_all((0..10u64).map(|round| {
        let pool = pool.clone();
        async move {
            let (tx, _) = open_transaction_with_event(&pool).await;
            tokio::time::sleep(Duration::from_millis(20 + round * 7)).await;
            if round % 3 == 0 {
                tx.rollback().await.unwrap();
            } else {
                tx.commit().await.unwrap();
            }
        }
    }));
    let writers = async {
        tokio::join!(adjustments, late_commits);
    };
    let reader = async {
        let mut seen = Vec::new();
        let mut after = 0;
        for _ in 0..200 {
            let page = page(&world, &token, &format!("after={after}&limit=3")).await;
            seen.extend(page["items"].as_array().unwrap().clone());
            after = page["next_after"].as_i64().unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (seen, after)
    };
    let ((), (mut seen, after)) = tokio::join!(writers, reader);
    let (rest, _) = drain(&world, &token, after, 50).await;
    seen.extend(rest);
    let read = positions(&seen);
    let unique: BTreeSet<_> = read.iter().collect();
    assert_eq!(unique.len(), read.len(), "an event was read twice");
    assert_eq!(read, stored_positions(&pool).await, "an event was skipped");
}

/// One Server-Sent Events connection, read as it arrives.
struct Sse {
    response: reqwest::Response,
    buffer: String,
}

/// One message of a stream: an event or a comment.
#[derive(Debug, Clone, PartialEq)]
enum Message {
    Event { id: i64, kind: String, data: Value },
    Comment(String),
}

impl Sse {
    async fn open(world: &World, token: &str, query: &str, last_event_id: Option<i64>) -> Self {
        let (base, _) = world.query.as_ref().unwrap();
        let mut request = world
            .client
            .get(format!("{base}/events/stream?{query}"))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next message, or `None` when the stream ended or nothing came within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Message> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let chunk = tokio::time::timeout(wait, self.response.chunk())
                .await
                .ok()?
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next `n` events, skipping comments.
    async fn events(&mut self, n: usize) -> Vec<(i64, String, Value)> {
        let mut events = Vec::new();
        while events.len() < n {
            match self.next(Duration::from_secs(10)).await {
                Some(Message::Event { id, kind, data }) => events.push((id, kind, data)),
                Some(Message::Comment(_)) => {}
                None => panic!("the stream ended after {} of {n} events", events.len()),
            }
        }
        events
    }
}

fn parse(block: &str) -> Message {
    let mut id = None;
    let mut kind = String::new();
    let mut data = String::new();
    let mut comment = None;
    for line in block.lines() {
        if let Some(text) = line.strip_prefix(':') {
            comment = Some(text.trim().to_string());
        } else if let Some(v) = line
            .strip_prefix("id: ")
            .or_else(|| line.strip_prefix("id:"))
        {
            id = Some(v.parse().unwrap());
        } else if let Some(v) = line
            .strip_prefix("event: ")
            .or_else(|| line.strip_prefix("event:"))
        {
            kind = v.to_string();
        } else if let Some(v) = line
            .strip_prefix("data: ")
            .or_else(|| line.strip_prefix("data:"))
        {
            data.push_str(v);
        }
    }
    match id {
        Some(id) => Message::Event {
            id,
            kind,
            data: serde_json::from_str(&data).unwrap(),
        },
        None => Message::Comment(comment.unwrap_or_default()),
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_stream_resumes_after_every_event_exactly_once_in_order(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let token = auditor(&world);
    let id = world.create("SSE-1").await;
    for delta in 1..=4 {
        world.adjust(&id, delta).await;
    }
    let stored = stored_positions(&pool).await;
    assert_eq!(stored.len(), 5);
    // From the start (by `after`), and after each event (by `Last-Event-ID`, as a reconnecting
    // client sends it).
    let mut starts = vec![(0, false)];
    starts.extend(stored.iter().map(|p| (*p, true)));
    for (start, by_header) in starts {
        let expected: Vec<i64> = stored.iter().copied().filter(|p| *p > start).collect();
        let mut stream = if by_header {
            // `after` is there too: the header wins, as a browser's EventSource retry sends it.
            Sse::open(&world, &token, "after=0", Some(start)).await
        } else {
            Sse::open(&world, &token, &format!("after={start}"), None).await
        };
        let events = stream.events(expected.len()).await;
        assert_eq!(
            events.iter().map(|e| e.0).collect::<Vec<_>>(),
            expected,
            "from {start}"
        );
        for (position, kind, data) in &events {
            assert_eq!(data["position"], *position);
            assert_eq!(data["type"], kind.as_str());
        }
    }
    // A live event arrives on an open stream, in order, after the stored ones.
    let mut stream = Sse::open(&world, &token, &format!("product_id={id}"), Some(stored[4])).await;
    world.adjust(&id, 10).await;
    let live = stream.events(1).await;
    assert_eq!(live[0].1, "StockAdjusted");
    assert_eq!(live[0].2["data"]["StockAdjusted"]["delta"], 10);
    assert!(live[0].0 > stored[4]);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn an_idle_stream_sends_heartbeats_and_streams_per_token_are_limited(pool: PgPool) {
    let world = world(
        pool,
        &[("SSE_HEARTBEAT_SECS", "1"), ("SSE_STREAMS_PER_TOKEN", "2")],
    )
    .await;
    let token = auditor(&world);
    let mut first = Sse::open(&world, &token, "", None).await;
    assert_eq!(
        first.next(Duration::from_secs(3)).await,
        Some(Message::Comment("heartbeat".into()))
    );
    let second = Sse::open(&world, &token, "", None).await;
    let refused = world.read("/events/stream", Some(&token)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    assert!(refused.headers().contains_key("retry-after"));
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:catalog:problem:too-many-streams");
    // Another token has its own share.
    let other = world.token_for("other-auditor", "catalog:audit");
    drop(Sse::open(&world, &other, "", None).await);
    // A closed stream gives its slot back.
    drop(second);
    let mut reopened = None;
    for _ in 0..50 {
        let response = world.read("/events/stream", Some(&token)).await;
        if response.status() == StatusCode::OK {
            reopened = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        reopened.is_some(),
        "the closed stream's slot was never given back"
    );
    drop(first);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_client_too_slow_is_told_to_resume_and_memory_stays_bounded(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let id = world.create("SLOW-1").await;
    for _ in 0..5 {
        world.adjust(&id, 1).await;
    }
    let streams = query_api::feed::Streams::new(query_api::feed::StreamSettings {
        per_token: 1,
        heartbeat: Duration::from_secs(15),
        buffer: 2,
        slow_after: Duration::from_millis(300),
        poll: Duration::from_millis(100),
    });
    let slot = streams.open("token").unwrap();
    let stream = streams.stream(
        pool.clone(),
        catalog_store::feed::FeedQuery::default(),
        slot,
    );
    // Nobody reads: the reader fills its two places and gives up on the client.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let body = axum::response::IntoResponse::into_response(axum::response::sse::Sse::new(stream))
        .into_body();
    let bytes = tokio::time::timeout(
        Duration::from_secs(5),
        axum::body::to_bytes(body, usize::MAX),
    )
    .await
    .expect("the stream ends")
    .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(
        text.starts_with(": too slow") && text.contains("Last-Event-ID: 0 "),
        "{text}"
    );
    // Its slot is free again.
    assert!(streams.open("token").is_ok());
}

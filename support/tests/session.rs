//! Sessions against the real Redis (`REDIS_URL`, default the local one), each test under a
//! namespace of its own, removed afterwards: an idle session ends when its time runs out, one
//! past its absolute limit ends however recently used, `end_all` ends every session of a
//! person, and five failures lock one email out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use catalog_support::config::RedisSettings;
use catalog_support::people::Role;
use catalog_support::session::{Sessions, ABSOLUTE, FAILURES_MAX, FAILURE_WINDOW};
use redis::AsyncCommands;
use sha2::{Digest, Sha256};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// A namespace of the test's own, and a plain connection to look at and change its keys.
async fn setup() -> (Sessions, String, redis::aio::MultiplexedConnection) {
    let namespace = format!("catalog-session-test-{}", uuid_like());
    let sessions = Sessions::new(&RedisSettings::direct(redis_url()), &namespace).unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    let connection = client.get_multiplexed_async_connection().await.unwrap();
    (sessions, namespace, connection)
}

fn uuid_like() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}-{}", std::process::id())
}

async fn cleanup(namespace: &str, connection: &mut redis::aio::MultiplexedConnection) {
    let keys: Vec<String> = connection.keys(format!("{namespace}:*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = connection.del(keys).await.unwrap();
    }
}

/// Where a session id is stored: its SHA-256, never the id.
fn key(namespace: &str, id: &str) -> String {
    format!(
        "{namespace}:session:{}",
        hex::encode(Sha256::digest(id.as_bytes()))
    )
}

#[tokio::test]
async fn a_session_ends_idle_or_past_its_absolute_limit_and_is_stored_hashed() {
    let (sessions, namespace, mut redis) = setup().await;
    let (id, started) = sessions
        .start("ada@example.org", Role::Editor)
        .await
        .unwrap();
    let stored: Option<String> = redis.get(key(&namespace, &id)).await.unwrap();
    let stored = stored.expect("stored under the id's hash");
    assert!(!stored.contains(&id), "the id itself is nowhere in Redis");
    assert_eq!(sessions.find(&id).await.unwrap(), Some(started.clone()));
    // Each use extends the idle limit, never beyond the absolute one.
    let ttl: i64 = redis.ttl(key(&namespace, &id)).await.unwrap();
    assert!(ttl > 0 && ttl <= 8 * 3600, "{ttl}");

    // Unused until its idle time runs out: gone.
    let _: () = redis.expire(key(&namespace, &id), 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sessions.find(&id).await.unwrap(), None);

    // Signed in more than 7 days ago: ended at its next use, however recent the last.
    let (id, mut session) = sessions
        .start("ada@example.org", Role::Editor)
        .await
        .unwrap();
    session.created -= ABSOLUTE.as_secs() + 1;
    let _: () = redis
        .set(
            key(&namespace, &id),
            serde_json::to_string(&session).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(sessions.find(&id).await.unwrap(), None);
    let left: bool = redis.exists(key(&namespace, &id)).await.unwrap();
    assert!(!left, "an expired session is deleted when found");

    // Ending one session leaves the person's others; ending all ends them all.
    let (first, _) = sessions
        .start("ada@example.org", Role::Editor)
        .await
        .unwrap();
    let (second, _) = sessions
        .start("ada@example.org", Role::Editor)
        .await
        .unwrap();
    let (other, _) = sessions
        .start("grace@example.org", Role::Auditor)
        .await
        .unwrap();
    sessions.end(&first).await.unwrap();
    assert_eq!(sessions.find(&first).await.unwrap(), None);
    assert!(sessions.find(&second).await.unwrap().is_some());
    assert_eq!(sessions.end_all("ada@example.org").await.unwrap(), 1);
    assert_eq!(sessions.find(&second).await.unwrap(), None);
    assert!(
        sessions.find(&other).await.unwrap().is_some(),
        "another person's session stays"
    );
    cleanup(&namespace, &mut redis).await;
}

#[tokio::test]
async fn five_failures_lock_one_email_for_the_rest_of_the_window() {
    let (sessions, namespace, mut redis) = setup().await;
    for _ in 1..FAILURES_MAX {
        sessions.failed("ada@example.org").await.unwrap();
    }
    assert_eq!(sessions.locked("ada@example.org").await.unwrap(), None);
    sessions.failed("ada@example.org").await.unwrap();
    let wait = sessions
        .locked("ada@example.org")
        .await
        .unwrap()
        .expect("locked");
    assert!(wait <= FAILURE_WINDOW && wait > Duration::ZERO, "{wait:?}");
    assert_eq!(sessions.locked("grace@example.org").await.unwrap(), None);
    // A success forgets the failures.
    sessions.succeeded("ada@example.org").await.unwrap();
    assert_eq!(sessions.locked("ada@example.org").await.unwrap(), None);
    cleanup(&namespace, &mut redis).await;
}

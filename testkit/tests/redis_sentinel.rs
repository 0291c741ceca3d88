//! Redis behind Sentinel, through Catalog's own connection (`support::lazy_redis`): writes and
//! reads go on after the primary is killed and the replica promoted, within a bounded time,
//! and the read model's filled marker no longer counts on the promoted replica, which may lack
//! the old primary's last writes: the projector refills it. The old primary, back as a replica,
//! answers writes with `READONLY`, which the connection takes as the master having moved.
//! Sentinels and servers behind a password are reached with `REDIS_SENTINEL_PASSWORD` and
//! `REDIS_URL`'s password.

use std::time::{Duration, Instant};

use catalog_read_model::redis::RedisReadModel;
use catalog_support::config::from_pairs;
use catalog_support::lazy_redis::{master_may_have_moved, LazyRedis, RedisTimeouts};
use catalog_testkit::private::PrivateRedisSentinel;
use redis::AsyncCommands;

/// Kill to first acknowledged write, at most: Sentinel's 1 s down-after, the election and the
/// promotion, then a lookup by the client.
const RECOVERY_LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn writes_and_reads_reach_the_promoted_replica_after_the_primary_dies() {
    let mut set = PrivateRedisSentinel::start().await;
    let sentinels = set.sentinels().join(",");
    // REDIS_URL's address is not used behind Sentinel; its database is.
    let settings = from_pairs(&[
        ("REDIS_URL", "redis://127.0.0.1:1/3"),
        ("REDIS_SENTINELS", &sentinels),
        ("REDIS_MASTER_NAME", set.master_name()),
    ])
    .redis_settings()
    .unwrap();
    let redis = LazyRedis::new(
        &settings,
        RedisTimeouts::answering_within(Duration::from_millis(500)),
    )
    .unwrap();
    let model = RedisReadModel::connect(&settings, "sentinel-test")
        .await
        .unwrap();

    let mut connection = redis.connection().await.unwrap();
    let () = connection.set("counter", 1).await.unwrap();
    assert!(model.begin_refill(Duration::from_secs(60)).await.unwrap());
    assert!(model.end_refill().await.unwrap());
    assert!(model.is_filled().await.unwrap());
    // Both on the replica before the primary goes.
    let replicas: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(2000)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(replicas, 1);
    let old_primary = set.current_primary().await;

    set.kill_primary().await;
    let killed = Instant::now();
    let mut attempts = 0;
    let written = loop {
        attempts += 1;
        let wrote: redis::RedisResult<i64> = async {
            let mut connection = redis.connection().await?;
            connection.incr("counter", 1).await
        }
        .await;
        if let Ok(value) = wrote {
            break value;
        }
        assert!(
            killed.elapsed() < RECOVERY_LIMIT,
            "no write was acknowledged within {RECOVERY_LIMIT:?} of the kill: {wrote:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let recovered = killed.elapsed();
    let failover = set.wait_failover().await;
    assert_ne!(set.current_primary().await, old_primary);
    // The write before the kill was replicated, so the promoted replica counts on from it.
    assert_eq!(written, 2);
    let mut connection = redis.connection().await.unwrap();
    let read: i64 = connection.get("counter").await.unwrap();
    assert_eq!(read, 2);
    // In REDIS_URL's database, not the default one.
    let db: i64 = redis::cmd("CLIENT")
        .arg("INFO")
        .query_async::<String>(&mut connection)
        .await
        .unwrap()
        .split_whitespace()
        .find_map(|field| field.strip_prefix("db="))
        .and_then(|db| db.parse().ok())
        .unwrap();
    assert_eq!(db, 3);
    eprintln!(
        "failover {:.2} s, first write acknowledged {:.2} s after the kill ({attempts} attempts)",
        failover.as_secs_f64(),
        recovered.as_secs_f64()
    );

    // The marker came over with the replica, but names the old primary: not filled here.
    let refill_seen = async {
        loop {
            if let Ok(filled) = model.is_filled().await {
                return filled;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let filled = tokio::time::timeout(RECOVERY_LIMIT, refill_seen)
        .await
        .expect("the read model reaches the new primary");
    assert!(!filled, "the promoted replica must be refilled");
    assert!(model.begin_refill(Duration::from_secs(60)).await.unwrap());
    assert!(model.end_refill().await.unwrap());
    assert!(model.is_filled().await.unwrap());

    // The old primary comes back empty; the Sentinels make it a replica of the new one, and
    // the connection stays on the primary.
    let rejoined = set.start_again_old_primary().await;
    let () = connection.set("after", "rejoined").await.unwrap();
    let read: String = redis
        .connection()
        .await
        .unwrap()
        .get("after")
        .await
        .unwrap();
    assert_eq!(read, "rejoined");
    // A connection that still reached the old primary now gets READONLY, which must send it
    // back to the Sentinels like a lost connection does.
    let mut demoted = redis::Client::open(format!("redis://127.0.0.1:{old_primary}/3"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let refused: redis::RedisResult<()> = demoted.set("after", "on a replica").await;
    let err = refused.expect_err("a replica refuses writes");
    assert_eq!(
        err.kind(),
        redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
        "{err}"
    );
    assert!(master_may_have_moved(&err), "{err}");
    eprintln!(
        "the old primary rejoined as a replica in {:.2} s",
        rejoined.as_secs_f64()
    );
    for (process, kib) in set.memory_kib().await {
        eprintln!("{process}: {} MiB resident", kib / 1024);
    }
}

#[tokio::test]
async fn sentinels_and_servers_behind_a_password_are_signed_in_to() {
    // Characters a URL must encode: the Sentinels' URLs are built from the bare password.
    let password = "s3cret/+@:x";
    let set = PrivateRedisSentinel::start_with_password(password).await;
    let sentinels = set.sentinels().join(",");
    let open = |sentinel_password: Option<&str>| {
        let mut pairs = vec![
            // The master's password is REDIS_URL's, encoded as a URL requires.
            ("REDIS_URL", "redis://:s3cret%2F%2B%40%3Ax@127.0.0.1:1/0"),
            ("REDIS_SENTINELS", sentinels.as_str()),
            ("REDIS_MASTER_NAME", set.master_name()),
        ];
        if let Some(sentinel_password) = sentinel_password {
            pairs.push(("REDIS_SENTINEL_PASSWORD", sentinel_password));
        }
        let settings = from_pairs(&pairs).redis_settings().unwrap();
        LazyRedis::new(
            &settings,
            RedisTimeouts::answering_within(Duration::from_millis(500)),
        )
        .unwrap()
    };

    let redis = open(Some(password));
    let mut connection = redis.connection().await.unwrap();
    let () = connection.set("signed-in", "yes").await.unwrap();
    let read: String = connection.get("signed-in").await.unwrap();
    assert_eq!(read, "yes");

    for sentinel_password in [None, Some("wrong")] {
        let refused = open(sentinel_password).connection().await;
        assert!(
            refused.is_err(),
            "Sentinels asked with {sentinel_password:?} must not name the master"
        );
    }
}

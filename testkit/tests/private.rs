//! The private PostgreSQL and Redis instances start, answer, stop and come back.

use std::net::TcpStream;

use catalog_testkit::private::{PrivatePostgres, PrivateRedis};
use redis::AsyncCommands;
use sqlx::{Connection, PgConnection};

fn refuses(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

async fn count_rows(url: &str) -> i64 {
    let mut connection = PgConnection::connect(url).await.expect("connects");
    let count = sqlx::query_scalar("SELECT count(*) FROM marks")
        .fetch_one(&mut connection)
        .await
        .expect("the table is there");
    let _ = connection.close().await;
    count
}

#[tokio::test]
async fn private_postgres_keeps_its_data_across_a_restart() {
    let mut postgres = PrivatePostgres::start().await;
    let port = postgres.port();
    assert_ne!(port, 5432);
    postgres.create_database("catalog test").await;
    let url = postgres.url("catalog test");
    assert_eq!(
        url,
        format!("postgres://postgres@127.0.0.1:{port}/catalog test")
    );

    let mut connection = PgConnection::connect(&url).await.expect("connects");
    sqlx::raw_sql("CREATE TABLE marks (id int); INSERT INTO marks VALUES (1), (2)")
        .execute(&mut connection)
        .await
        .expect("the table is made");
    let max_connections: String = sqlx::query_scalar("SHOW max_connections")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(max_connections, "200");

    let took = postgres.restart().await;
    eprintln!("private PostgreSQL restarted in {took:?}");
    assert!(
        sqlx::raw_sql("SELECT 1")
            .execute(&mut connection)
            .await
            .is_err(),
        "a session outlived the restart"
    );
    assert_eq!(count_rows(&url).await, 2);

    postgres.stop().await;
    assert!(
        refuses(port),
        "the stopped server still accepts connections"
    );
    postgres.start_again().await;
    assert_eq!(count_rows(&url).await, 2);
}

#[tokio::test]
async fn private_redis_stops_and_starts_again_empty() {
    let mut redis = PrivateRedis::start().await;
    let port = redis.port();
    assert_ne!(port, 6379);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let () = connection.set("mark", "1").await.unwrap();
    let mark: String = connection.get("mark").await.unwrap();
    assert_eq!(mark, "1");

    let took = redis.stop().await;
    eprintln!("private Redis stopped in {took:?}");
    assert!(
        refuses(port),
        "the stopped server still accepts connections"
    );
    redis.start_again().await;
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let pong: String = redis::cmd("PING")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(pong, "PONG");
    // Nothing is persisted.
    let mark: Option<String> = connection.get("mark").await.unwrap();
    assert_eq!(mark, None);

    let () = connection.set("mark", "2").await.unwrap();
    redis.flush_all().await;
    let keys: usize = redis::cmd("DBSIZE")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(keys, 0);
}

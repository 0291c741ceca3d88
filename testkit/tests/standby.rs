//! The private streaming standby follows its primary, shows lag while replay is paused, is
//! synchronous when asked, and takes over writes when promoted.

use catalog_testkit::private::PrivatePostgres;
use sqlx::{Connection, PgConnection};

async fn query(url: &str, sql: &str) -> Result<String, sqlx::Error> {
    let mut connection = PgConnection::connect(url).await?;
    let answer = sqlx::query_scalar(sql).fetch_one(&mut connection).await;
    let _ = connection.close().await;
    answer
}

async fn execute(url: &str, sql: &str) {
    let mut connection = PgConnection::connect(url).await.expect("connects");
    sqlx::raw_sql(sql)
        .execute(&mut connection)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
    let _ = connection.close().await;
}

const COUNT: &str = "SELECT count(*)::text FROM marks";

#[tokio::test]
async fn a_standby_streams_lags_while_paused_and_takes_over_when_promoted() {
    let mut primary = PrivatePostgres::start().await;
    primary.create_database("standby test").await;
    let on_primary = primary.url("standby test");
    execute(
        &on_primary,
        "CREATE TABLE marks (id int); INSERT INTO marks VALUES (1)",
    )
    .await;

    let standby = primary.start_standby().await;
    assert_ne!(standby.port(), primary.port());
    let on_standby = standby.url("standby test");
    assert_eq!(
        query(&on_standby, COUNT).await.unwrap(),
        "1",
        "the base backup"
    );
    let write = query(
        &on_standby,
        "WITH w AS (INSERT INTO marks VALUES (9) RETURNING 1) SELECT 'written'::text FROM w",
    )
    .await;
    assert!(
        write
            .as_ref()
            .is_err_and(|err| err.to_string().contains("read-only")),
        "a standby refuses writes: {write:?}"
    );

    execute(&on_primary, "INSERT INTO marks VALUES (2)").await;
    standby.wait_caught_up(&primary).await;
    assert_eq!(query(&on_standby, COUNT).await.unwrap(), "2", "streamed");

    standby.pause_replay().await;
    execute(&on_primary, "INSERT INTO marks VALUES (3)").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        query(&on_standby, COUNT).await.unwrap(),
        "2",
        "replay is paused"
    );
    standby.resume_replay().await;
    standby.wait_caught_up(&primary).await;
    assert_eq!(
        query(&on_standby, COUNT).await.unwrap(),
        "3",
        "replay resumed"
    );

    primary.replicate_synchronously(&standby, "on").await;
    execute(&on_primary, "INSERT INTO marks VALUES (4)").await;
    let xid_on_primary: i64 = query(&on_primary, "SELECT pg_current_xact_id()::text")
        .await
        .unwrap()
        .parse()
        .unwrap();

    primary.stop_immediately().await;
    let took = standby.promote().await;
    eprintln!("the standby was promoted in {took:?}");
    // The commit acknowledged synchronously had reached the standby's disk, so the promotion
    // replayed it.
    assert_eq!(query(&on_standby, COUNT).await.unwrap(), "4");
    execute(&on_standby, "INSERT INTO marks VALUES (5)").await;
    assert_eq!(
        query(&on_standby, COUNT).await.unwrap(),
        "5",
        "the promoted standby writes"
    );
    let xid_on_standby: i64 = query(&on_standby, "SELECT pg_current_xact_id()::text")
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        xid_on_standby > xid_on_primary,
        "transaction ids continue: {xid_on_standby} after {xid_on_primary}"
    );
}

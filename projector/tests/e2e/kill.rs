use std::process::Stdio;
use std::time::Duration;

use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::helpers::*;

fn spawn_projector(world: &World) -> Child {
    Command::new(env!("CARGO_BIN_EXE_projector"))
        .env("DATABASE_URL", database_url(&world.pool))
        .env("REDIS_URL", REDIS_URL)
        .env("AMQP_URL", &world.amqp_url)
        .env("CATALOG_NAMESPACE", &world.namespace)
        .env("LOG_FORMAT", "json")
        .env("PROJECTOR_HTTP_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the projector binary starts")
}

async fn applied_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT coalesce(sum(version), 0)::bigint FROM product_view")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_projector_killed_mid_stream_loses_nothing(pool: PgPool) {
    // The read model's tables are this release's generation's.
    let pool = read_model_pool(&pool);
    let world = World::start(pool.clone(), Options::new(true, false)).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(world.create(&format!("KILL-{i}")).await);
    }
    let writer = async {
        for _ in 0..25 {
            for id in &ids {
                world.adjust(id, -1).await;
            }
        }
    };
    let killer = async {
        let mut projector = spawn_projector(&world);
        for round in 1..=3 {
            // Let it get some way into the stream, then kill it without warning.
            let target = applied_rows(&pool).await + 20;
            eventually(Duration::from_secs(30), || async {
                (applied_rows(&pool).await >= target).then_some(())
            })
            .await
            .unwrap_or_else(|| panic!("the projector made no progress before kill {round}"));
            projector.start_kill().expect("SIGKILL is sent");
            projector.wait().await.unwrap();
            projector = spawn_projector(&world);
        }
        projector
    };
    let ((), mut projector) = tokio::join!(writer, killer);
    world.wait_for_quiescence().await;
    for id in &ids {
        let (view, redis) = world.wait_for_version(id, 26).await;
        assert_eq!(view.stock, 75);
        assert_eq!(redis, view);
    }
    assert_eq!(world.verify().await, Vec::<String>::new());
    projector.start_kill().unwrap();
}

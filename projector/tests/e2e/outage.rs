//! RabbitMQ goes away while commands keep arriving, and comes back: nothing is lost. The test
//! stops a private node of its own, never the shared broker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use catalog_testkit::private::PrivateRabbit;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::helpers::*;

const PRODUCTS: usize = 8;
const ROUNDS: usize = 30;
/// The node is stopped once the writer is this far in…
const STOP_AFTER: usize = 5;
/// …the writer does not pass this round until the node is down…
const DOWN_FROM: usize = 10;
/// …the node stays down until the writer is this far, and for at least `MIN_DOWNTIME`; the
/// writer does not pass this round until the node is starting again…
const STARTING_FROM: usize = 20;
const MIN_DOWNTIME: Duration = Duration::from_secs(3);
/// …and the writer's last rounds wait until it is back: some arrive while it boots, some after.
const LAST_ROUNDS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Broker {
    Up,
    Down,
    Starting,
    Back,
}

/// Products whose PostgreSQL view is behind their last stored event.
async fn behind(pool: &PgPool) -> i64 {
    sqlx::query_scalar(PRODUCTS_BEHIND)
        .fetch_one(pool)
        .await
        .unwrap()
}

fn refuses(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn stopping_rabbitmq_while_commands_arrive_loses_nothing(pool: PgPool) {
    let started = Instant::now();
    let mut node = PrivateRabbit::start().await;
    eprintln!("private RabbitMQ node started in {:?}", started.elapsed());
    let port = node.port();
    let world = World::start(
        pool.clone(),
        Options {
            amqp_url: Some(node.amqp_url()),
            ..Options::new(true, true)
        },
    )
    .await;

    let scenario = async {
        let mut ids = Vec::new();
        for i in 0..PRODUCTS {
            ids.push(world.create(&format!("OUTAGE-{i}")).await);
        }
        // Relay and projector both work through the private node before it goes away.
        for id in &ids {
            world.wait_for_version(id, 1).await;
        }

        let rounds_done = AtomicUsize::new(0);
        let (broker_tx, broker_rx) = watch::channel(Broker::Up);
        let writer = async {
            let mut broker = broker_rx.clone();
            let mut versions = vec![0; ids.len()];
            for round in 0..ROUNDS {
                if round == DOWN_FROM {
                    broker.wait_for(|b| *b != Broker::Up).await.unwrap();
                }
                if round == STARTING_FROM {
                    broker.wait_for(|b| *b >= Broker::Starting).await.unwrap();
                }
                if round == ROUNDS - LAST_ROUNDS {
                    broker.wait_for(|b| *b == Broker::Back).await.unwrap();
                }
                // Commands need only PostgreSQL: they succeed whatever the broker does.
                for (id, version) in ids.iter().zip(&mut versions) {
                    *version = world.adjust(id, -1).await;
                }
                rounds_done.store(round + 1, Ordering::SeqCst);
                if round >= DOWN_FROM {
                    // Spread the rest over the outage and the restart.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            versions
        };
        let outage = async {
            let rounds = || rounds_done.load(Ordering::SeqCst);
            eventually(Duration::from_secs(60), || async {
                (rounds() >= STOP_AFTER).then_some(())
            })
            .await
            .expect("the writer got going");
            let took = node.stop().await;
            let down_at = Instant::now();
            assert!(refuses(port), "the stopped node still accepts connections");
            eprintln!("node stopped in {took:?}, after round {}", rounds());
            broker_tx.send_replace(Broker::Down);

            eventually(Duration::from_secs(60), || async {
                (rounds() >= STARTING_FROM).then_some(())
            })
            .await
            .expect("the writer kept writing while the node was down");
            tokio::time::sleep(MIN_DOWNTIME.saturating_sub(down_at.elapsed())).await;
            // What was written meanwhile cannot have reached the read models.
            let lagging = behind(&pool).await;
            assert!(lagging > 0, "the outage held nothing back");
            eprintln!(
                "node down for {:?}, writer at round {}, {lagging} products behind",
                down_at.elapsed(),
                rounds()
            );

            broker_tx.send_replace(Broker::Starting);
            let took = node.start_again().await;
            broker_tx.send_replace(Broker::Back);
            eprintln!(
                "node started again in {took:?} (down {:?} in all), writer at round {}",
                down_at.elapsed(),
                rounds()
            );
            Instant::now()
        };
        let (versions, back_at) = tokio::join!(writer, outage);

        world.wait_for_quiescence().await;
        eprintln!(
            "read models caught up {:?} after the node was back",
            back_at.elapsed()
        );
        for (id, version) in ids.iter().zip(versions) {
            assert_eq!(version, 1 + ROUNDS as u64);
            let (view, redis) = world.wait_for_version(id, version).await;
            assert_eq!(view.version, version);
            assert_eq!(view.stock, 100 - ROUNDS as i64);
            assert_eq!(redis, view);
        }
        assert_eq!(world.verify().await, Vec::<String>::new());
    };
    tokio::time::timeout(Duration::from_secs(240), scenario)
        .await
        .expect("the scenario finished within 4 minutes");
    eprintln!(
        "applied {}, skipped {}, retried {}, dead-lettered {}",
        world.stats.applied.load(Ordering::Relaxed),
        world.stats.skipped.load(Ordering::Relaxed),
        world.stats.retried.load(Ordering::Relaxed),
        world.stats.dead_lettered.load(Ordering::Relaxed),
    );
}

//! The private RabbitMQ cluster forms, replicates Catalog's quorum queues over all three nodes,
//! elects a new leader when the leader is killed, and takes killed and stopped nodes back.

use std::time::{Duration, Instant};

use catalog_store::broker::{self, Topology, PROJECTOR};
use catalog_testkit::private::PrivateRabbitCluster;

/// Asks until the queue has a leader other than `not`, within a limit.
async fn new_leader(cluster: &PrivateRabbitCluster, queue: &str, not: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(leader) = cluster.leader_of(queue).await {
            if leader != not {
                return leader;
            }
        }
        assert!(Instant::now() < deadline, "{queue} elected no new leader");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_three_node_cluster_keeps_catalogs_queues_through_node_loss() {
    let mut cluster = PrivateRabbitCluster::start().await;
    let urls = cluster.amqp_urls();
    assert_eq!(urls.len(), 3);
    eprintln!(
        "cluster started in {:?}; RSS {:?} KiB",
        cluster.started_in(),
        cluster.rss_kib()
    );
    assert_eq!(cluster.running_nodes().await, [0, 1, 2]);
    for (i, url) in urls.iter().enumerate() {
        let port = url::Url::parse(url).unwrap().port().unwrap();
        assert_eq!(cluster.node_for_port(port), Some(i));
    }

    // Catalog's own topology, sharded (the consistent-hash exchange must be there), declared
    // through the list as the services do.
    let list = cluster.amqp_url_list();
    let connection = broker::connect(&list).await.expect("the cluster answers");
    let channel = connection.create_channel().await.unwrap();
    let topology = Topology::new("cluster-test").with_shards(2);
    topology
        .declare_consumer(&channel, &PROJECTOR)
        .await
        .expect("the projector's queues are declared");
    let _ = connection.close(200, "declared".into()).await;
    let queue = topology.work_queues(&PROJECTOR)[0].clone();
    let placement = cluster
        .placement_of(&queue)
        .await
        .expect("the queue is there");
    let (leader, mut members) = (placement.leader, placement.members);
    members.sort_unstable();
    assert_eq!(members, [0, 1, 2], "a member on every node");
    let leader = leader.expect("the queue has a leader");
    eprintln!("{queue}: leader node {leader}");

    // The leader killed: another member leads; Catalog's connect passes over the dead node.
    cluster.kill(leader).await;
    let elected = Instant::now();
    let next = new_leader(&cluster, &queue, leader).await;
    eprintln!(
        "node {leader} killed: node {next} leads after {:?}",
        elected.elapsed()
    );
    let connection = broker::connect(&list)
        .await
        .expect("a surviving node answers");
    let _ = connection.close(200, "failed over".into()).await;
    let back = cluster.start_again(leader).await;
    eprintln!("node {leader} back in the cluster in {back:?}");
    assert_eq!(cluster.running_nodes().await, [0, 1, 2]);

    // A node that leads nothing, stopped cleanly and started again.
    let follower = (0..3).find(|&i| i != next).unwrap();
    cluster.stop(follower).await;
    assert!(!cluster.is_running(follower));
    assert_eq!(cluster.leader_of(&queue).await, Some(next));
    cluster.start_again(follower).await;
    assert_eq!(cluster.running_nodes().await, [0, 1, 2]);
}

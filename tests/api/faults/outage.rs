//! PostgreSQL stopped for 10 s under load, then started again: RPCs that
//! need it fail fast with UNAVAILABLE, the bridge answers 503 with
//! Retry-After, readiness and health flip, and everything recovers on its
//! own. The recovery times are printed (`--nocapture`).

use std::time::{Duration, Instant};

use patchbay::{auth::Role, proto::v1::ListConnectionsRequest, store::embedded};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::{
    kill9::UNLIMITED,
    load::{Senders, wait_processed, webhook_connection},
    replica::{Deployment, Replica},
};
use crate::database::private_postgres;

const OUTAGE: Duration = Duration::from_secs(10);

async fn list_connections(deployment: &Deployment, replica: &Replica) -> Result<(), Code> {
    let owner = deployment.token("owner", "acme", Role::Owner);
    let mut registry = replica.registry(&owner);
    let call = registry.list_connections(ListConnectionsRequest {
        parent: "projects/acme".into(),
        ..Default::default()
    });
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(status)) => Err(status.code()),
        Err(_) => Err(Code::DeadlineExceeded),
    }
}

async fn serving(replica: &Replica) -> bool {
    let check = HealthClient::new(replica.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await;
    check.is_ok_and(|r| r.into_inner().status == 1)
}

/// Polls `probe` until it holds; how long that took.
async fn until<F, Fut>(what: &str, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !probe().await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} never held"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_10_second_database_outage_fails_fast_and_recovers_without_a_restart() {
    let (_dir, mut pg) = private_postgres().await;
    let deployment = Deployment::on(pg.config(embedded::DATABASE));
    let replica = deployment.start(&UNLIMITED).await;
    let (key, secret) = webhook_connection(&deployment, &replica).await;
    let senders = Senders::start(8, &replica.http_url(&format!("/webhooks/{key}")), &secret);
    senders.wait_accepted(100).await;

    pg.stop().await.expect("stop PostgreSQL");
    let stopped = Instant::now();
    // Fails fast: UNAVAILABLE, well before a client's deadline.
    let called = Instant::now();
    assert_eq!(
        list_connections(&deployment, &replica).await,
        Err(Code::Unavailable)
    );
    let failed_in = called.elapsed();
    assert!(failed_in < Duration::from_secs(5), "took {failed_in:?}");
    replica.wait_ready(503, Duration::from_secs(10)).await;
    until("NOT_SERVING", || async { !serving(&replica).await }).await;
    let accepted_during = senders.accepted();

    tokio::time::sleep(OUTAGE.saturating_sub(stopped.elapsed())).await;
    assert!(
        senders.accepted() - accepted_during < 50,
        "the bridge kept acknowledging with no database"
    );
    pg.restart().await.expect("start PostgreSQL again");
    // Each measured from the restart, at once.
    let accepted_at_restart = senders.accepted();
    let (rpc, bridge, ready, health) = tokio::join!(
        until("ListConnections", || async {
            list_connections(&deployment, &replica).await.is_ok()
        }),
        until("a 202", || async {
            senders.accepted() > accepted_at_restart
        }),
        replica.wait_ready(200, Duration::from_secs(60)),
        until("SERVING", || serving(&replica)),
    );
    eprintln!(
        "fault outage: UNAVAILABLE in {:.3} s; seconds after PostgreSQL returned: \
         RPCs {:.2}, bridge 202 {:.2}, /readyz {:.2}, health SERVING {:.2}",
        failed_in.as_secs_f64(),
        rpc.as_secs_f64(),
        bridge.as_secs_f64(),
        ready.as_secs_f64(),
        health.as_secs_f64(),
    );

    let sent = senders.finish().await;
    let refused: Vec<_> = sent.iter().filter(|s| s.status == 503).collect();
    assert!(!refused.is_empty(), "deliveries met the outage");
    assert!(
        refused.iter().all(|s| s.retry_after),
        "503 carries Retry-After"
    );
    assert!(
        sent.iter().all(|s| matches!(s.status, 202 | 503)),
        "only 202 or 503"
    );
    wait_processed(&deployment).await;
    let acknowledged = sent.iter().filter(|s| s.status == 202).count();
    let stored: i64 = deployment
        .db()
        .await
        .query_one("SELECT count(*) FROM webhook_deliveries", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(
        stored, acknowledged as i64,
        "every 202 stored, nothing else"
    );
    replica.assert_no_secrets_logged(&[&secret]);
}

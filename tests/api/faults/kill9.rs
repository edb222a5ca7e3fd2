//! kill -9 while 16 senders stream signed deliveries: every acknowledged
//! delivery is stored and processed exactly once after a restart on the
//! same database, and a watcher that resumes misses nothing.

use std::collections::{BTreeSet, HashMap};

use super::{
    load::{Senders, Watcher, logged_events, wait_processed, webhook_connection},
    replica::Deployment,
};

pub const UNLIMITED: [&str; 4] = [
    "--webhook-rate-per-key",
    "0",
    "--webhook-rate-per-peer",
    "0",
];

#[tokio::test]
async fn kill_9_under_16_senders_loses_no_acknowledged_delivery() {
    let deployment = Deployment::fresh().await;
    let mut first = deployment.start(&UNLIMITED).await;
    let (key, secret) = webhook_connection(&deployment, &first).await;
    let before = Watcher::start(&deployment, &first, None).await;
    let start = before.start;

    let senders = Senders::start(16, &first.http_url(&format!("/webhooks/{key}")), &secret);
    senders.wait_accepted(400).await;
    first.kill9().await;
    let sent = senders.finish().await;
    let (seen_before, _) = before.ended().await;

    let second = deployment.start(&UNLIMITED).await;
    wait_processed(&deployment).await;
    let acknowledged: BTreeSet<String> = sent
        .iter()
        .filter(|s| (200..300).contains(&s.status))
        .filter_map(|s| s.delivery_id.clone())
        .collect();
    let stored: BTreeSet<String> = deployment
        .db()
        .await
        .query("SELECT id FROM webhook_deliveries", &[])
        .await
        .expect("deliveries")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    eprintln!(
        "fault kill -9: {} deliveries acknowledged, {} stored, {} lost, {} unanswered",
        acknowledged.len(),
        stored.len(),
        lost.len(),
        sent.iter().filter(|s| s.status == 0).count()
    );
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert!(acknowledged.len() >= 400);

    // Processed exactly once: one webhook_received event per delivery.
    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    for row in deployment
        .db()
        .await
        .query(
            "SELECT payload::jsonb ->> 'delivery' FROM status_events \
             WHERE project = 'acme' AND kind = 'webhook_received'",
            &[],
        )
        .await
        .expect("events")
    {
        let name: String = row.get(0);
        let id = name.rsplit('/').next().unwrap_or_default().to_owned();
        *per_delivery.entry(id).or_default() += 1;
    }
    for id in &stored {
        assert_eq!(
            per_delivery.get(id),
            Some(&1),
            "delivery {id} processed once"
        );
    }
    assert_eq!(
        per_delivery.len(),
        stored.len(),
        "no event for anything else"
    );

    // A watcher resuming where the first one stopped sees the rest: with
    // what that one saw, every event of the log, in order, each once.
    let resume_from = seen_before.seqs.last().copied().unwrap_or(start);
    let after = Watcher::start(&deployment, &second, Some(resume_from)).await;
    let log = logged_events(&deployment, start).await;
    let head = *log.keys().last().expect("events were logged");
    after.wait_for(head).await;
    let mut seen = seen_before.seqs.clone();
    seen.extend(after.seen().seqs.iter().filter(|seq| **seq <= head));
    let logged: Vec<i64> = log.keys().copied().collect();
    assert_eq!(seen, logged, "every event in order, none twice, no gap");
    for replica in [&first, &second] {
        replica.assert_no_secrets_logged(&[&secret]);
    }
}

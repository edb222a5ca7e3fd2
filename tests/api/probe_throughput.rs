//! The prober keeps up with what is due: after a claim that took every
//! free permit it claims again as soon as permits come back, not at the
//! next tick, so probes are not capped at `concurrency` per tick.

use std::time::Duration;

use crate::{
    fakes::FakeProvider,
    helpers::{TestOptions, spawn_app_with},
    status::{active_github_repo, fast_status, fresh_repo},
};

const REPOS: usize = 10;

#[tokio::test]
async fn a_backlog_of_due_probes_is_worked_through_between_ticks() {
    let fake = FakeProvider::start().await;
    for n in 0..REPOS {
        fresh_repo(&fake, "acme", &format!("r{n}"), 1);
    }
    let first = spawn_app_with(TestOptions {
        status: fast_status(&fake),
        ..TestOptions::default()
    })
    .await;
    for n in 0..REPOS {
        active_github_repo(&first, &format!("r{n}"), &format!("r{n}")).await;
    }
    let database = first.database.clone();
    let (keys, keyring) = (first.keys.clone(), first.keyring.clone());
    first.stop().await.expect("stop");
    // Everything is due when the replica starts; two probes at a time,
    // and a tick far longer than the test waits.
    let db = patchbay::store::connect(&database).await.expect("connect");
    db.execute("UPDATE connection_status SET next_probe_at = now()", &[])
        .await
        .expect("make every probe due");
    let mut status = fast_status(&fake);
    status.prober.concurrency = 2;
    status.prober.tick = Duration::from_secs(60);
    status.prober.policy.ttl = (Duration::from_secs(600), Duration::from_secs(900));
    let from = fake.seen().len();
    let _second = spawn_app_with(TestOptions {
        database: Some(database),
        keys: Some(keys),
        keyring: Some(keyring),
        status,
        ..TestOptions::default()
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let probed = (0..REPOS)
            .filter(|n| {
                let path = format!("/repos/acme/r{n}");
                fake.seen()[from..].iter().any(|s| s.path == path)
            })
            .count();
        if probed == REPOS {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{probed} of {REPOS} probed: the rest wait for the next tick"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

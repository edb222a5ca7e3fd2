//! Run leases at the store: a claimed run is not claimed again while its
//! lease holds, a write without the lease is refused, and a lease that
//! ended lets another worker take the run over.

use std::time::Duration;

use patchbay::{
    automations::{
        AutomationConfig,
        model::{RunState, StepState},
    },
    store::{self, automation_runs::Write},
};
use uuid::Uuid;

use crate::helpers::{TestOptions, spawn_app_with};

#[tokio::test]
async fn a_run_is_worked_by_one_lease_holder_at_a_time() {
    // The server's own worker looks once an hour: this test is the worker.
    let app = spawn_app_with(TestOptions {
        automations: AutomationConfig {
            poll: Duration::from_secs(3600),
            ..AutomationConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    app.db()
        .await
        .batch_execute(
            "INSERT INTO automations (project, id, draft, etag) VALUES ('acme', 'auto', '{}', 'e'); \
             INSERT INTO automation_runs (project, automation, id, version, trigger, event, state) \
             VALUES ('acme', 'auto', 'run-1', 1, 'manual', \
               '{\"connection\": \"projects/acme/connections/gh\", \"event_type\": \"push\", \
                 \"payload\": null}', 'pending')",
        )
        .await
        .expect("a pending run");
    let pool = store::pool(app.database.clone(), 2).expect("pool");
    let client = pool.get().await.expect("client");
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let lease = Duration::from_secs(60);

    let claimed = store::automation_runs::claim_due(&client, first, lease, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        claimed[0].name.to_string(),
        "projects/acme/automations/auto/runs/run-1"
    );
    assert_eq!(claimed[0].state, RunState::Running, "marked running");
    let again = store::automation_runs::claim_due(&client, second, lease, 10)
        .await
        .expect("claim");
    assert!(again.is_empty(), "held by the first worker");

    let mut run = claimed[0].clone();
    run.state = RunState::Waiting;
    run.steps = vec![patchbay::automations::model::RunStep::pending("wait")];
    run.steps[0].state = StepState::Running;
    let write = |run| Write {
        run,
        next_at: chrono::Utc::now(),
        awaiting: None,
        admit: false,
    };
    assert!(
        !store::automation_runs::write_fenced(&client, &write(&run), Some(second))
            .await
            .expect("write"),
        "no lease, no write"
    );
    let stored = |client| async move {
        store::automation_runs::get(client, &run_name())
            .await
            .expect("get")
            .expect("the run")
    };
    assert_eq!(stored(&client).await.state, RunState::Running);
    assert!(
        store::automation_runs::write_fenced(&client, &write(&run), Some(first))
            .await
            .expect("write"),
        "the holder writes"
    );
    assert_eq!(stored(&client).await.state, RunState::Waiting);
    // Written, the lease is gone: the run is due again, for anyone.
    let taken = store::automation_runs::claim_due(&client, second, Duration::ZERO, 10)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1);
    // A zero lease ends at once: a third worker takes it over, and the
    // second, who lost it, can no longer write.
    let third = Uuid::new_v4();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let over = store::automation_runs::claim_due(&client, third, lease, 10)
        .await
        .expect("claim");
    assert_eq!(over.len(), 1, "an ended lease is taken over");
    assert!(
        !store::automation_runs::write_fenced(&client, &write(&over[0]), Some(second))
            .await
            .expect("write")
    );
    assert!(
        store::automation_runs::write_fenced(&client, &write(&over[0]), Some(third))
            .await
            .expect("write")
    );
    // A run not yet due stays where it is.
    let mut later = over[0].clone();
    later.state = RunState::Waiting;
    assert!(
        store::automation_runs::write_fenced(
            &client,
            &Write {
                run: &later,
                next_at: chrono::Utc::now() + chrono::Duration::hours(1),
                awaiting: None,
                admit: false,
            },
            None,
        )
        .await
        .expect("write")
    );
    assert!(
        store::automation_runs::claim_due(&client, first, lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "not due for an hour"
    );
}

fn run_name() -> patchbay::names::RunName {
    patchbay::names::RunName::parse("projects/acme/automations/auto/runs/run-1").expect("name")
}

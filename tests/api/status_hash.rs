//! The stable hash: probes that find the same state, however long each
//! took, change no hash and emit nothing; the latency is a measurement
//! beside it.

use std::time::Duration;

use patchbay::{
    auth::Role,
    proto::v1::{GetProjectStatusRequest, StatusLevel, status_update::Event},
};

use crate::{
    connections::{create_request, s, settings},
    fakes::{FakeProvider, Reply},
    status::fast_app,
    watch::{next_event, watch, watch_request},
};

#[tokio::test]
async fn probes_of_an_unchanged_provider_leave_the_hash_alone() {
    let fake = FakeProvider::start().await;
    fake.set("/health", Reply::status(200));
    let app = fast_app(&fake).await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut stream = watch(&app, watch_request(None, Duration::from_secs(30))).await;
    while !matches!(
        next_event(&mut stream).await.event,
        Some(Event::SnapshotEnd(_))
    ) {}
    app.registry(Some(&owner))
        .create_connection(create_request(
            "acme",
            "site",
            "http",
            settings(&[("health_url", s(&format!("{}/health", fake.url())))]),
        ))
        .await
        .expect("create");
    // The connection appears, then its first probe finds it CONNECTED.
    let connected = loop {
        match next_event(&mut stream).await.event {
            Some(Event::ItemChanged(changed))
                if changed.item.as_ref().map(|i| i.status)
                    == Some(i32::from(StatusLevel::Connected)) =>
            {
                break changed;
            }
            Some(Event::ItemChanged(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    };

    // Every probe from here on takes a different time.
    let first = fake.hits_on("/health");
    let mut delay_ms = 0;
    while fake.hits_on("/health") < first + 12 {
        delay_ms = (delay_ms + 17) % 70;
        fake.set(
            "/health",
            Reply::status(200).delayed(Duration::from_millis(delay_ms)),
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let envelope = app
        .status(Some(&owner))
        .get_project_status(GetProjectStatusRequest {
            project: "projects/acme".into(),
            ..Default::default()
        })
        .await
        .expect("status")
        .into_inner();
    assert_eq!(envelope.hash, connected.hash, "the stable hash held");
    let item = &envelope.items[0];
    assert!(item.latency.is_some(), "the latency is reported: {item:?}");
    assert!(
        !item.summary.contains(" ms"),
        "no measurement in the summary: {}",
        item.summary
    );

    // The next event is the next real change: nothing came in between.
    fake.set("/health", Reply::status(500));
    match next_event(&mut stream).await.event {
        Some(Event::ItemChanged(changed)) => {
            let item = changed.item.expect("item");
            assert_eq!(item.status, i32::from(StatusLevel::Error), "{item:?}");
            assert_ne!(changed.hash, connected.hash);
        }
        other => panic!("expected the failure, got {other:?}"),
    }
}

//! What the built-in providers' end-to-end tests share: a server that
//! calls one provider at a fake, and a connection of a built-in type with
//! its credentials set and its webhook secret chosen.

use std::collections::HashMap;

use patchbay::{
    auth::Role,
    proto::v1::{
        Action, Connection, SetConnectionCredentialsRequest, WebhookReceived, status_update::Event,
    },
};
use serde_json::Value;

use crate::{
    actions::{fast_actions, start_request},
    connections::create_request,
    fakes::FakeProvider,
    helpers::{TestApp, TestOptions, spawn_app_with},
    probe_actions::ended,
    status::fast_status,
    watch::{next_event, watch, watch_request},
    webhook_signing::sign,
    webhooks::{now, post},
};

/// A server probing fast and acting at once, calling `type_id`'s provider
/// at `fake`.
pub async fn app_calling(fake: &FakeProvider, type_id: &str) -> TestApp {
    let mut status = fast_status(fake);
    status.prober.base_uris.insert(type_id, fake.url());
    spawn_app_with(TestOptions {
        status,
        actions: fast_actions(),
        ..TestOptions::default()
    })
    .await
}

/// Creates `projects/acme/connections/{id}` of `type_id` with
/// `webhook_secret`, then sets `credentials`.
pub async fn connect(
    app: &TestApp,
    id: &str,
    type_id: &str,
    settings: prost_types::Struct,
    credentials: &[(&str, &str)],
    webhook_secret: &str,
) -> Connection {
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    let mut request = create_request("acme", id, type_id, settings);
    request.webhook_secret = webhook_secret.to_owned();
    let connection = registry
        .create_connection(request)
        .await
        .expect("create")
        .into_inner();
    registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: connection.name.clone(),
            credentials: credentials
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
            etag: String::new(),
        })
        .await
        .expect("credentials");
    connection
}

/// Starts `action` on `connection` as an editor and waits for its end,
/// whatever it is.
pub async fn run_to_end(app: &TestApp, connection: &str, action: &str, params: Value) -> Action {
    let token = app.token("editor", &[("acme", Role::Editor)]);
    let started = app
        .actions(Some(&token))
        .start_action(start_request(connection, action, params))
        .await
        .expect("start")
        .into_inner();
    ended(app, &started.name).await
}

/// Posts `body` to `connection`'s webhook URL signed with `scheme`: signed
/// with another secret, and signed 301 s ago (outside the 5-minute
/// window), it is refused; signed with `secret` now, it is accepted and
/// reaches the project's watchers, whose event this returns.
pub async fn signed_webhooks_reach_watchers(
    app: &TestApp,
    connection: &Connection,
    scheme: &str,
    secret: &str,
    body: &[u8],
) -> WebhookReceived {
    let mut stream = watch(app, watch_request(None, std::time::Duration::from_secs(60))).await;
    while !matches!(
        next_event(&mut stream).await.event,
        Some(Event::SnapshotEnd(_))
    ) {}
    let key = &connection.webhook_key;
    let forged = post(
        app,
        key,
        &sign(scheme, "someone-elses-secret", body, now(), "", ""),
    )
    .await;
    assert_eq!(forged.status, 401, "forged: {:?}", forged.body);
    let late = post(app, key, &sign(scheme, secret, body, now() - 301, "", "")).await;
    assert_eq!(late.status, 401, "outside the window: {:?}", late.body);
    let accepted = post(app, key, &sign(scheme, secret, body, now(), "", "")).await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    let received = loop {
        if let Some(Event::WebhookReceived(w)) = next_event(&mut stream).await.event {
            break w;
        }
    };
    assert_eq!(received.connection, connection.name);
    received
}

//! What the built-in providers' end-to-end tests share: a server that
//! calls one provider at a fake, and a connection of a built-in type with
//! its credentials set and its webhook secret chosen.

use std::collections::HashMap;

use patchbay::{
    auth::Role,
    proto::v1::{Connection, SetConnectionCredentialsRequest},
};

use crate::{
    actions::fast_actions,
    connections::create_request,
    fakes::FakeProvider,
    helpers::{TestApp, TestOptions, spawn_app_with},
    status::fast_status,
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

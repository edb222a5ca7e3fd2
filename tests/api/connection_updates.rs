//! Connection updates: the field mask, the etag guarding every write
//! (update, credentials, delete), and deletes.

use std::collections::HashMap;

use patchbay::{
    auth::Role,
    proto::v1::{
        Connection, ConnectionState, DeleteConnectionRequest, GetConnectionRequest,
        SetConnectionCredentialsRequest, UpdateConnectionRequest,
    },
};
use prost_types::FieldMask;
use tonic::Code;

use crate::{
    connections::{create_github, s, settings},
    helpers::{assert_error, spawn_app, violations},
};

#[tokio::test]
async fn updates_follow_the_mask_and_etags_guard_every_write() {
    let app = spawn_app().await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    let created = create_github(&app, "acme", "gh").await;

    let updated = registry
        .update_connection(UpdateConnectionRequest {
            connection: Some(Connection {
                name: created.name.clone(),
                display_name: "Web repo".into(),
                settings: Some(settings(&[("owner", s("ignored")), ("repo", s("ignored"))])),
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.display_name, "Web repo");
    assert_eq!(
        updated.settings, created.settings,
        "settings were not in the mask"
    );
    assert_ne!(updated.etag, created.etag);

    let with = |etag: &str| UpdateConnectionRequest {
        connection: Some(Connection {
            name: created.name.clone(),
            display_name: "again".into(),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["display_name".into()],
        }),
    };
    assert_error(
        registry.update_connection(with(&created.etag)).await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    let stale_creds = registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: created.name.clone(),
            credentials: HashMap::from([("access_token".into(), "ghp_secret".into())]),
            etag: created.etag.clone(),
        })
        .await;
    assert_error(stale_creds, Code::Aborted, "ETAG_MISMATCH");
    let stale_delete = registry
        .delete_connection(DeleteConnectionRequest {
            name: created.name.clone(),
            etag: created.etag.clone(),
        })
        .await;
    assert_error(stale_delete, Code::Aborted, "ETAG_MISMATCH");

    // Activating needs credentials.
    let activate = UpdateConnectionRequest {
        connection: Some(Connection {
            name: created.name.clone(),
            state: ConnectionState::Active.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["state".into()],
        }),
    };
    assert_error(
        registry.update_connection(activate.clone()).await,
        Code::FailedPrecondition,
        "CREDENTIALS_MISSING",
    );
    // Settings updates are validated like creates.
    let bad_settings = registry
        .update_connection(UpdateConnectionRequest {
            connection: Some(Connection {
                name: created.name.clone(),
                settings: Some(settings(&[("repo", s("web"))])),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["settings".into()],
            }),
        })
        .await;
    let status = assert_error(bad_settings, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violations(&status), ["connection.settings.owner"]);

    let deleted = registry
        .delete_connection(DeleteConnectionRequest {
            name: created.name.clone(),
            etag: updated.etag,
        })
        .await;
    deleted.expect("delete with the current etag");
    let gone = registry
        .get_connection(GetConnectionRequest {
            name: created.name.clone(),
        })
        .await;
    assert_error(gone, Code::NotFound, "NOT_FOUND");
    let again = registry
        .delete_connection(DeleteConnectionRequest {
            name: created.name,
            etag: String::new(),
        })
        .await;
    assert_error(again, Code::NotFound, "NOT_FOUND");
}

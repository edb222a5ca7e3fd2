//! The catalog's admin side: registering types (admins only, validated,
//! idempotent) and updating them under a field mask and an etag.

use patchbay::{
    auth::Role,
    proto::v1::{
        ConfigField, GetIntegrationTypeRequest, IntegrationType, RegisterIntegrationTypeRequest,
        SignatureScheme, UpdateIntegrationTypeRequest,
    },
};
use prost_types::FieldMask;
use tonic::Code;

use crate::{
    catalog::custom_type,
    helpers::{assert_error, spawn_app, violations},
};

#[tokio::test]
async fn only_platform_admins_register_types_and_registration_is_validated() {
    let app = spawn_app().await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let admin = app.admin_token("root");

    let denied = app
        .registry(Some(&owner))
        .register_integration_type(RegisterIntegrationTypeRequest {
            integration_type: Some(custom_type("acme-crm")),
            request_id: String::new(),
        })
        .await;
    assert_error(denied, Code::PermissionDenied, "PLATFORM_ADMIN_REQUIRED");

    let mut registry = app.registry(Some(&admin));
    let created = registry
        .register_integration_type(RegisterIntegrationTypeRequest {
            integration_type: Some(custom_type("acme-crm")),
            request_id: String::new(),
        })
        .await
        .expect("admin registers")
        .into_inner();
    assert!(created.active && !created.builtin);
    assert!(!created.etag.is_empty());

    let duplicate = registry
        .register_integration_type(RegisterIntegrationTypeRequest {
            integration_type: Some(custom_type("acme-crm")),
            request_id: String::new(),
        })
        .await;
    assert_error(duplicate, Code::AlreadyExists, "TYPE_EXISTS");

    let mut bad = custom_type("X");
    bad.category = 0;
    bad.config_fields.push(bad.config_fields[0].clone());
    bad.config_fields.push(ConfigField {
        name: "Bad-Name".into(),
        r#type: 0,
        ..Default::default()
    });
    bad.actions[0].min_role = 0;
    bad.probe = "carrier-pigeon".into();
    bad.signature_scheme = SignatureScheme::SharedHeader.into();
    let invalid = registry
        .register_integration_type(RegisterIntegrationTypeRequest {
            integration_type: Some(bad),
            request_id: String::new(),
        })
        .await;
    let status = assert_error(invalid, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violations(&status),
        [
            "integration_type.actions[0].min_role",
            "integration_type.category",
            "integration_type.config_fields[2].name",
            "integration_type.config_fields[3].name",
            "integration_type.config_fields[3].type",
            "integration_type.name",
            "integration_type.probe",
            "integration_type.signature_header",
        ]
    );
}

#[tokio::test]
async fn register_is_idempotent_on_request_id() {
    let app = spawn_app().await;
    let admin = app.admin_token("root");
    let mut registry = app.registry(Some(&admin));
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = RegisterIntegrationTypeRequest {
        integration_type: Some(custom_type("acme-crm")),
        request_id: request_id.clone(),
    };
    let first = registry
        .register_integration_type(request.clone())
        .await
        .expect("first")
        .into_inner();
    let replay = registry
        .register_integration_type(request)
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(first, replay);
    let reused = registry
        .register_integration_type(RegisterIntegrationTypeRequest {
            integration_type: Some(custom_type("acme-other")),
            request_id,
        })
        .await;
    assert_error(reused, Code::AlreadyExists, "REQUEST_ID_REUSED");
}

#[tokio::test]
async fn updates_apply_the_mask_and_check_the_etag() {
    let app = spawn_app().await;
    let admin = app.admin_token("root");
    let mut registry = app.registry(Some(&admin));
    let github = registry
        .get_integration_type(GetIntegrationTypeRequest {
            name: "integrationTypes/github".into(),
        })
        .await
        .expect("get")
        .into_inner();
    let patch = IntegrationType {
        name: github.name.clone(),
        api_base_uri: "http://127.0.0.1:9".into(),
        display_name: "ignored: not in the mask".into(),
        etag: github.etag.clone(),
        ..Default::default()
    };
    let updated = registry
        .update_integration_type(UpdateIntegrationTypeRequest {
            integration_type: Some(patch.clone()),
            update_mask: Some(FieldMask {
                paths: vec!["apiBaseUri".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.api_base_uri, "http://127.0.0.1:9");
    assert_eq!(updated.display_name, "GitHub");
    assert_eq!(updated.config_fields, github.config_fields);
    assert_ne!(updated.etag, github.etag);

    // The old etag is stale now.
    let stale = registry
        .update_integration_type(UpdateIntegrationTypeRequest {
            integration_type: Some(patch),
            update_mask: Some(FieldMask {
                paths: vec!["api_base_uri".into()],
            }),
        })
        .await;
    assert_error(stale, Code::Aborted, "ETAG_MISMATCH");

    // Deactivating keeps the type readable but closes it to new connections.
    registry
        .update_integration_type(UpdateIntegrationTypeRequest {
            integration_type: Some(IntegrationType {
                name: github.name.clone(),
                active: false,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["active".into()],
            }),
        })
        .await
        .expect("deactivate");
    let unknown_path = registry
        .update_integration_type(UpdateIntegrationTypeRequest {
            integration_type: Some(IntegrationType {
                name: github.name,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["builtin".into()],
            }),
        })
        .await;
    assert_error(unknown_path, Code::InvalidArgument, "INVALID_ARGUMENT");
}

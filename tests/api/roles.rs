//! The role matrix: every role against every mutating registry RPC, and
//! cross-project access that reveals nothing.

use std::collections::HashMap;

use patchbay::{
    auth::Role,
    proto::v1::{
        Connection, CreateMappingTemplateRequest, DeleteConnectionRequest,
        DeleteMappingTemplateRequest, GetConnectionRequest, GetMappingTemplateRequest,
        ListConnectionsRequest, ListMappingTemplatesRequest, MappingTemplate,
        RegisterIntegrationTypeRequest, RotateWebhookSecretRequest,
        SetConnectionCredentialsRequest, TransformRecordRequest, UpdateConnectionRequest,
        UpdateIntegrationTypeRequest, UpdateMappingTemplateRequest,
    },
};
use prost_types::FieldMask;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::{
    catalog::custom_type,
    connections::{create_github, create_request, github_settings},
    helpers::{TestApp, reason, spawn_app},
    templates::{contact_template, create_template},
};

#[derive(Debug, Clone, Copy)]
enum Rpc {
    CreateConnection,
    UpdateConnection,
    DeleteConnection,
    SetConnectionCredentials,
    RotateWebhookSecret,
    CreateMappingTemplate,
    UpdateMappingTemplate,
    DeleteMappingTemplate,
    RegisterIntegrationType,
    UpdateIntegrationType,
}

const RPCS: [Rpc; 10] = [
    Rpc::CreateConnection,
    Rpc::UpdateConnection,
    Rpc::DeleteConnection,
    Rpc::SetConnectionCredentials,
    Rpc::RotateWebhookSecret,
    Rpc::CreateMappingTemplate,
    Rpc::UpdateMappingTemplate,
    Rpc::DeleteMappingTemplate,
    Rpc::RegisterIntegrationType,
    Rpc::UpdateIntegrationType,
];

/// Who may call `rpc`: the minimum project role, or the admin claim.
enum Needs {
    Role(Role),
    PlatformAdmin,
}

fn needs(rpc: Rpc) -> Needs {
    match rpc {
        Rpc::CreateConnection
        | Rpc::UpdateConnection
        | Rpc::DeleteConnection
        | Rpc::SetConnectionCredentials
        | Rpc::RotateWebhookSecret => Needs::Role(Role::Admin),
        Rpc::CreateMappingTemplate | Rpc::UpdateMappingTemplate | Rpc::DeleteMappingTemplate => {
            Needs::Role(Role::Editor)
        }
        Rpc::RegisterIntegrationType | Rpc::UpdateIntegrationType => Needs::PlatformAdmin,
    }
}

/// Calls `rpc` in project `acme` on fixtures named `n`.
async fn call(app: &TestApp, token: &str, rpc: Rpc, n: usize) -> Result<(), Status> {
    let mut registry = app.registry(Some(token));
    let connection = format!("projects/acme/connections/c{n}");
    let template = format!("projects/acme/mappingTemplates/t{n}");
    match rpc {
        Rpc::CreateConnection => registry
            .create_connection(create_request(
                "acme",
                &format!("new{n}"),
                "github",
                github_settings(),
            ))
            .await
            .map(drop),
        Rpc::UpdateConnection => registry
            .update_connection(UpdateConnectionRequest {
                connection: Some(Connection {
                    name: connection,
                    display_name: "renamed".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["display_name".into()],
                }),
            })
            .await
            .map(drop),
        Rpc::DeleteConnection => registry
            .delete_connection(DeleteConnectionRequest {
                name: connection,
                etag: String::new(),
            })
            .await
            .map(drop),
        Rpc::SetConnectionCredentials => registry
            .set_connection_credentials(SetConnectionCredentialsRequest {
                name: connection,
                credentials: HashMap::from([("access_token".into(), "ghp_roles_token".into())]),
                etag: String::new(),
            })
            .await
            .map(drop),
        Rpc::RotateWebhookSecret => registry
            .rotate_webhook_secret(RotateWebhookSecretRequest {
                name: connection,
                webhook_secret: String::new(),
            })
            .await
            .map(drop),
        Rpc::CreateMappingTemplate => registry
            .create_mapping_template(CreateMappingTemplateRequest {
                parent: "projects/acme".into(),
                mapping_template_id: format!("new{n}"),
                mapping_template: Some(contact_template(false)),
                request_id: String::new(),
            })
            .await
            .map(drop),
        Rpc::UpdateMappingTemplate => registry
            .update_mapping_template(UpdateMappingTemplateRequest {
                mapping_template: Some(MappingTemplate {
                    name: template,
                    display_name: "renamed".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["display_name".into()],
                }),
            })
            .await
            .map(drop),
        Rpc::DeleteMappingTemplate => registry
            .delete_mapping_template(DeleteMappingTemplateRequest {
                name: template,
                etag: String::new(),
            })
            .await
            .map(drop),
        Rpc::RegisterIntegrationType => registry
            .register_integration_type(RegisterIntegrationTypeRequest {
                integration_type: Some(custom_type(&format!("custom-{n}"))),
                request_id: String::new(),
            })
            .await
            .map(drop),
        Rpc::UpdateIntegrationType => registry
            .update_integration_type(UpdateIntegrationTypeRequest {
                integration_type: Some(patchbay::proto::v1::IntegrationType {
                    name: "integrationTypes/http".into(),
                    description: format!("updated by {n}"),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["description".into()],
                }),
            })
            .await
            .map(drop),
    }
}

fn required_role(status: &Status) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .and_then(|info| info.metadata.get("required_role").cloned())
}

#[tokio::test]
async fn every_role_against_every_mutating_rpc() {
    let app = spawn_app().await;
    let roles = [Role::Viewer, Role::Editor, Role::Admin, Role::Owner];
    let mut n = 0;
    for role in roles {
        let token = app.token(&format!("user-{}", role.as_str()), &[("acme", role)]);
        for rpc in RPCS {
            n += 1;
            create_github(&app, "acme", &format!("c{n}")).await;
            create_template(&app, "acme", &format!("t{n}")).await;
            let result = call(&app, &token, rpc, n).await;
            let label = format!("{rpc:?} as {}", role.as_str());
            match needs(rpc) {
                Needs::Role(min) if role.satisfies(min) => {
                    assert!(result.is_ok(), "{label} should pass: {result:?}");
                }
                Needs::Role(min) => {
                    let status = result.expect_err(&label);
                    assert_eq!(status.code(), Code::PermissionDenied, "{label}");
                    assert_eq!(reason(&status), "ROLE_INSUFFICIENT", "{label}");
                    assert_eq!(
                        required_role(&status).as_deref(),
                        Some(min.as_str()),
                        "{label}"
                    );
                }
                Needs::PlatformAdmin => {
                    let status = result.expect_err(&label);
                    assert_eq!(status.code(), Code::PermissionDenied, "{label}");
                    assert_eq!(reason(&status), "PLATFORM_ADMIN_REQUIRED", "{label}");
                }
            }
        }
    }
    // The admin claim alone opens catalog writes, and nothing in projects.
    let root = app.admin_token("root");
    for rpc in RPCS {
        n += 1;
        create_github(&app, "acme", &format!("c{n}")).await;
        create_template(&app, "acme", &format!("t{n}")).await;
        let result = call(&app, &root, rpc, n).await;
        match needs(rpc) {
            Needs::PlatformAdmin => {
                assert!(result.is_ok(), "{rpc:?} as platform admin: {result:?}")
            }
            Needs::Role(_) => {
                let status = result.expect_err("no project role");
                assert_eq!(reason(&status), "PROJECT_ACCESS_DENIED", "{rpc:?}");
            }
        }
    }
}

#[tokio::test]
async fn viewers_read_everything_in_their_project() {
    let app = spawn_app().await;
    let created = create_github(&app, "acme", "gh").await;
    create_template(&app, "acme", "contacts").await;
    let viewer = app.token("v", &[("acme", Role::Viewer)]);
    let mut registry = app.registry(Some(&viewer));
    let read = registry
        .get_connection(GetConnectionRequest { name: created.name })
        .await
        .expect("viewer reads a connection")
        .into_inner();
    assert!(read.webhook_secret.is_empty());
    registry
        .list_connections(ListConnectionsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        })
        .await
        .expect("viewer lists connections");
    registry
        .get_mapping_template(GetMappingTemplateRequest {
            name: "projects/acme/mappingTemplates/contacts".into(),
        })
        .await
        .expect("viewer reads a template");
    registry
        .transform_record(TransformRecordRequest {
            template: "projects/acme/mappingTemplates/contacts".into(),
            record: Some(prost_types::Struct::default()),
            ..Default::default()
        })
        .await
        .expect("viewer transforms with a stored template");
}

#[tokio::test]
async fn other_projects_are_denied_whether_or_not_the_resource_exists() {
    let app = spawn_app().await;
    create_github(&app, "victim", "gh").await;
    create_template(&app, "victim", "contacts").await;
    let outsider = app.token("mallory", &[("mine", Role::Owner)]);
    let mut registry = app.registry(Some(&outsider));

    let mut answers = Vec::new();
    for id in ["gh", "does-not-exist"] {
        let name = format!("projects/victim/connections/{id}");
        answers.push(
            registry
                .get_connection(GetConnectionRequest { name: name.clone() })
                .await
                .map(drop),
        );
        answers.push(
            registry
                .delete_connection(DeleteConnectionRequest {
                    name: name.clone(),
                    etag: String::new(),
                })
                .await
                .map(drop),
        );
        answers.push(
            registry
                .set_connection_credentials(SetConnectionCredentialsRequest {
                    name,
                    credentials: HashMap::from([("access_token".into(), "ghp_roles_token".into())]),
                    etag: String::new(),
                })
                .await
                .map(drop),
        );
    }
    for id in ["contacts", "does-not-exist"] {
        answers.push(
            registry
                .get_mapping_template(GetMappingTemplateRequest {
                    name: format!("projects/victim/mappingTemplates/{id}"),
                })
                .await
                .map(drop),
        );
        answers.push(
            registry
                .transform_record(TransformRecordRequest {
                    template: format!("projects/victim/mappingTemplates/{id}"),
                    record: Some(prost_types::Struct::default()),
                    ..Default::default()
                })
                .await
                .map(drop),
        );
    }
    answers.push(
        registry
            .list_connections(ListConnectionsRequest {
                parent: "projects/victim".into(),
                ..Default::default()
            })
            .await
            .map(drop),
    );
    answers.push(
        registry
            .list_mapping_templates(ListMappingTemplatesRequest {
                parent: "projects/victim".into(),
                ..Default::default()
            })
            .await
            .map(drop),
    );
    answers.push(
        registry
            .create_connection(create_request("victim", "new", "github", github_settings()))
            .await
            .map(drop),
    );
    let first = answers[0]
        .as_ref()
        .expect_err("denied")
        .message()
        .to_owned();
    for answer in answers {
        let status = answer.expect_err("an outsider is always denied");
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(reason(&status), "PROJECT_ACCESS_DENIED");
        assert_eq!(
            status.message(),
            first,
            "the answer does not depend on what exists"
        );
    }
}

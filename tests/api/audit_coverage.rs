//! Which changes write audit entries beyond connections: mapping templates
//! on their project's chain, integration types on the platform's.

use patchbay::{
    auth::Role,
    proto::v1::{
        DeleteMappingTemplateRequest, IntegrationType, MappingTemplate,
        RegisterIntegrationTypeRequest, UpdateIntegrationTypeRequest, UpdateMappingTemplateRequest,
    },
};
use prost_types::FieldMask;

use crate::{
    audit_log::{intact, verdict},
    audit_reads::list_all,
    catalog::custom_type,
    helpers::spawn_app,
    templates::create_template,
};

#[tokio::test]
async fn template_changes_are_audited_with_the_fields_they_touched() {
    let app = spawn_app().await;
    let created = create_template(&app, "acme", "contacts").await;
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    let mut registry = app.registry(Some(&editor));
    let updated = registry
        .update_mapping_template(UpdateMappingTemplateRequest {
            mapping_template: Some(MappingTemplate {
                name: created.name.clone(),
                display_name: "Contacts".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    let stale = registry
        .delete_mapping_template(DeleteMappingTemplateRequest {
            name: created.name.clone(),
            etag: created.etag.clone(),
        })
        .await;
    assert!(stale.is_err(), "a stale etag deletes nothing");
    registry
        .delete_mapping_template(DeleteMappingTemplateRequest {
            name: created.name.clone(),
            etag: updated.etag,
        })
        .await
        .expect("delete");

    let admin = app.token("admin", &[("acme", Role::Admin)]);
    let events = list_all(&app, &admin, "projects/acme", "", 50).await;
    let methods: Vec<&str> = events.iter().map(|e| e.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "IntegrationRegistry.DeleteMappingTemplate",
            "IntegrationRegistry.UpdateMappingTemplate",
            "IntegrationRegistry.CreateMappingTemplate",
        ]
    );
    assert!(events.iter().all(|e| e.resource == created.name));
    assert!(events.iter().all(|e| e.actor == "editor"));
    let fields = |i: usize| {
        events[i]
            .changes
            .iter()
            .map(|c| (c.field.as_str(), c.before.as_str(), c.after.as_str()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        fields(1),
        [("display_name", "HubSpot contacts", "Contacts")],
        "only what changed"
    );
    let create = fields(2);
    assert!(create.contains(&("integration_type", "", "integrationTypes/hubspot")));
    assert!(create.contains(&("entity_type", "", "contacts")));
    assert!(
        create
            .iter()
            .any(|(f, _, after)| *f == "fields" && after.contains("properties.email"))
    );
    assert!(fields(0).is_empty(), "a delete names only the resource");
    assert_eq!(verdict(&app, "projects/acme").await, intact(3));
}

#[tokio::test]
async fn type_changes_go_on_the_platforms_chain() {
    let app = spawn_app().await;
    let root = app.admin_token("root");
    let mut registry = app.registry(Some(&root));
    registry
        .register_integration_type(RegisterIntegrationTypeRequest {
            integration_type: Some(custom_type("acme-crm")),
            request_id: String::new(),
        })
        .await
        .expect("register");
    registry
        .update_integration_type(UpdateIntegrationTypeRequest {
            integration_type: Some(IntegrationType {
                name: "integrationTypes/acme-crm".into(),
                description: "Our CRM".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["description".into()],
            }),
        })
        .await
        .expect("update");

    let events = list_all(&app, &root, "projects/-", "", 50).await;
    let names: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.name.as_str(), e.method.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("auditEvents/2", "IntegrationRegistry.UpdateIntegrationType"),
            (
                "auditEvents/1",
                "IntegrationRegistry.RegisterIntegrationType"
            ),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.resource == "integrationTypes/acme-crm")
    );
    assert_eq!(events[0].changes.len(), 1);
    assert_eq!(events[0].changes[0].field, "description");
    assert_eq!(events[0].changes[0].after, "Our CRM");
    assert_eq!(verdict(&app, "projects/-").await, intact(2));
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    assert!(
        list_all(&app, &owner, "projects/acme", "", 50)
            .await
            .is_empty(),
        "not on any project's chain"
    );
}

//! Mapping templates: created, listed, updated (under a mask and an etag),
//! deleted, and validated field by field.

use patchbay::{
    auth::Role,
    proto::v1::{
        CreateMappingTemplateRequest, DeleteMappingTemplateRequest, FieldMapping, FieldType,
        GetMappingTemplateRequest, ListMappingTemplatesRequest, MappingTemplate,
        TransformRecordRequest, Transformation, UpdateMappingTemplateRequest,
    },
};
use prost_types::{FieldMask, Struct, Value, value::Kind};
use serde_json::json;
use tonic::Code;

use crate::{
    helpers::{assert_error, spawn_app, violations},
    templates::{contact_template, create_template, from_struct, mapping, to_struct},
};

#[tokio::test]
async fn templates_are_created_listed_updated_and_deleted() {
    let app = spawn_app().await;
    let editor = app.token("ed", &[("acme", Role::Editor)]);
    let mut registry = app.registry(Some(&editor));
    let created = create_template(&app, "acme", "contacts").await;
    assert_eq!(created.name, "projects/acme/mappingTemplates/contacts");
    let read = registry
        .get_mapping_template(GetMappingTemplateRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(read, created);

    // Stored templates transform like inline ones.
    let out = registry
        .transform_record(TransformRecordRequest {
            template: created.name.clone(),
            fields: vec![],
            record: Some(to_struct(
                json!({"properties": {"email": " ADA@EXAMPLE.COM ", "firstname": "Ada "}}),
            )),
        })
        .await
        .expect("transform")
        .into_inner();
    assert_eq!(
        from_struct(out.record),
        json!({"email": "ada@example.com", "first_name": "Ada"})
    );

    let updated = registry
        .update_mapping_template(UpdateMappingTemplateRequest {
            mapping_template: Some(MappingTemplate {
                name: created.name.clone(),
                default_for_entity: true,
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["default_for_entity".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert!(updated.default_for_entity);
    assert_eq!(updated.fields, created.fields);
    let stale = registry
        .update_mapping_template(UpdateMappingTemplateRequest {
            mapping_template: Some(MappingTemplate {
                name: created.name.clone(),
                display_name: "x".into(),
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await;
    assert_error(stale, Code::Aborted, "ETAG_MISMATCH");

    // One default per entity.
    let second_default = registry
        .create_mapping_template(CreateMappingTemplateRequest {
            parent: "projects/acme".into(),
            mapping_template_id: "contacts-v2".into(),
            mapping_template: Some(contact_template(true)),
            request_id: String::new(),
        })
        .await;
    assert_error(
        second_default,
        Code::AlreadyExists,
        "DEFAULT_TEMPLATE_EXISTS",
    );
    let duplicate = registry
        .create_mapping_template(CreateMappingTemplateRequest {
            parent: "projects/acme".into(),
            mapping_template_id: "contacts".into(),
            mapping_template: Some(contact_template(false)),
            request_id: String::new(),
        })
        .await;
    assert_error(duplicate, Code::AlreadyExists, "TEMPLATE_EXISTS");

    let mut deals = contact_template(false);
    deals.entity_type = "deals".into();
    registry
        .create_mapping_template(CreateMappingTemplateRequest {
            parent: "projects/acme".into(),
            mapping_template_id: "deals".into(),
            mapping_template: Some(deals),
            request_id: String::new(),
        })
        .await
        .expect("create deals");
    let contacts_only = registry
        .list_mapping_templates(ListMappingTemplatesRequest {
            parent: "projects/acme".into(),
            filter: r#"type = "hubspot" AND entity = "contacts""#.into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(contacts_only.mapping_templates.len(), 1);
    let first_page = registry
        .list_mapping_templates(ListMappingTemplatesRequest {
            parent: "projects/acme".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(first_page.mapping_templates.len(), 1);
    assert!(!first_page.next_page_token.is_empty());

    registry
        .delete_mapping_template(DeleteMappingTemplateRequest {
            name: created.name.clone(),
            etag: updated.etag,
        })
        .await
        .expect("delete");
    let gone = registry
        .get_mapping_template(GetMappingTemplateRequest { name: created.name })
        .await;
    assert_error(gone, Code::NotFound, "NOT_FOUND");
}

#[tokio::test]
async fn templates_are_validated_field_by_field() {
    let app = spawn_app().await;
    let editor = app.token("ed", &[("acme", Role::Editor)]);
    let mut registry = app.registry(Some(&editor));
    let mut bad = contact_template(false);
    bad.integration_type = "hubspot".into();
    bad.entity_type = "Contacts!".into();
    bad.fields.push(mapping(
        "",
        "email",
        FieldType::Unspecified,
        &[Transformation::Unspecified],
    ));
    bad.fields.push(FieldMapping {
        default_value: Some(Value {
            kind: Some(Kind::StringValue("not a number".into())),
        }),
        ..mapping("a..b", "Bad Name", FieldType::Number, &[])
    });
    let result = registry
        .create_mapping_template(CreateMappingTemplateRequest {
            parent: "projects/acme".into(),
            mapping_template_id: "bad".into(),
            mapping_template: Some(bad),
            request_id: String::new(),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violations(&status),
        [
            "mapping_template.entity_type",
            "mapping_template.fields[2].field_type",
            "mapping_template.fields[2].source_path",
            "mapping_template.fields[2].target_field",
            "mapping_template.fields[2].transformations[0]",
            "mapping_template.fields[3].default_value",
            "mapping_template.fields[3].source_path",
            "mapping_template.fields[3].target_field",
            "mapping_template.integration_type",
        ]
    );

    let neither = registry
        .transform_record(TransformRecordRequest {
            record: Some(Struct::default()),
            ..Default::default()
        })
        .await;
    assert_error(neither, Code::InvalidArgument, "INVALID_ARGUMENT");
    let both = registry
        .transform_record(TransformRecordRequest {
            template: "projects/acme/mappingTemplates/x".into(),
            fields: contact_template(false).fields,
            record: Some(Struct::default()),
        })
        .await;
    assert_error(both, Code::InvalidArgument, "INVALID_ARGUMENT");
    let no_record = registry
        .transform_record(TransformRecordRequest {
            fields: contact_template(false).fields,
            ..Default::default()
        })
        .await;
    let status = assert_error(no_record, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violations(&status), ["record"]);
}

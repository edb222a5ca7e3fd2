//! Mapping templates and TransformRecord: every transformation, every error.

use patchbay::{
    auth::Role,
    proto::v1::{
        CreateMappingTemplateRequest, DeleteMappingTemplateRequest, FieldMapping, FieldType,
        GetMappingTemplateRequest, ListMappingTemplatesRequest, MappingTemplate,
        TransformRecordRequest, TransformRecordResponse, Transformation,
        UpdateMappingTemplateRequest,
    },
};
use prost_types::{FieldMask, Struct, Value, value::Kind};
use serde_json::json;
use tonic::Code;

use crate::helpers::{TestApp, assert_error, spawn_app, violations};

pub fn mapping(source: &str, target: &str, ty: FieldType, ts: &[Transformation]) -> FieldMapping {
    FieldMapping {
        source_path: source.into(),
        target_field: target.into(),
        field_type: ty.into(),
        required: false,
        default_value: None,
        transformations: ts.iter().map(|t| i32::from(*t)).collect(),
    }
}

pub fn contact_template(default_for_entity: bool) -> MappingTemplate {
    let mut email = mapping(
        "properties.email",
        "email",
        FieldType::String,
        &[Transformation::Trim, Transformation::Lower],
    );
    email.required = true;
    MappingTemplate {
        display_name: "HubSpot contacts".into(),
        integration_type: "integrationTypes/hubspot".into(),
        entity_type: "contacts".into(),
        fields: vec![
            email,
            mapping(
                "properties.firstname",
                "first_name",
                FieldType::String,
                &[Transformation::Trim],
            ),
        ],
        default_for_entity,
        ..Default::default()
    }
}

pub async fn create_template(app: &TestApp, project: &str, id: &str) -> MappingTemplate {
    let editor = app.token("editor", &[(project, Role::Editor)]);
    app.registry(Some(&editor))
        .create_mapping_template(CreateMappingTemplateRequest {
            parent: format!("projects/{project}"),
            mapping_template_id: id.into(),
            mapping_template: Some(contact_template(false)),
            request_id: String::new(),
        })
        .await
        .expect("create template")
        .into_inner()
}

fn to_struct(v: serde_json::Value) -> Struct {
    patchbay::proto::json::json_to_struct(v.as_object().expect("an object"))
}

fn from_struct(s: Option<Struct>) -> serde_json::Value {
    serde_json::Value::Object(patchbay::proto::json::struct_to_json(
        &s.unwrap_or_default(),
    ))
}

async fn transform(
    app: &TestApp,
    fields: Vec<FieldMapping>,
    record: serde_json::Value,
) -> TransformRecordResponse {
    let token = app.token("u", &[]);
    app.registry(Some(&token))
        .transform_record(TransformRecordRequest {
            template: String::new(),
            fields,
            record: Some(to_struct(record)),
        })
        .await
        .expect("transform")
        .into_inner()
}

#[tokio::test]
async fn every_transformation_maps_its_input() {
    let app = spawn_app().await;
    use FieldType as T;
    use Transformation as X;
    let fields = vec![
        mapping("name", "trimmed", T::String, &[X::Trim]),
        mapping("name", "lowered", T::String, &[X::Trim, X::Lower]),
        mapping("name", "uppered", T::String, &[X::Trim, X::Upper]),
        mapping("amount", "amount", T::Number, &[X::ToNumber]),
        mapping("count", "count", T::Integer, &[X::ToNumber]),
        mapping("flag", "flag", T::Boolean, &[X::ToBool]),
        mapping("yes", "yes", T::Boolean, &[X::ToBool]),
        mapping("created", "created", T::Timestamp, &[X::ToTimestamp]),
        mapping("epoch", "epoch", T::Timestamp, &[X::ToTimestamp]),
        mapping("millis", "millis", T::Timestamp, &[X::ToTimestamp]),
        mapping("day", "day", T::Timestamp, &[X::ToTimestamp]),
        mapping("count", "count_text", T::String, &[X::ToString]),
        mapping("nested.list.1.id", "second_id", T::Integer, &[]),
        mapping("nested", "raw", T::Json, &[]),
    ];
    let record = json!({
        "name": "  Ada Lovelace ",
        "amount": "12.5",
        "count": 42,
        "flag": "YES",
        "yes": 0,
        "created": "2024-03-01T10:00:00+02:00",
        "epoch": 1_700_000_000,
        "millis": "1700000000000",
        "day": "2024-03-01",
        "nested": {"list": [{"id": 1}, {"id": 2}]},
    });
    let out = transform(&app, fields, record).await;
    assert!(out.field_errors.is_empty(), "{:?}", out.field_errors);
    assert_eq!(
        from_struct(out.record),
        json!({
            "trimmed": "Ada Lovelace",
            "lowered": "ada lovelace",
            "uppered": "ADA LOVELACE",
            "amount": 12.5,
            "count": 42,
            "flag": true,
            "yes": false,
            "created": "2024-03-01T08:00:00Z",
            "epoch": "2023-11-14T22:13:20Z",
            "millis": "2023-11-14T22:13:20Z",
            "day": "2024-03-01T00:00:00Z",
            "count_text": "42",
            "second_id": 2,
            "raw": {"list": [{"id": 1}, {"id": 2}]},
        })
    );
}

#[tokio::test]
async fn every_field_error_is_reported_and_good_fields_still_map() {
    let app = spawn_app().await;
    use FieldType as T;
    use Transformation as X;
    let mut required = mapping("email", "email", T::String, &[]);
    required.required = true;
    let mut defaulted = mapping("country", "country", T::String, &[]);
    defaulted.required = true;
    defaulted.default_value = Some(Value {
        kind: Some(Kind::StringValue("NZ".into())),
    });
    let fields = vec![
        required,
        defaulted,
        mapping("optional", "optional", T::String, &[]),
        mapping("amount", "amount", T::Number, &[X::ToNumber]),
        mapping("flag", "flag", T::Boolean, &[X::ToBool]),
        mapping("when", "when", T::Timestamp, &[X::ToTimestamp]),
        mapping("count", "count", T::Integer, &[X::Trim]),
        mapping("obj", "obj_text", T::String, &[X::ToString]),
        mapping("name", "name_number", T::Number, &[]),
        mapping("ratio", "ratio", T::Integer, &[]),
        mapping("name", "name", T::String, &[X::Upper]),
    ];
    let record = json!({
        "amount": "twelve",
        "flag": "maybe",
        "when": "next tuesday",
        "count": 3,
        "obj": {"a": 1},
        "name": "ada",
        "ratio": 0.5,
        "optional": null,
    });
    let out = transform(&app, fields, record).await;
    let errors: Vec<(String, String)> = out
        .field_errors
        .iter()
        .map(|e| (e.target_field.clone(), e.reason.clone()))
        .collect();
    let expect = |f: &str, r: &str| (f.to_owned(), r.to_owned());
    assert_eq!(
        errors,
        [
            expect("email", "MISSING_REQUIRED"),
            expect("amount", "TRANSFORM_FAILED"),
            expect("flag", "TRANSFORM_FAILED"),
            expect("when", "TRANSFORM_FAILED"),
            expect("count", "TRANSFORM_FAILED"),
            expect("obj_text", "TRANSFORM_FAILED"),
            expect("name_number", "TYPE_MISMATCH"),
            expect("ratio", "TYPE_MISMATCH"),
        ]
    );
    assert!(
        out.field_errors
            .iter()
            .all(|e| !e.message.is_empty() && !e.source_path.is_empty())
    );
    // The fields that mapped are there: defaults fill in, absent optionals stay out.
    assert_eq!(
        from_struct(out.record),
        json!({"country": "NZ", "name": "ADA"})
    );
}

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

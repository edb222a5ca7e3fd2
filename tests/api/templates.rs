//! TransformRecord: every transformation, every error; and the template
//! helpers other tests share. Creating, listing, updating, deleting and
//! validating templates is in `template_lifecycle`.

use patchbay::{
    auth::Role,
    proto::v1::{
        CreateMappingTemplateRequest, FieldMapping, FieldType, MappingTemplate,
        TransformRecordRequest, TransformRecordResponse, Transformation,
    },
};
use prost_types::{Struct, Value, value::Kind};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

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

pub fn to_struct(v: serde_json::Value) -> Struct {
    patchbay::proto::json::json_to_struct(v.as_object().expect("an object"))
}

pub fn from_struct(s: Option<Struct>) -> serde_json::Value {
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

//! MappingTemplate ⇄ proto, and the validation of field mappings.

use serde_json::{Map, Value};

use crate::registry::{
    model::{
        FieldMapping, FieldType, MappingTemplate, TemplateDefinition, TemplateQuery, Transformation,
    },
    transform::{FieldError, default_conforms},
};
use crate::{
    error::{ApiError, FieldViolation},
    field_mask::{Selection, copy_selected},
    list_filter::Filter,
    names::is_field_name,
    names::{ProjectId, TemplateName, TypeId},
    proto::{self, v1 as pb},
};

const MAX_FIELDS: usize = 500;

fn field_type_to_proto(t: FieldType) -> pb::FieldType {
    match t {
        FieldType::String => pb::FieldType::String,
        FieldType::Number => pb::FieldType::Number,
        FieldType::Integer => pb::FieldType::Integer,
        FieldType::Boolean => pb::FieldType::Boolean,
        FieldType::Timestamp => pb::FieldType::Timestamp,
        FieldType::Json => pb::FieldType::Json,
    }
}

fn field_type_from_proto(value: i32) -> Option<FieldType> {
    match pb::FieldType::try_from(value).ok()? {
        pb::FieldType::Unspecified => None,
        pb::FieldType::String => Some(FieldType::String),
        pb::FieldType::Number => Some(FieldType::Number),
        pb::FieldType::Integer => Some(FieldType::Integer),
        pb::FieldType::Boolean => Some(FieldType::Boolean),
        pb::FieldType::Timestamp => Some(FieldType::Timestamp),
        pb::FieldType::Json => Some(FieldType::Json),
    }
}

fn transformation_to_proto(t: Transformation) -> pb::Transformation {
    match t {
        Transformation::Trim => pb::Transformation::Trim,
        Transformation::Lower => pb::Transformation::Lower,
        Transformation::Upper => pb::Transformation::Upper,
        Transformation::ToNumber => pb::Transformation::ToNumber,
        Transformation::ToBool => pb::Transformation::ToBool,
        Transformation::ToTimestamp => pb::Transformation::ToTimestamp,
        Transformation::ToString => pb::Transformation::ToString,
    }
}

fn transformation_from_proto(value: i32) -> Option<Transformation> {
    match pb::Transformation::try_from(value).ok()? {
        pb::Transformation::Unspecified => None,
        pb::Transformation::Trim => Some(Transformation::Trim),
        pb::Transformation::Lower => Some(Transformation::Lower),
        pb::Transformation::Upper => Some(Transformation::Upper),
        pb::Transformation::ToNumber => Some(Transformation::ToNumber),
        pb::Transformation::ToBool => Some(Transformation::ToBool),
        pb::Transformation::ToTimestamp => Some(Transformation::ToTimestamp),
        pb::Transformation::ToString => Some(Transformation::ToString),
    }
}

pub fn mapping_to_proto(f: &FieldMapping) -> pb::FieldMapping {
    pb::FieldMapping {
        source_path: f.source_path.clone(),
        target_field: f.target_field.clone(),
        field_type: field_type_to_proto(f.field_type).into(),
        required: f.required,
        default_value: f.default_value.as_ref().map(proto::json::json_to_value),
        transformations: f
            .transformations
            .iter()
            .map(|t| transformation_to_proto(*t).into())
            .collect(),
    }
}

pub fn to_proto(t: &MappingTemplate) -> pb::MappingTemplate {
    let d = &t.definition;
    pb::MappingTemplate {
        name: d.name.to_string(),
        display_name: d.display_name.clone(),
        integration_type: d.type_id.name(),
        entity_type: d.entity_type.clone(),
        fields: d.fields.iter().map(mapping_to_proto).collect(),
        default_for_entity: d.default_for_entity,
        etag: t.etag.clone(),
        create_time: Some(proto::time::timestamp(t.create_time)),
        update_time: Some(proto::time::timestamp(t.update_time)),
    }
}

pub fn field_error_to_proto(e: &FieldError) -> pb::FieldError {
    pb::FieldError {
        target_field: e.target_field.clone(),
        source_path: e.source_path.clone(),
        reason: e.reason.to_owned(),
        message: e.message.clone(),
    }
}

/// Validates field mappings; `path` prefixes violation fields.
pub fn mappings_from_proto(
    fields: &[pb::FieldMapping],
    path: &str,
    v: &mut Vec<FieldViolation>,
) -> Vec<FieldMapping> {
    if fields.is_empty() {
        v.push(FieldViolation::new(
            path,
            "must hold at least one field mapping",
        ));
    }
    if fields.len() > MAX_FIELDS {
        v.push(FieldViolation::new(
            path,
            "holds more than 500 field mappings",
        ));
    }
    let mut out: Vec<FieldMapping> = Vec::with_capacity(fields.len());
    for (i, f) in fields.iter().enumerate() {
        let at = |field: &str| format!("{path}[{i}].{field}");
        let path_ok = !f.source_path.is_empty()
            && f.source_path.len() <= 256
            && f.source_path.split('.').all(|segment| !segment.is_empty());
        if !path_ok {
            v.push(FieldViolation::new(
                at("source_path"),
                "must be a dotted path of non-empty segments",
            ));
        }
        if !is_field_name(&f.target_field) {
            v.push(FieldViolation::new(
                at("target_field"),
                "must be lower_snake_case",
            ));
        } else if out.iter().any(|o| o.target_field == f.target_field) {
            v.push(FieldViolation::new(
                at("target_field"),
                format!("duplicates {:?}", f.target_field),
            ));
        }
        let field_type = field_type_from_proto(f.field_type);
        if field_type.is_none() {
            v.push(FieldViolation::new(
                at("field_type"),
                "must be a known field type",
            ));
        }
        let mut transformations = Vec::with_capacity(f.transformations.len());
        for (j, t) in f.transformations.iter().enumerate() {
            match transformation_from_proto(*t) {
                Some(t) => transformations.push(t),
                None => v.push(FieldViolation::new(
                    format!("{path}[{i}].transformations[{j}]"),
                    "must be a known transformation",
                )),
            }
        }
        let default_value = f
            .default_value
            .as_ref()
            .map(proto::json::value_to_json)
            .filter(|d| !d.is_null());
        if let (Some(t), Some(d)) = (field_type, &default_value)
            && !default_conforms(t, d)
        {
            v.push(FieldViolation::new(
                at("default_value"),
                format!("must be {}", t.as_str()),
            ));
        }
        out.push(FieldMapping {
            source_path: f.source_path.clone(),
            target_field: f.target_field.clone(),
            field_type: field_type.unwrap_or(FieldType::Json),
            required: f.required,
            default_value,
            transformations,
        });
    }
    out
}

/// Validates a whole template (for create, and after an update's merge).
pub fn definition_from_proto(
    name: TemplateName,
    t: &pb::MappingTemplate,
) -> Result<TemplateDefinition, ApiError> {
    let mut v = Vec::new();
    let type_id = TypeId::parse_name(&t.integration_type)
        .map_err(|e| {
            v.push(FieldViolation::new(
                "mapping_template.integration_type",
                e.to_string(),
            ))
        })
        .ok();
    let entity_ok = (1..=63).contains(&t.entity_type.len())
        && t.entity_type.starts_with(|c: char| c.is_ascii_lowercase())
        && t.entity_type
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !entity_ok {
        v.push(FieldViolation::new(
            "mapping_template.entity_type",
            "must be 1 to 63 lowercase letters, digits, `_` or `-`",
        ));
    }
    if t.display_name.chars().count() > 200 {
        v.push(FieldViolation::new(
            "mapping_template.display_name",
            "is longer than 200 characters",
        ));
    }
    let fields = mappings_from_proto(&t.fields, "mapping_template.fields", &mut v);
    match (type_id, v.is_empty()) {
        (Some(type_id), true) => Ok(TemplateDefinition {
            name,
            display_name: t.display_name.trim().to_owned(),
            type_id,
            entity_type: t.entity_type.clone(),
            fields,
            default_for_entity: t.default_for_entity,
        }),
        _ => Err(ApiError::invalid_argument(v)),
    }
}

pub const UPDATABLE: [&str; 5] = [
    "display_name",
    "integration_type",
    "entity_type",
    "fields",
    "default_for_entity",
];

pub fn apply_mask(base: &mut pb::MappingTemplate, patch: &pb::MappingTemplate, fields: &Selection) {
    copy_selected!(base, patch, fields, pb::MappingTemplate::default();
        display_name,
        integration_type,
        entity_type,
        fields,
        default_for_entity
    );
}

pub fn parse_parent(parent: &str) -> Result<ProjectId, ApiError> {
    ProjectId::parse_name(parent).map_err(|e| e.at("parent"))
}

pub fn query_from_proto(r: &pb::ListMappingTemplatesRequest) -> Result<TemplateQuery, ApiError> {
    let project = parse_parent(&r.parent)?;
    let filter = Filter::parse(&r.filter, &["type", "entity"])?;
    let type_id = filter
        .get("type")
        .map(|t| TypeId::parse_loose(t).map_err(|e| e.at("filter")))
        .transpose()?;
    Ok(TemplateQuery {
        project,
        type_id,
        entity_type: filter.get("entity").map(str::to_owned),
    })
}

pub fn record_from_proto(
    record: Option<&prost_types::Struct>,
) -> Result<Map<String, Value>, ApiError> {
    record
        .map(proto::json::struct_to_json)
        .ok_or_else(|| ApiError::invalid_field("record", "is required"))
}

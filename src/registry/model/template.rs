//! A mapping template: how one provider entity becomes an internal record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::{ProjectId, TemplateName, TypeId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Number,
    Integer,
    Boolean,
    Timestamp,
    Json,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Number => "a number",
            Self::Integer => "a whole number",
            Self::Boolean => "a boolean",
            Self::Timestamp => "an RFC 3339 timestamp",
            Self::Json => "any JSON value",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transformation {
    Trim,
    Lower,
    Upper,
    ToNumber,
    ToBool,
    ToTimestamp,
    ToString,
}

impl Transformation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trim => "trim",
            Self::Lower => "lower",
            Self::Upper => "upper",
            Self::ToNumber => "to_number",
            Self::ToBool => "to_bool",
            Self::ToTimestamp => "to_timestamp",
            Self::ToString => "to_string",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldMapping {
    pub source_path: String,
    pub target_field: String,
    pub field_type: FieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
    #[serde(default)]
    pub transformations: Vec<Transformation>,
}

/// A template as an editor writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateDefinition {
    pub name: TemplateName,
    pub display_name: String,
    pub type_id: TypeId,
    pub entity_type: String,
    pub fields: Vec<FieldMapping>,
    pub default_for_entity: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MappingTemplate {
    pub definition: TemplateDefinition,
    pub etag: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

pub struct TemplateQuery {
    pub project: ProjectId,
    pub type_id: Option<TypeId>,
    pub entity_type: Option<String>,
}

/// What TransformRecord maps with.
pub enum MappingSource {
    Stored(TemplateName),
    Inline(Vec<FieldMapping>),
}

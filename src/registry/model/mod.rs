//! The registry's domain types, without rules: what the store reads and
//! writes and the services pass around.

mod catalog;
mod connection;
mod template;

pub use catalog::{
    ActionSpec, Category, ConfigField, FieldKind, IntegrationType, OAuthSpec, SignatureScheme,
    TypeDefinition, TypeQuery, TypeSpec,
};
pub use connection::{
    Connection, ConnectionQuery, ConnectionState, ConnectionUpdate, NewConnectionInput, WithSecret,
};
pub use template::{
    FieldMapping, FieldType, MappingSource, MappingTemplate, TemplateDefinition, TemplateQuery,
    Transformation,
};

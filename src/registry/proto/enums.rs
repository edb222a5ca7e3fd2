//! The catalog's enums ⇄ their proto counterparts.

use crate::registry::model::{Category, FieldKind, SignatureScheme};
use crate::{auth::Role, proto::v1 as pb};

pub fn category_to_proto(c: Category) -> pb::IntegrationCategory {
    match c {
        Category::Crm => pb::IntegrationCategory::Crm,
        Category::Scm => pb::IntegrationCategory::Scm,
        Category::Hosting => pb::IntegrationCategory::Hosting,
        Category::Cms => pb::IntegrationCategory::Cms,
        Category::Database => pb::IntegrationCategory::Database,
        Category::Custom => pb::IntegrationCategory::Custom,
    }
}

pub fn category_from_proto(value: i32) -> Option<Category> {
    match pb::IntegrationCategory::try_from(value).ok()? {
        pb::IntegrationCategory::Unspecified => None,
        pb::IntegrationCategory::Crm => Some(Category::Crm),
        pb::IntegrationCategory::Scm => Some(Category::Scm),
        pb::IntegrationCategory::Hosting => Some(Category::Hosting),
        pb::IntegrationCategory::Cms => Some(Category::Cms),
        pb::IntegrationCategory::Database => Some(Category::Database),
        pb::IntegrationCategory::Custom => Some(Category::Custom),
    }
}

pub fn kind_to_proto(k: FieldKind) -> pb::ConfigFieldType {
    match k {
        FieldKind::String => pb::ConfigFieldType::String,
        FieldKind::Integer => pb::ConfigFieldType::Integer,
        FieldKind::Number => pb::ConfigFieldType::Number,
        FieldKind::Boolean => pb::ConfigFieldType::Boolean,
        FieldKind::Url => pb::ConfigFieldType::Url,
    }
}

pub fn kind_from_proto(value: i32) -> Option<FieldKind> {
    match pb::ConfigFieldType::try_from(value).ok()? {
        pb::ConfigFieldType::Unspecified => None,
        pb::ConfigFieldType::String => Some(FieldKind::String),
        pb::ConfigFieldType::Integer => Some(FieldKind::Integer),
        pb::ConfigFieldType::Number => Some(FieldKind::Number),
        pb::ConfigFieldType::Boolean => Some(FieldKind::Boolean),
        pb::ConfigFieldType::Url => Some(FieldKind::Url),
    }
}

pub fn role_to_proto(r: Role) -> pb::Role {
    match r {
        Role::Viewer => pb::Role::Viewer,
        Role::Editor => pb::Role::Editor,
        Role::Admin => pb::Role::Admin,
        Role::Owner => pb::Role::Owner,
    }
}

pub fn role_from_proto(value: i32) -> Option<Role> {
    match pb::Role::try_from(value).ok()? {
        pb::Role::Unspecified => None,
        pb::Role::Viewer => Some(Role::Viewer),
        pb::Role::Editor => Some(Role::Editor),
        pb::Role::Admin => Some(Role::Admin),
        pb::Role::Owner => Some(Role::Owner),
    }
}

pub fn scheme_to_proto(s: SignatureScheme) -> pb::SignatureScheme {
    match s {
        SignatureScheme::Standard => pb::SignatureScheme::Standard,
        SignatureScheme::Github => pb::SignatureScheme::Github,
        SignatureScheme::Stripe => pb::SignatureScheme::Stripe,
        SignatureScheme::Sanity => pb::SignatureScheme::Sanity,
        SignatureScheme::Hubspot => pb::SignatureScheme::Hubspot,
        SignatureScheme::Vercel => pb::SignatureScheme::Vercel,
        SignatureScheme::Slack => pb::SignatureScheme::Slack,
        SignatureScheme::Shopify => pb::SignatureScheme::Shopify,
        SignatureScheme::SharedHeader => pb::SignatureScheme::SharedHeader,
    }
}

pub fn scheme_from_proto(value: i32) -> Option<SignatureScheme> {
    match pb::SignatureScheme::try_from(value).ok()? {
        pb::SignatureScheme::Unspecified => None,
        pb::SignatureScheme::Standard => Some(SignatureScheme::Standard),
        pb::SignatureScheme::Github => Some(SignatureScheme::Github),
        pb::SignatureScheme::Stripe => Some(SignatureScheme::Stripe),
        pb::SignatureScheme::Sanity => Some(SignatureScheme::Sanity),
        pb::SignatureScheme::Hubspot => Some(SignatureScheme::Hubspot),
        pb::SignatureScheme::Vercel => Some(SignatureScheme::Vercel),
        pb::SignatureScheme::Slack => Some(SignatureScheme::Slack),
        pb::SignatureScheme::Shopify => Some(SignatureScheme::Shopify),
        pb::SignatureScheme::SharedHeader => Some(SignatureScheme::SharedHeader),
    }
}

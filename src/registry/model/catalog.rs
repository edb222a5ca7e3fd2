//! The catalog's types: an integration type, what its connections are
//! configured with, which actions they support, and how their webhooks are
//! signed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{auth::Role, names::TypeId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Crm,
    Scm,
    Hosting,
    Cms,
    Database,
    Custom,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Self::Crm,
        Self::Scm,
        Self::Hosting,
        Self::Cms,
        Self::Database,
        Self::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crm => "crm",
            Self::Scm => "scm",
            Self::Hosting => "hosting",
            Self::Cms => "cms",
            Self::Database => "database",
            Self::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The value type of a configuration field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    String,
    Integer,
    Number,
    Boolean,
    Url,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigField {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    /// Secret fields are credentials, set only through SetConnectionCredentials.
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionSpec {
    pub action: String,
    pub min_role: Role,
    #[serde(default)]
    pub description: String,
}

/// How a provider signs webhooks (DESIGN section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureScheme {
    Standard,
    Github,
    Stripe,
    Sanity,
    Hubspot,
    Vercel,
    Slack,
    Shopify,
    SharedHeader,
}

impl SignatureScheme {
    pub const ALL: [SignatureScheme; 9] = [
        Self::Standard,
        Self::Github,
        Self::Stripe,
        Self::Sanity,
        Self::Hubspot,
        Self::Vercel,
        Self::Slack,
        Self::Shopify,
        Self::SharedHeader,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthSpec {
    pub token_uri: String,
    #[serde(default)]
    pub revoke_uri: String,
}

/// The parts of a type stored as one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeSpec {
    pub config_fields: Vec<ConfigField>,
    pub actions: Vec<ActionSpec>,
    pub signature_scheme: SignatureScheme,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_tolerance_secs: Option<u64>,
    pub probe: String,
    #[serde(default)]
    pub api_base_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthSpec>,
    #[serde(default)]
    pub docs_uri: String,
}

/// A type as an admin writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDefinition {
    pub id: TypeId,
    pub display_name: String,
    pub category: Category,
    pub description: String,
    pub capabilities: Vec<String>,
    pub popular: bool,
    pub active: bool,
    pub spec: TypeSpec,
}

/// A stored type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationType {
    pub definition: TypeDefinition,
    pub builtin: bool,
    pub etag: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl TypeSpec {
    /// The fields a connection's settings may hold.
    pub fn setting_fields(&self) -> impl Iterator<Item = &ConfigField> {
        self.config_fields.iter().filter(|f| !f.secret)
    }

    /// The fields a connection's credentials may hold.
    pub fn credential_fields(&self) -> impl Iterator<Item = &ConfigField> {
        self.config_fields.iter().filter(|f| f.secret)
    }

    /// Whether `credentials` holds every required credential field.
    pub fn credentials_complete(&self, mut present: impl FnMut(&str) -> bool) -> bool {
        self.credential_fields()
            .filter(|f| f.required)
            .all(|f| present(&f.name))
    }

    pub fn needs_credentials(&self) -> bool {
        self.credential_fields().any(|f| f.required)
    }

    pub fn webhook_tolerance(&self) -> Option<Duration> {
        self.webhook_tolerance_secs.map(Duration::from_secs)
    }

    pub fn action(&self, action: &str) -> Option<&ActionSpec> {
        self.actions.iter().find(|a| a.action == action)
    }
}

/// Filters of ListIntegrationTypes, already validated.
#[derive(Debug, Clone, Default)]
pub struct TypeQuery {
    pub category: Option<Category>,
    pub capability: Option<String>,
    pub text: Option<String>,
    pub popular_only: bool,
}

//! The catalog: integration types, what their connections are configured
//! with, which actions they support, and how their webhooks are signed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Registry;
use crate::{
    auth::{Caller, Role},
    error::{ApiError, ErrorCode},
    etag::{check_etag, new_etag},
    idempotency::RequestKey,
    names::TypeId,
    paging::PageRequest,
    store::{self, StoreError},
};

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

impl Registry {
    pub async fn list_types(
        &self,
        query: &TypeQuery,
        page: &PageRequest,
    ) -> Result<(Vec<IntegrationType>, String, i64), ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let mut items =
            store::catalog::list(&client, query, page.after.as_deref(), page.fetch_limit()).await?;
        let total = store::catalog::count(&client, query).await?;
        let next = page.finish(&mut items, |t| t.definition.id.to_string());
        Ok((items, next, total))
    }

    pub async fn get_type(&self, id: &TypeId) -> Result<IntegrationType, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        store::catalog::get(&client, id)
            .await?
            .ok_or_else(|| ApiError::not_found(id.name()))
    }

    pub async fn register_type(
        &self,
        caller: &Caller,
        definition: TypeDefinition,
        request: Option<RequestKey>,
    ) -> Result<IntegrationType, ApiError> {
        caller.require_platform_admin()?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let replay = |found: Option<(IntegrationType, Vec<u8>)>, request: &RequestKey| match found {
            Some((ty, digest)) => request.check_replay(&digest).map(|()| Some(ty)),
            None => Ok(None),
        };
        if let Some(request) = &request
            && let Some(ty) = replay(
                store::catalog::by_request(&client, request.id).await?,
                request,
            )?
        {
            return Ok(ty);
        }
        let inserted = store::catalog::insert(
            &client,
            &definition,
            &new_etag(),
            request.as_ref().map(|r| (r.id, r.digest.as_slice())),
        )
        .await?;
        if let Some(ty) = inserted {
            tracing::info!(r#type = %ty.definition.id, "integration type registered");
            return Ok(ty);
        }
        if let Some(request) = &request
            && let Some(ty) = replay(
                store::catalog::by_request(&client, request.id).await?,
                request,
            )?
        {
            return Ok(ty);
        }
        Err(ApiError::new(
            ErrorCode::AlreadyExists,
            "TYPE_EXISTS",
            format!("{} already exists", definition.id.name()),
        ))
    }

    /// Applies `merge` to the current type under a row lock, so concurrent
    /// updates of different fields do not overwrite each other.
    pub async fn update_type(
        &self,
        caller: &Caller,
        id: &TypeId,
        etag: Option<&str>,
        merge: impl FnOnce(&IntegrationType) -> Result<TypeDefinition, ApiError>,
    ) -> Result<IntegrationType, ApiError> {
        caller.require_platform_admin()?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let current = store::catalog::get_for_update(&tx, id)
            .await?
            .ok_or_else(|| ApiError::not_found(id.name()))?;
        check_etag(etag, &current.etag)?;
        let definition = merge(&current)?;
        let updated = store::catalog::update(&tx, &definition, &new_etag()).await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(r#type = %id, "integration type updated");
        Ok(updated)
    }
}

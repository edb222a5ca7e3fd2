//! Connections: a project's link to one provider account, with settings,
//! sealed credentials and a webhook signing secret.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{Registry, catalog::IntegrationType, connection_secrets, settings};
use crate::status::items;
use crate::{
    auth::{Caller, Role},
    config::Secret,
    crypto,
    error::{ApiError, ErrorCode},
    etag::{check_etag, new_etag},
    idempotency::RequestKey,
    names::{ConnectionName, ProjectId, TypeId},
    paging::PageRequest,
    store::{self, connections::NewConnection},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnectionState {
    Pending,
    Active,
    Disabled,
    Revoked,
}

impl ConnectionState {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Active, Self::Disabled, Self::Revoked];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// A connection as clients see it: no secret, only fingerprints.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub name: ConnectionName,
    pub type_id: TypeId,
    pub display_name: String,
    pub settings: Map<String, Value>,
    pub state: ConnectionState,
    pub credentials_fingerprint: Option<String>,
    pub credentials_expire_time: Option<DateTime<Utc>>,
    pub webhook_key: String,
    pub webhook_secret_fingerprint: String,
    /// When the last verified webhook of this connection was received.
    pub last_webhook_time: Option<DateTime<Utc>>,
    pub etag: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// A result that may carry a webhook secret Patchbay just generated: shown
/// in this one response, never again.
pub struct WithSecret<T> {
    pub value: T,
    pub generated_secret: Option<Secret<String>>,
}

pub struct NewConnectionInput {
    pub name: ConnectionName,
    pub type_id: TypeId,
    pub display_name: String,
    pub settings: Map<String, Value>,
    pub webhook_secret: Option<Secret<String>>,
    pub request: Option<RequestKey>,
}

/// The fields an update changes; `None` leaves a field alone.
pub struct ConnectionUpdate {
    pub name: ConnectionName,
    pub etag: Option<String>,
    pub display_name: Option<String>,
    pub settings: Option<Map<String, Value>>,
    pub state: Option<ConnectionState>,
}

pub struct ConnectionQuery {
    pub project: ProjectId,
    pub type_id: Option<TypeId>,
    pub state: Option<ConnectionState>,
}

/// Where a sealed value lives; binds the ciphertext to its row and column.
pub fn seal_context(name: &ConnectionName, column: &str) -> String {
    format!("{name}/{column}")
}

/// The public key in a connection's webhook URL.
fn generate_webhook_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let bytes = crypto::random_bytes::<24>();
    let key: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    format!("wh_{key}")
}

fn already_exists(name: &ConnectionName) -> ApiError {
    ApiError::new(
        ErrorCode::AlreadyExists,
        "CONNECTION_EXISTS",
        format!("{name} already exists"),
    )
}

impl Registry {
    pub async fn create_connection(
        &self,
        caller: &Caller,
        input: NewConnectionInput,
    ) -> Result<WithSecret<Connection>, ApiError> {
        caller.require(&input.name.project, Role::Admin)?;
        let client = self.pool.get().await.map_err(store::StoreError::from)?;
        if let Some(replayed) = self.replayed_connection(&client, &input).await? {
            return Ok(replayed);
        }
        let ty = self
            .active_type(&client, &input.type_id, "connection.integration_type")
            .await?;
        let mut violations =
            settings::check_settings(&ty.definition.spec, &input.settings, "connection.settings");
        if let Some(supplied) = &input.webhook_secret {
            violations.extend(connection_secrets::check_secret_for(
                &ty.definition.spec,
                supplied,
            ));
        }
        if !violations.is_empty() {
            return Err(ApiError::invalid_argument(violations));
        }
        let (secret, generated_secret) = match &input.webhook_secret {
            Some(supplied) => (supplied.clone(), None),
            None => {
                let generated = connection_secrets::generate_webhook_secret();
                (generated.clone(), Some(generated))
            }
        };
        let sealed = self.keyring.seal(
            secret.expose().as_bytes(),
            &seal_context(&input.name, "webhook_secret"),
        );
        let state = if ty.definition.spec.needs_credentials() {
            ConnectionState::Pending
        } else {
            ConnectionState::Active
        };
        let webhook_key = generate_webhook_key();
        let etag = new_etag();
        let mut client = client;
        let tx = client
            .transaction()
            .await
            .map_err(store::StoreError::from)?;
        let inserted = store::connections::insert(
            &tx,
            &NewConnection {
                name: &input.name,
                type_id: &input.type_id,
                display_name: &input.display_name,
                settings: &input.settings,
                state,
                webhook_key: &webhook_key,
                webhook_secret: &sealed,
                webhook_secret_fingerprint: &self.keyring.fingerprint(secret.expose().as_bytes()),
                etag: &etag,
                request: input.request.as_ref().map(|r| (r.id, r.digest.as_slice())),
            },
        )
        .await?;
        let inserted = match inserted {
            Some(connection) => {
                let item = items::for_state(
                    &connection.name,
                    &connection.type_id,
                    connection.state,
                    Utc::now(),
                );
                store::status::record_item(&tx, &connection.name, &item, true).await?;
                tx.commit().await.map_err(store::StoreError::from)?;
                Some(connection)
            }
            None => {
                drop(tx);
                None
            }
        };
        match inserted {
            Some(connection) => {
                tracing::info!(connection = %connection.name, r#type = %connection.type_id, "connection created");
                Ok(WithSecret {
                    value: connection,
                    generated_secret,
                })
            }
            // Lost a race with the same request, or the name is taken.
            None => match self.replayed_connection(&client, &input).await? {
                Some(replayed) => Ok(replayed),
                None => Err(already_exists(&input.name)),
            },
        }
    }

    /// The connection an earlier request with this request id created.
    async fn replayed_connection(
        &self,
        client: &deadpool_postgres::Client,
        input: &NewConnectionInput,
    ) -> Result<Option<WithSecret<Connection>>, ApiError> {
        let Some(request) = &input.request else {
            return Ok(None);
        };
        match store::connections::by_request(client, &input.name.project, request.id).await? {
            Some((connection, digest)) => {
                request.check_replay(&digest)?;
                Ok(Some(WithSecret {
                    value: connection,
                    generated_secret: None,
                }))
            }
            None => Ok(None),
        }
    }

    /// The type new connections and templates may use.
    async fn active_type(
        &self,
        client: &impl deadpool_postgres::GenericClient,
        id: &TypeId,
        field: &str,
    ) -> Result<IntegrationType, ApiError> {
        let ty = store::catalog::get(client, id).await?.ok_or_else(|| {
            ApiError::invalid_field(field, format!("unknown integration type {id}"))
        })?;
        if !ty.definition.active {
            return Err(ApiError::new(
                ErrorCode::FailedPrecondition,
                "TYPE_INACTIVE",
                format!("integration type {id} accepts no new connections"),
            ));
        }
        Ok(ty)
    }

    pub async fn get_connection(
        &self,
        caller: &Caller,
        name: &ConnectionName,
    ) -> Result<Connection, ApiError> {
        caller.require(&name.project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(store::StoreError::from)?;
        store::connections::get(&client, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub async fn list_connections(
        &self,
        caller: &Caller,
        query: &ConnectionQuery,
        page: &PageRequest,
    ) -> Result<(Vec<Connection>, String, i64), ApiError> {
        caller.require(&query.project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(store::StoreError::from)?;
        let mut items = store::connections::list(
            &client,
            &query.project,
            query.type_id.as_ref(),
            query.state,
            page.after.as_deref(),
            page.fetch_limit(),
        )
        .await?;
        let total =
            store::connections::count(&client, &query.project, query.type_id.as_ref(), query.state)
                .await?;
        let next = page.finish(&mut items, |c| c.name.id.to_string());
        Ok((items, next, total))
    }

    pub async fn update_connection(
        &self,
        caller: &Caller,
        update: ConnectionUpdate,
    ) -> Result<Connection, ApiError> {
        caller.require(&update.name.project, Role::Admin)?;
        let mut client = self.pool.get().await.map_err(store::StoreError::from)?;
        let tx = client
            .transaction()
            .await
            .map_err(store::StoreError::from)?;
        let mut connection = store::connections::get_for_update(&tx, &update.name)
            .await?
            .ok_or_else(|| ApiError::not_found(&update.name))?;
        check_etag(update.etag.as_deref(), &connection.etag)?;
        let status_changed = update.state.is_some() || update.settings.is_some();
        let ty = store::catalog::get(&tx, &connection.type_id)
            .await?
            .ok_or_else(|| {
                ApiError::internal(
                    "connection's type is missing",
                    connection.type_id.to_string(),
                )
            })?;
        if let Some(display_name) = update.display_name {
            connection.display_name = display_name;
        }
        if let Some(new_settings) = update.settings {
            let violations =
                settings::check_settings(&ty.definition.spec, &new_settings, "connection.settings");
            if !violations.is_empty() {
                return Err(ApiError::invalid_argument(violations));
            }
            connection.settings = new_settings;
        }
        if let Some(state) = update.state {
            let has_credentials = connection.credentials_fingerprint.is_some();
            if state == ConnectionState::Active
                && !has_credentials
                && ty.definition.spec.needs_credentials()
            {
                return Err(ApiError::new(
                    ErrorCode::FailedPrecondition,
                    "CREDENTIALS_MISSING",
                    "set the connection's credentials before activating it",
                ));
            }
            connection.state = state;
        }
        let updated = store::connections::update(&tx, &connection, &new_etag()).await?;
        if status_changed {
            // New settings or state: what was probed no longer holds.
            let item = items::for_state(&updated.name, &updated.type_id, updated.state, Utc::now());
            store::status::record_item(&tx, &updated.name, &item, true).await?;
        }
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(updated)
    }

    pub async fn delete_connection(
        &self,
        caller: &Caller,
        name: &ConnectionName,
        etag: Option<&str>,
    ) -> Result<(), ApiError> {
        caller.require(&name.project, Role::Admin)?;
        let mut client = self.pool.get().await.map_err(store::StoreError::from)?;
        let tx = client
            .transaction()
            .await
            .map_err(store::StoreError::from)?;
        let connection = store::connections::get_for_update(&tx, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(etag, &connection.etag)?;
        // Read before the row goes: the token is revoked after the commit.
        let ty = store::catalog::get(&tx, &connection.type_id).await?;
        let credentials = match store::connection_secrets::secrets(&tx, name).await? {
            Some(secrets) => secrets
                .credentials
                .map(|sealed| self.open_credentials(name, &sealed))
                .transpose()?,
            None => None,
        };
        store::status::record_removed(&tx, name).await?;
        store::connections::delete(&tx, name).await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        tracing::info!(connection = %name, "connection deleted");
        if let (Some(ty), Some(credentials)) = (ty, credentials) {
            // Best effort: the connection is gone either way.
            self.revoke_upstream(name, &connection.type_id, &ty.definition.spec, &credentials)
                .await;
        }
        Ok(())
    }
}

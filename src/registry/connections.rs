//! Connections: a project's link to one provider account, with settings,
//! sealed credentials and a webhook signing secret.

use super::model::{
    Connection, ConnectionQuery, ConnectionState, ConnectionUpdate, IntegrationType,
    NewConnectionInput, WithSecret,
};
use super::{Registry, audit_trail, connection_secrets, settings, transitions};
use crate::{
    alerts, audit,
    auth::{Caller, Role},
    crypto,
    error::{ApiError, ErrorCode},
    etag::{check_etag, new_etag},
    names::{ConnectionName, TypeId},
    paging::PageRequest,
    store::{self, connections::NewConnection},
};

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
                let generated = crate::webhooks::signing::generate_secret();
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
                transitions::state_changed(
                    &tx,
                    &connection.name,
                    &connection.type_id,
                    connection.state,
                )
                .await?;
                let request_id = input.request.as_ref().map(|r| r.id);
                // A project's first connection gives it the default alert rules.
                let seeded = alerts::defaults::seed(&tx, &connection.name.project).await?;
                let mut change = audit_trail::created(&connection, request_id);
                change
                    .fields
                    .extend(alerts::audit_trail::default_rules(&seeded));
                audit::record(&tx, caller, change).await?;
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
        let before = connection.clone();
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
            transitions::state_changed(&tx, &updated.name, &updated.type_id, updated.state).await?;
        }
        audit::record(&tx, caller, audit_trail::updated(&before, &updated)).await?;
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
        let raised = self.alerting.connection_deleted(&tx, name).await?;
        store::connections::delete(&tx, name).await?;
        audit::record(&tx, caller, audit_trail::deleted(&connection)).await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        self.alerting.announce(raised);
        tracing::info!(connection = %name, "connection deleted");
        if let (Some(ty), Some(credentials)) = (ty, credentials) {
            // Best effort: the connection is gone either way.
            self.revoke_upstream(name, &connection.type_id, &ty.definition.spec, &credentials)
                .await;
        }
        Ok(())
    }
}

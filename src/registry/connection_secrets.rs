//! A connection's secrets: credentials sealed at rest, and the webhook
//! signing secret with its rotation grace period.

use std::collections::BTreeMap;

use chrono::Utc;

use super::{
    Registry, audit_trail,
    connections::seal_context,
    model::TypeSpec,
    model::{Connection, ConnectionState, WithSecret},
    settings, transitions,
};
use crate::{
    audit,
    auth::{Caller, Role},
    crypto::Sealed,
    error::{ApiError, FieldViolation},
    etag::{check_etag, new_etag},
    names::ConnectionName,
    secret::Secret,
    store::{self, connection_secrets::NewCredentials},
    webhooks::signature,
};

impl Registry {
    pub async fn set_credentials(
        &self,
        caller: &Caller,
        name: &ConnectionName,
        credentials: &BTreeMap<String, String>,
        etag: Option<&str>,
    ) -> Result<Connection, ApiError> {
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
        let ty = store::catalog::get(&tx, &connection.type_id)
            .await?
            .ok_or_else(|| {
                ApiError::internal(
                    "connection's type is missing",
                    connection.type_id.to_string(),
                )
            })?;
        let violations =
            settings::check_credentials(&ty.definition.spec, credentials, "credentials");
        if !violations.is_empty() {
            return Err(ApiError::invalid_argument(violations));
        }
        let plaintext = serde_json::to_vec(credentials)
            .map_err(|e| ApiError::internal("encoding credentials", e))?;
        let sealed = self
            .keyring
            .seal(&plaintext, &seal_context(name, "credentials"));
        let state = match connection.state {
            // New credentials reconnect a revoked connection.
            ConnectionState::Pending | ConnectionState::Revoked => ConnectionState::Active,
            other => other,
        };
        let updated = store::connection_secrets::set_credentials(
            &tx,
            name,
            &NewCredentials {
                sealed: &sealed,
                fingerprint: &self.keyring.fingerprint(&plaintext),
                expire_time: credentials
                    .get("expires_at")
                    .and_then(|s| settings::parse_expiry(s)),
                state,
                etag: &new_etag(),
            },
        )
        .await?;
        if updated.state != connection.state || updated.state == ConnectionState::Active {
            // New credentials: probe again now.
            transitions::state_changed(&tx, name, &updated.type_id, updated.state).await?;
        }
        audit::record(
            &tx,
            caller,
            audit_trail::credentials_set(&connection, &updated),
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        tracing::info!(connection = %name, "credentials replaced");
        Ok(updated)
    }

    pub async fn rotate_webhook_secret(
        &self,
        caller: &Caller,
        name: &ConnectionName,
        supplied: Option<Secret<String>>,
    ) -> Result<WithSecret<Connection>, ApiError> {
        caller.require(&name.project, Role::Admin)?;
        let client = self.pool.get().await.map_err(store::StoreError::from)?;
        if let Some(supplied) = &supplied {
            let connection = store::connections::get(&client, name)
                .await?
                .ok_or_else(|| ApiError::not_found(name))?;
            if let Some(ty) = store::catalog::get(&client, &connection.type_id).await?
                && let Some(violation) = check_secret_for(&ty.definition.spec, supplied)
            {
                return Err(ApiError::invalid_argument(vec![violation]));
            }
        }
        let (secret, generated_secret) = match supplied {
            Some(supplied) => (supplied, None),
            None => {
                let generated = crate::webhooks::signing::generate_secret();
                (generated.clone(), Some(generated))
            }
        };
        let sealed = self.keyring.seal(
            secret.expose().as_bytes(),
            &seal_context(name, "webhook_secret"),
        );
        let grace = chrono::Duration::from_std(self.secret_grace)
            .map_err(|e| ApiError::internal("secret grace out of range", e))?;
        let mut client = client;
        let tx = client
            .transaction()
            .await
            .map_err(store::StoreError::from)?;
        let before = store::connections::get_for_update(&tx, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        let rotated = store::connection_secrets::rotate_webhook_secret(
            &tx,
            name,
            &sealed,
            &self.keyring.fingerprint(secret.expose().as_bytes()),
            Utc::now() + grace,
            &new_etag(),
        )
        .await?
        .ok_or_else(|| ApiError::not_found(name))?;
        let trail =
            audit_trail::webhook_secret_rotated(before.webhook_secret_fingerprint, &rotated);
        audit::record(&tx, caller, trail).await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        tracing::info!(connection = %name, "webhook secret rotated");
        Ok(WithSecret {
            value: rotated,
            generated_secret,
        })
    }

    /// The decrypted credentials, for providers; `None` when none are stored.
    pub async fn credentials(
        &self,
        name: &ConnectionName,
    ) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        let client = self.pool.get().await.map_err(store::StoreError::from)?;
        let secrets = store::connection_secrets::secrets(&client, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        secrets
            .credentials
            .map(|sealed| self.open_credentials(name, &sealed))
            .transpose()
    }

    pub(super) fn open_credentials(
        &self,
        name: &ConnectionName,
        sealed: &Sealed,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        let plaintext = self
            .keyring
            .open(sealed, &seal_context(name, "credentials"))
            .map_err(|e| ApiError::internal("opening credentials", e))?;
        serde_json::from_slice(&plaintext)
            .map_err(|e| ApiError::internal("decoding credentials", e))
    }
}

/// A violation for a caller-supplied webhook secret, if it is unusable.
/// A caller-supplied webhook secret its type's scheme could never verify
/// with (a Standard Webhooks secret that is not base64, say).
pub fn check_secret_for(spec: &TypeSpec, secret: &Secret<String>) -> Option<FieldViolation> {
    signature::unusable_secret(spec.signature_scheme, secret.expose())
        .map(|why| FieldViolation::new("webhook_secret", why))
}

pub fn check_supplied_secret(secret: &str, field: &str) -> Option<FieldViolation> {
    if secret.len() > 1024 {
        Some(FieldViolation::new(field, "is longer than 1024 bytes"))
    } else if secret.chars().any(char::is_control) {
        Some(FieldViolation::new(
            field,
            "must not contain control characters",
        ))
    } else {
        None
    }
}

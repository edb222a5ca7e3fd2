//! OAuth2 refresh: an access token within 5 minutes of expiry is refreshed
//! through the type's token endpoint, once, under the connection's row lock,
//! so two replicas never race and burn a rotating refresh token.

use std::{collections::BTreeMap, time::Duration};

use chrono::Utc;
use serde::Deserialize;

use super::{Registry, connections::seal_context, model::TypeSpec, settings::parse_expiry};
use crate::{
    etag::new_etag,
    names::{ConnectionName, TypeId},
    providers,
    store::{self, StoreError},
};

/// Refresh when the token has less than this left.
pub const REFRESH_BUFFER: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The provider refused the refresh token: the grant is gone.
    #[error("the provider refused the refresh token")]
    Revoked,
    /// Without its URL, which may name a token.
    #[error("the token endpoint could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("the token endpoint answered {0}")]
    Provider(u16),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored credentials cannot be opened")]
    Credentials(#[source] crate::error::ApiError),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
}

fn expiring(credentials: &BTreeMap<String, String>) -> bool {
    let Some(expires_at) = credentials.get("expires_at").and_then(|s| parse_expiry(s)) else {
        return false;
    };
    let buffer = chrono::Duration::from_std(REFRESH_BUFFER).unwrap_or_default();
    expires_at - Utc::now() < buffer && credentials.contains_key("refresh_token")
}

impl Registry {
    /// The connection's credentials, refreshed first when they are about to
    /// expire and the type can refresh them.
    pub async fn fresh_credentials(
        &self,
        name: &ConnectionName,
        type_id: &TypeId,
        spec: &TypeSpec,
        http: &reqwest::Client,
    ) -> Result<Option<BTreeMap<String, String>>, RefreshError> {
        let oauth = self.base_urls.oauth(type_id.as_str(), spec);
        let current = self
            .credentials(name)
            .await
            .map_err(RefreshError::Credentials)?;
        let Some(credentials) = current else {
            return Ok(None);
        };
        let Some(oauth) = oauth else {
            return Ok(Some(credentials));
        };
        if !expiring(&credentials) || oauth.token_uri.is_empty() {
            return Ok(Some(credentials));
        }
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        // Another replica may have refreshed while we waited for the lock.
        let Some(sealed) = store::connection_secrets::lock_credentials(&tx, name).await? else {
            return Ok(None);
        };
        let mut credentials = self
            .open_credentials(name, &sealed)
            .map_err(RefreshError::Credentials)?;
        if !expiring(&credentials) {
            return Ok(Some(credentials));
        }
        let mut form = vec![("grant_type", "refresh_token".to_owned())];
        for key in ["refresh_token", "client_id", "client_secret"] {
            if let Some(value) = credentials.get(key) {
                form.push((key, value.clone()));
            }
        }
        let response = http
            .post(&oauth.token_uri)
            .header("accept", "application/json")
            .form(&form)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| RefreshError::Unreachable(e.without_url()))?;
        match response.status().as_u16() {
            200..=299 => {}
            400 | 401 | 403 => return Err(RefreshError::Revoked),
            other => return Err(RefreshError::Provider(other)),
        }
        let token: TokenResponse = response
            .json()
            .await
            .map_err(|e| RefreshError::Unreachable(e.without_url()))?;
        credentials.insert("access_token".to_owned(), token.access_token);
        if let Some(rotated) = token.refresh_token {
            credentials.insert("refresh_token".to_owned(), rotated);
        }
        let expire_time = token
            .expires_in
            .map(|secs| Utc::now() + chrono::Duration::seconds(secs));
        match expire_time {
            Some(t) => credentials.insert("expires_at".to_owned(), t.to_rfc3339()),
            None => credentials.remove("expires_at"),
        };
        let plaintext = serde_json::to_vec(&credentials).map_err(|e| {
            RefreshError::Credentials(crate::error::ApiError::internal("encoding credentials", e))
        })?;
        let sealed = self
            .keyring
            .seal(&plaintext, &seal_context(name, "credentials"));
        store::connection_secrets::replace_credentials(
            &tx,
            name,
            &sealed,
            &self.keyring.fingerprint(&plaintext),
            expire_time,
            &new_etag(),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(connection = %name, "access token refreshed");
        Ok(Some(credentials))
    }
}

impl Registry {
    /// Revokes a connection's token where its type has a revocation
    /// endpoint, in the shape its provider takes; says whether it tried.
    /// Failures are logged, never with the URI (it may hold the token): the
    /// connection goes regardless.
    pub async fn revoke_upstream(
        &self,
        name: &ConnectionName,
        type_id: &TypeId,
        spec: &TypeSpec,
        credentials: &BTreeMap<String, String>,
    ) -> bool {
        let Some(oauth) = self.base_urls.oauth(type_id.as_str(), spec) else {
            return false;
        };
        if oauth.revoke_uri.is_empty() {
            return false;
        }
        let request = match providers::find(&spec.probe) {
            Some(provider) => provider.revocation(&self.http, &oauth.revoke_uri, credentials),
            None => providers::standard_revocation(&self.http, &oauth.revoke_uri, credentials),
        };
        let Some(request) = request else {
            return false;
        };
        match request.timeout(Duration::from_secs(10)).send().await {
            Ok(response) if response.status().is_success() => {
                tracing::info!(connection = %name, "token revoked upstream");
            }
            Ok(response) => {
                tracing::warn!(connection = %name, status = response.status().as_u16(), "upstream token revocation refused");
            }
            Err(e) => {
                let e = e.without_url();
                tracing::warn!(connection = %name, error = %e, "upstream token revocation failed");
            }
        }
        true
    }
}

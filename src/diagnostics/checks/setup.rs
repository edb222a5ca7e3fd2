//! The connection's configuration: settings valid for its type, required
//! credentials present and readable under the current keys, and a token
//! that is not about to lapse unrefreshed.

use chrono::Utc;

use super::Check;
use crate::{
    diagnostics::service::Diagnostics,
    registry::{
        model::{Connection, ConnectionState, TypeSpec},
        oauth::REFRESH_BUFFER,
        settings::{check_settings, parse_expiry},
    },
    store::{self, StoreError},
};

pub fn settings(spec: &TypeSpec, connection: &Connection) -> Check {
    let violations = check_settings(spec, &connection.settings, "settings");
    if violations.is_empty() {
        return Check::pass("settings_valid", "every setting is valid for the type");
    }
    let fields: Vec<String> = violations
        .iter()
        .map(|v| format!("{} ({})", v.field, v.description))
        .collect();
    Check::fail(
        "settings_valid",
        "SETTINGS_INVALID",
        format!("invalid settings: {}", fields.join("; ")),
    )
    .fix(format!(
        "UpdateConnection with settings fixed: {}",
        violations
            .iter()
            .map(|v| v.field.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

impl Diagnostics {
    pub(super) async fn credential_checks(
        &self,
        spec: &TypeSpec,
        connection: &Connection,
    ) -> Vec<Check> {
        let name = &connection.name;
        if connection.state == ConnectionState::Revoked {
            return vec![
                Check::fail(
                    "credentials",
                    "OAUTH_REVOKED",
                    "the connection is revoked: its access was withdrawn or refused",
                )
                .fix("set new credentials (SetConnectionCredentials), then run reconnect")
                .run("reconnect"),
            ];
        }
        let opened = self.registry.credentials(name).await;
        let credentials = match opened {
            Ok(Some(credentials)) => credentials,
            Ok(None) if spec.needs_credentials() => {
                let missing: Vec<&str> = spec
                    .credential_fields()
                    .filter(|f| f.required)
                    .map(|f| f.name.as_str())
                    .collect();
                return vec![
                    Check::fail(
                        "credentials",
                        "CREDENTIALS_MISSING",
                        format!(
                            "no credentials are set; the type needs {}",
                            missing.join(", ")
                        ),
                    )
                    .fix(format!(
                        "SetConnectionCredentials with {}",
                        missing.join(", ")
                    )),
                ];
            }
            Ok(None) => return vec![Check::pass("credentials", "the type needs no credentials")],
            Err(_) => return vec![self.unreadable(connection).await],
        };
        let missing: Vec<&str> = spec
            .credential_fields()
            .filter(|f| f.required && credentials.get(&f.name).is_none_or(|v| v.is_empty()))
            .map(|f| f.name.as_str())
            .collect();
        let mut checks = vec![if missing.is_empty() {
            Check::pass("credentials", "present and readable under the current keys")
        } else {
            Check::fail(
                "credentials",
                "CREDENTIALS_MISSING",
                format!("missing {}", missing.join(", ")),
            )
            .fix(format!(
                "SetConnectionCredentials with {}",
                missing.join(", ")
            ))
        }];
        if let Some(expiry) = credentials.get("expires_at").and_then(|s| parse_expiry(s)) {
            let left = expiry - Utc::now();
            let buffer = chrono::Duration::from_std(REFRESH_BUFFER).unwrap_or_default();
            let refreshable = credentials.contains_key("refresh_token");
            checks.push(match (left < chrono::Duration::zero(), left < buffer, refreshable) {
                (_, false, _) => Check::pass(
                    "token_expiry",
                    format!("the access token is valid for {} more minutes", left.num_minutes()),
                ),
                (_, true, true) => Check::warn(
                    "token_expiry",
                    "TOKEN_EXPIRING",
                    "the access token is inside the refresh buffer; it is refreshed on next use",
                )
                .fix("run refresh to refresh it now")
                .run("refresh"),
                (true, _, false) => Check::fail(
                    "token_expiry",
                    "TOKEN_EXPIRED",
                    "the access token has expired and there is no refresh_token",
                )
                .fix("SetConnectionCredentials with a new access_token (or a refresh_token)"),
                (false, true, false) => Check::warn(
                    "token_expiry",
                    "TOKEN_EXPIRING",
                    format!(
                        "the access token expires in {} minutes and cannot be refreshed",
                        left.num_minutes().max(0)
                    ),
                )
                .fix("SetConnectionCredentials with a new access_token, or add a refresh_token"),
            });
        }
        checks
    }

    /// Credentials that cannot be opened: under a key this deployment no
    /// longer has, named, or damaged.
    async fn unreadable(&self, connection: &Connection) -> Check {
        let sealed = async {
            let client = self.pool.get().await.map_err(StoreError::from)?;
            store::connection_secrets::secrets(&client, &connection.name).await
        }
        .await
        .ok()
        .flatten()
        .and_then(|s| s.credentials);
        let held: Vec<&str> = self.keyring.ids().collect();
        let message = match sealed {
            Some(sealed) if !held.contains(&sealed.key_id.as_str()) => format!(
                "the credentials are sealed under key {}, which this deployment's keys ({}) do not include: it was rotated away",
                sealed.key_id,
                held.join(", ")
            ),
            _ => "the credentials cannot be decrypted under the current keys".to_owned(),
        };
        Check::fail("credentials", "CREDENTIALS_UNREADABLE", message).fix(
            "restore the missing key to --encryption-keys (then rotate-keys), or SetConnectionCredentials again",
        )
    }
}

//! The rules of the notification-channel RPCs: editors and up write, any
//! role reads, a webhook channel's signing secret is made here, sealed, and
//! shown once, and a channel a rule still names cannot be deleted.

use std::sync::Arc;

use deadpool_postgres::{GenericClient, Pool};

use super::{
    audit_trail,
    model::{ChannelDefinition, ChannelTarget, NotificationChannel},
};
use crate::{
    audit,
    auth::{Caller, Role},
    crypto::Keyring,
    error::{ApiError, ErrorCode},
    etag::{check_etag, new_etag},
    idempotency::RequestKey,
    names::{ChannelName, ProjectId},
    paging::PageRequest,
    secret::Secret,
    store::{
        self, StoreError,
        notification_channels::{InsertOutcome, NewChannel},
    },
    webhooks::signing,
};

#[derive(Clone)]
pub struct Channels {
    pool: Pool,
    keyring: Arc<Keyring>,
    allow_private: bool,
}

/// A channel just created, with its signing secret: the one time it is shown.
pub struct CreatedChannel {
    pub channel: NotificationChannel,
    pub secret: Option<Secret<String>>,
}

/// What a signing secret is sealed to: its channel and column.
pub fn seal_context(name: &ChannelName) -> String {
    format!("{name}/signing_secret")
}

impl Channels {
    pub fn new(pool: Pool, keyring: Arc<Keyring>, allow_private: bool) -> Self {
        Self {
            pool,
            keyring,
            allow_private,
        }
    }

    /// Whether endpoints on non-public addresses are allowed.
    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    pub async fn create(
        &self,
        caller: &Caller,
        definition: ChannelDefinition,
        request: Option<RequestKey>,
    ) -> Result<CreatedChannel, ApiError> {
        let project = definition.name.project.clone();
        caller.require(&project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        if let Some(channel) = replay(&client, &project, request.as_ref()).await? {
            return Ok(CreatedChannel {
                channel,
                secret: None,
            });
        }
        let secret = matches!(definition.target, ChannelTarget::Webhook { .. })
            .then(signing::generate_secret);
        let sealed = secret.as_ref().map(|s| {
            let bytes = s.expose().as_bytes();
            let sealed = self.keyring.seal(bytes, &seal_context(&definition.name));
            (sealed, self.keyring.fingerprint(bytes))
        });
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let new = NewChannel {
            definition: &definition,
            secret: sealed.as_ref().map(|(s, f)| (s, f.as_str())),
            etag: &new_etag(),
            request: request.as_ref().map(|r| (r.id, r.digest.as_slice())),
        };
        match store::notification_channels::insert(&tx, &new).await? {
            InsertOutcome::Inserted(channel) => {
                let change = audit_trail::channel_created(&channel, request.as_ref().map(|r| r.id));
                audit::record(&tx, caller, change).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(CreatedChannel {
                    channel: *channel,
                    secret,
                })
            }
            InsertOutcome::NameTaken => Err(ApiError::new(
                ErrorCode::AlreadyExists,
                "CHANNEL_EXISTS",
                format!("{} already exists", definition.name),
            )),
            InsertOutcome::RequestTaken => {
                drop(tx);
                let channel = replay(&client, &project, request.as_ref())
                    .await?
                    .ok_or_else(|| {
                        ApiError::internal("request id conflict without a row", "concurrent delete")
                    })?;
                Ok(CreatedChannel {
                    channel,
                    secret: None,
                })
            }
        }
    }

    pub async fn get(
        &self,
        caller: &Caller,
        name: &ChannelName,
    ) -> Result<NotificationChannel, ApiError> {
        caller.require(&name.project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        store::notification_channels::get(&client, name, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub async fn list(
        &self,
        caller: &Caller,
        project: &ProjectId,
        page: &PageRequest,
    ) -> Result<(Vec<NotificationChannel>, String), ApiError> {
        caller.require(project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let mut channels = store::notification_channels::list(
            &client,
            project,
            page.after.as_deref(),
            page.fetch_limit(),
        )
        .await?;
        let next = page.finish(&mut channels, |c| c.definition.name.id.to_string());
        Ok((channels, next))
    }

    /// Applies `merge` to the current channel under a row lock; the kind
    /// stays what it was.
    pub async fn update(
        &self,
        caller: &Caller,
        name: &ChannelName,
        etag: Option<&str>,
        merge: impl FnOnce(&NotificationChannel) -> Result<ChannelDefinition, ApiError>,
    ) -> Result<NotificationChannel, ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let current = store::notification_channels::get(&tx, name, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(etag, &current.etag)?;
        let definition = merge(&current)?;
        if definition.target.kind() != current.definition.target.kind() {
            return Err(ApiError::invalid_field(
                "notification_channel.kind",
                "cannot change; create another channel",
            ));
        }
        let updated = store::notification_channels::update(&tx, &definition, &new_etag()).await?;
        audit::record(
            &tx,
            caller,
            audit_trail::channel_updated(&current, &updated),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(updated)
    }

    pub async fn delete(
        &self,
        caller: &Caller,
        name: &ChannelName,
        etag: Option<&str>,
    ) -> Result<(), ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let current = store::notification_channels::get(&tx, name, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(etag, &current.etag)?;
        let rules = store::notification_channels::rules_naming(&tx, name).await?;
        if !rules.is_empty() {
            return Err(ApiError::new(
                ErrorCode::FailedPrecondition,
                "CHANNEL_IN_USE",
                format!("{name} is still named by rules: {}", rules.join(", ")),
            )
            .with_metadata("rules", rules.join(",")));
        }
        store::notification_channels::delete(&tx, name).await?;
        audit::record(&tx, caller, audit_trail::channel_deleted(&current)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

async fn replay(
    client: &impl GenericClient,
    project: &ProjectId,
    request: Option<&RequestKey>,
) -> Result<Option<NotificationChannel>, ApiError> {
    let Some(request) = request else {
        return Ok(None);
    };
    match store::notification_channels::by_request(client, project, request.id).await? {
        Some((channel, digest)) => {
            request.check_replay(&digest)?;
            Ok(Some(channel))
        }
        None => Ok(None),
    }
}

/// A rule may notify only channels that exist in its project.
pub async fn check_channels_exist(
    client: &impl GenericClient,
    project: &ProjectId,
    channels: &[ChannelName],
) -> Result<(), ApiError> {
    let ids: Vec<String> = channels.iter().map(|c| c.id.to_string()).collect();
    let found = store::notification_channels::existing(client, project, &ids).await?;
    match ids.iter().position(|id| !found.contains(id)) {
        None => Ok(()),
        Some(i) => Err(ApiError::invalid_field(
            format!("alert_rule.channels[{i}]"),
            "names no notification channel that exists",
        )),
    }
}

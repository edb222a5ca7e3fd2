//! Conversions between notification channels and `patchbay.v1` messages:
//! endpoints and addresses are checked here, at the edge.

use crate::{
    error::ApiError,
    field_mask::Selection,
    names::ChannelName,
    proto::{
        time::timestamp,
        v1::{self as pb, notification_channel::Kind},
    },
    secret::Secret,
};

use super::{
    model::{ChannelDefinition, ChannelTarget, NotificationChannel},
    outbound,
};

pub const UPDATABLE: [&str; 3] = ["display_name", "webhook.uri", "email.to"];

const MAX_DISPLAY_NAME: usize = 200;
const MAX_RECIPIENTS: usize = 10;
const MAX_ADDRESS: usize = 254;

/// Copies the selected fields of `patch` onto `base`; a path of another
/// kind than `base`'s changes nothing (the service refuses a kind change).
pub fn apply_mask(
    base: &mut pb::NotificationChannel,
    patch: &pb::NotificationChannel,
    fields: &Selection,
) {
    if fields.wants("display_name", !patch.display_name.is_empty()) {
        base.display_name.clone_from(&patch.display_name);
    }
    match (&mut base.kind, &patch.kind) {
        (Some(Kind::Webhook(base)), Some(Kind::Webhook(patch)))
            if fields.wants("webhook.uri", !patch.uri.is_empty()) =>
        {
            base.uri.clone_from(&patch.uri);
        }
        (Some(Kind::Email(base)), Some(Kind::Email(patch)))
            if fields.wants("email.to", !patch.to.is_empty()) =>
        {
            base.to.clone_from(&patch.to);
        }
        (Some(Kind::Webhook(_)), Some(Kind::Webhook(_)))
        | (Some(Kind::Email(_)), Some(Kind::Email(_))) => {}
        // Another kind, with no mask: the service refuses the change.
        (base_kind, Some(other)) if fields.wants("kind", true) => *base_kind = Some(other.clone()),
        _ => {}
    }
}

pub fn definition_from_proto(
    name: ChannelName,
    c: &pb::NotificationChannel,
    allow_private: bool,
) -> Result<ChannelDefinition, ApiError> {
    let display_name = c.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > MAX_DISPLAY_NAME {
        return Err(ApiError::invalid_field(
            "notification_channel.display_name",
            format!("is required, at most {MAX_DISPLAY_NAME} characters"),
        ));
    }
    let target = match &c.kind {
        None => {
            return Err(ApiError::invalid_field(
                "notification_channel.kind",
                "set webhook or email",
            ));
        }
        Some(Kind::Webhook(w)) => {
            let uri = outbound::check_endpoint(
                &w.uri,
                "notification_channel.webhook.uri",
                allow_private,
            )?;
            ChannelTarget::Webhook {
                uri: uri.to_string(),
            }
        }
        Some(Kind::Email(e)) => ChannelTarget::Email {
            to: recipients(&e.to)?,
        },
    };
    Ok(ChannelDefinition {
        name,
        display_name: display_name.to_owned(),
        target,
    })
}

fn recipients(to: &[String]) -> Result<Vec<String>, ApiError> {
    if to.is_empty() || to.len() > MAX_RECIPIENTS {
        return Err(ApiError::invalid_field(
            "notification_channel.email.to",
            format!("1 to {MAX_RECIPIENTS} addresses"),
        ));
    }
    let mut parsed: Vec<String> = Vec::with_capacity(to.len());
    for (i, address) in to.iter().enumerate() {
        let field = format!("notification_channel.email.to[{i}]");
        let address = address.trim();
        let valid = address.len() <= MAX_ADDRESS
            && address.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            })
            && address
                .chars()
                .all(|c| c.is_ascii_graphic() && !"<>,;\"()[]\\".contains(c));
        if !valid {
            return Err(ApiError::invalid_field(field, "is not an email address"));
        }
        if parsed.iter().any(|p| p.eq_ignore_ascii_case(address)) {
            return Err(ApiError::invalid_field(field, "is listed twice"));
        }
        parsed.push(address.to_owned());
    }
    Ok(parsed)
}

/// The channel as clients see it; `secret` only in CreateNotificationChannel's answer.
pub fn to_proto(
    c: &NotificationChannel,
    secret: Option<&Secret<String>>,
) -> pb::NotificationChannel {
    let d = &c.definition;
    let kind = match &d.target {
        ChannelTarget::Webhook { uri } => Kind::Webhook(pb::WebhookChannel {
            uri: uri.clone(),
            signing_secret: secret.map(|s| s.expose().clone()).unwrap_or_default(),
            signing_secret_fingerprint: c.secret_fingerprint.clone().unwrap_or_default(),
        }),
        ChannelTarget::Email { to } => Kind::Email(pb::EmailChannel { to: to.clone() }),
    };
    pb::NotificationChannel {
        name: d.name.to_string(),
        display_name: d.display_name.clone(),
        kind: Some(kind),
        etag: c.etag.clone(),
        create_time: Some(timestamp(c.create_time)),
        update_time: Some(timestamp(c.update_time)),
    }
}

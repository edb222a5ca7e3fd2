//! Slack: the bot token's workspace through `auth.test`, messages to the
//! connection's channel for `post-message`, and an uninstall or revoked
//! token as a reason to probe again. Webhooks are signed with the Slack
//! scheme.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    ActionCall, Call, EffectError, Health, Observation, PlanCall, Planned, ProbeError, Provider,
    object, problem, request,
};
use crate::{
    error::ApiError,
    status::model::{Level, ProblemCode},
};

pub struct Slack;

/// Slack answers 200 with `ok: false` and an error code for most failures.
#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    error: String,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl Answer {
    fn text(&self, key: &str) -> &str {
        self.rest
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Calls Web API `method` with a JSON body; an `ok: false` answer becomes
/// the failure it stands for.
async fn api(call: &Call<'_>, method: &str, body: &Value) -> Result<Answer, ProbeError> {
    let mut request = call
        .http
        .post(format!("{}/api/{method}", call.base_uri))
        .timeout(call.timeout)
        .json(body);
    if let Some(token) = call.credential("bot_token") {
        request = request.bearer_auth(token);
    }
    let answer: Answer = request::json(request::send(request, call.is_oauth()).await?).await?;
    if answer.ok {
        return Ok(answer);
    }
    Err(match answer.error.as_str() {
        "token_revoked" | "token_expired" => ProbeError::Definitive(problem(
            ProblemCode::OauthRevoked,
            "Slack revoked the token; reinstall the app",
        )),
        "invalid_auth" | "not_authed" | "account_inactive" => ProbeError::Definitive(problem(
            ProblemCode::Unauthorized,
            "Slack refused the bot token; update it",
        )),
        "missing_scope" | "no_permission" => ProbeError::Definitive(problem(
            ProblemCode::Unauthorized,
            format!("the bot token lacks the scope {method} needs"),
        )),
        "channel_not_found" | "not_in_channel" | "is_archived" => {
            ProbeError::misconfigured(format!(
                "the bot cannot post to the configured channel ({})",
                answer.error
            ))
        }
        "fatal_error" | "internal_error" | "service_unavailable" | "request_timeout" => {
            ProbeError::Transient(problem(
                ProblemCode::Unreachable,
                format!("Slack failed ({})", answer.error),
            ))
        }
        other => ProbeError::Definitive(problem(
            ProblemCode::Unknown,
            format!("Slack answered {other}"),
        )),
    })
}

#[tonic::async_trait]
impl Provider for Slack {
    fn id(&self) -> &'static str {
        "slack"
    }

    async fn probe(&self, call: &Call<'_>) -> Result<Observation, ProbeError> {
        if call.credential("bot_token").is_none() {
            return Err(ProbeError::misconfigured("bot_token credential is missing"));
        }
        let answer = api(call, "auth.test", &json!({})).await?;
        Ok(Observation::new(
            Level::Connected,
            format!(
                "{} in workspace {}",
                answer.text("user"),
                answer.text("team")
            ),
            "Workspace reachable",
        ))
    }

    async fn act(
        &self,
        call: &Call<'_>,
        action: &ActionCall<'_>,
    ) -> Option<Result<Map<String, Value>, EffectError>> {
        if action.action != "post-message" {
            return None;
        }
        Some(post_message(call, action).await)
    }

    fn plan(
        &self,
        call: &PlanCall<'_>,
        action: &str,
        params: &Map<String, Value>,
    ) -> Option<Result<Vec<Planned>, EffectError>> {
        if action != "post-message" {
            return None;
        }
        let Some(channel) = call.setting("channel") else {
            return Some(Err(ProbeError::misconfigured(
                "the channel setting is required",
            )
            .into()));
        };
        let text = params.get("text").cloned().unwrap_or(Value::Null);
        Some(Ok(vec![Planned {
            method: "POST",
            url: format!("{}/api/chat.postMessage", call.base_uri),
            body: json!({"channel": channel, "text": text}),
            summary: format!("a message to {channel}"),
        }]))
    }

    fn webhook_health(&self, _event_type: &str, body: &Value) -> Option<Health> {
        // Events API callbacks carry the event's own type inside.
        matches!(
            body["event"]["type"].as_str(),
            Some("app_uninstalled" | "tokens_revoked")
        )
        .then_some(Health::Changed)
    }
}

/// Posts `params.text` to the connection's `channel` setting.
async fn post_message(
    call: &Call<'_>,
    action: &ActionCall<'_>,
) -> Result<Map<String, Value>, EffectError> {
    let channel = call
        .setting("channel")
        .ok_or_else(|| ProbeError::misconfigured("the channel setting is required"))?;
    let text = action
        .param_str("text")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            EffectError::permanent(ApiError::invalid_field(
                "params.text",
                "the message text is required",
            ))
        })?;
    call.bearer("bot_token")?;
    let answer = api(
        call,
        "chat.postMessage",
        &json!({"channel": channel, "text": text}),
    )
    .await?;
    Ok(object(json!({
        "channel": answer.text("channel"),
        "ts": answer.text("ts"),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uninstall_or_revoked_tokens_call_for_a_probe() {
        let event = |t: &str| json!({"type": "event_callback", "event": {"type": t}});
        for kind in ["app_uninstalled", "tokens_revoked"] {
            assert_eq!(
                Slack.webhook_health("event_callback", &event(kind)),
                Some(Health::Changed)
            );
        }
        assert_eq!(
            Slack.webhook_health("event_callback", &event("message")),
            None
        );
        assert_eq!(Slack.webhook_health("", &Value::Null), None);
    }

    #[test]
    fn a_message_is_planned_to_the_connections_channel() {
        let plan = |settings: Value, action: &str| {
            let settings = object(settings);
            let call = PlanCall {
                base_uri: "https://slack.test",
                settings: &settings,
            };
            Slack.plan(&call, action, &object(json!({"text": "hi"})))
        };
        let planned = plan(json!({"channel": "C1"}), "post-message")
            .expect("its own action")
            .expect("a plan");
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].method, "POST");
        assert_eq!(planned[0].url, "https://slack.test/api/chat.postMessage");
        assert_eq!(planned[0].body, json!({"channel": "C1", "text": "hi"}));
        assert!(planned[0].summary.contains("C1"));
        assert!(plan(json!({"channel": "C1"}), "deploy").is_none());
        assert!(plan(json!({}), "post-message").expect("its own").is_err());
    }
}

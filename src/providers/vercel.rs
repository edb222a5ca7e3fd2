//! Vercel: the latest deployment per environment, rolled up; deployments
//! for `deploy` and `deploy-preview`; deployment webhooks as the status of
//! their environment.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    ActionCall, Call, EffectError, Health, Observation, PLANNED_ACTION_ID, PlanCall, Planned,
    ProbeError, Provider, Repeat, object, request,
};
use crate::status::model::{EnvironmentStatus, Level};

pub struct Vercel;

#[derive(Deserialize)]
struct Deployments {
    deployments: Vec<Deployment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deployment {
    url: Option<String>,
    #[serde(alias = "readyState")]
    state: Option<String>,
    target: Option<String>,
    created_at: Option<i64>,
}

fn level_of(state: &str) -> (Level, &'static str) {
    match state {
        "READY" => (Level::Connected, "ready"),
        "ERROR" => (Level::Error, "failed"),
        "CANCELED" => (Level::Warning, "cancelled"),
        "BUILDING" | "QUEUED" | "INITIALIZING" => (Level::Warning, "deploying"),
        _ => (Level::Warning, "unknown state"),
    }
}

#[tonic::async_trait]
impl Provider for Vercel {
    fn id(&self) -> &'static str {
        "vercel"
    }

    async fn probe(&self, ctx: &Call<'_>) -> Result<Observation, ProbeError> {
        let Some(project) = ctx.setting("project_id") else {
            return Err(ProbeError::misconfigured("project_id must be set"));
        };
        let mut query = vec![
            ("projectId", project.to_owned()),
            ("limit", "20".to_owned()),
        ];
        if let Some(team) = ctx.setting("team_id") {
            query.push(("teamId", team.to_owned()));
        }
        let mut request = ctx
            .http
            .get(format!("{}/v6/deployments", ctx.base_uri))
            .query(&query)
            .timeout(ctx.timeout);
        if let Some(token) = ctx.credential("access_token") {
            request = request.bearer_auth(token);
        }
        let listing: Deployments = request::json(request::send(request, false).await?).await?;
        let mut environments: Vec<EnvironmentStatus> = Vec::new();
        for name in ["production", "preview"] {
            let latest = listing
                .deployments
                .iter()
                .filter(|d| d.target.as_deref().unwrap_or("preview") == name)
                .max_by_key(|d| d.created_at.unwrap_or(0));
            let Some(latest) = latest else { continue };
            let (level, word) = level_of(latest.state.as_deref().unwrap_or(""));
            let url = latest.url.as_ref().map(|u| {
                if u.starts_with("http") {
                    u.clone()
                } else {
                    format!("https://{u}")
                }
            });
            environments.push(EnvironmentStatus {
                name: name.to_owned(),
                level,
                summary: match &url {
                    Some(url) => format!("{word}: {url}"),
                    None => word.to_owned(),
                },
                url,
                last_deploy_at: latest
                    .created_at
                    .and_then(DateTime::<Utc>::from_timestamp_millis),
            });
        }
        let Some(worst) = environments
            .iter()
            .map(|e| e.level)
            .max_by_key(|l| l.severity())
        else {
            return Ok(Observation::new(
                Level::Warning,
                format!("{project}: no deployments yet"),
                "No deployments yet",
            ));
        };
        let words: Vec<String> = environments
            .iter()
            .map(|e| format!("{} {}", e.name, level_of_word(e.level)))
            .collect();
        let mut observation = Observation::new(
            worst,
            format!("{project}: {}", words.join(", ")),
            capitalize(&words.join(", ")),
        );
        observation.environments = environments;
        Ok(observation)
    }

    async fn act(
        &self,
        call: &Call<'_>,
        action: &ActionCall<'_>,
    ) -> Option<Result<Map<String, Value>, EffectError>> {
        let production = match action.action {
            "deploy" => true,
            "deploy-preview" => false,
            _ => return None,
        };
        Some(deploy(call, action, production).await)
    }

    fn plan(
        &self,
        call: &PlanCall<'_>,
        action: &str,
        params: &Map<String, Value>,
    ) -> Option<Result<Vec<Planned>, EffectError>> {
        let production = match action {
            "deploy" => true,
            "deploy-preview" => false,
            _ => return None,
        };
        let Some(project) = call.setting("project_id") else {
            return Some(Err(ProbeError::misconfigured(
                "the project_id setting is missing",
            )
            .into()));
        };
        let team = call
            .setting("team_id")
            .map(|t| format!("&teamId={t}"))
            .unwrap_or_default();
        let mut planned = Vec::new();
        let from = match (params.get("git_source"), params.get("deployment_id")) {
            (Some(source), _) => From::Git(source.clone()),
            (None, Some(Value::String(id))) => From::Deployment(id.clone()),
            _ => {
                planned.push(Planned {
                    method: "GET",
                    url: latest_url(call.base_uri, project, production, &team),
                    body: Value::Null,
                    summary: "find the latest deployment to redeploy".to_owned(),
                });
                From::Deployment("<the latest deployment's id>".to_owned())
            }
        };
        planned.push(Planned {
            method: "POST",
            url: create_url(call.base_uri, &team),
            body: deployment_body(project, PLANNED_ACTION_ID, production, from),
            summary: format!(
                "a {} deployment of {project}",
                if production { "production" } else { "preview" }
            ),
        });
        Some(Ok(planned))
    }

    /// A deployment an action created carries its id in its meta.
    fn webhook_cause(&self, _event_type: &str, body: &Value) -> Option<String> {
        let deployment = &body["payload"]["deployment"];
        deployment["meta"][ACTION_META].as_str().map(str::to_owned)
    }

    fn repeat(&self, _action: &str) -> Repeat {
        // Deployments carry the action's id in their meta (see `deploy`).
        Repeat::LooksUp
    }

    fn webhook_health(&self, event_type: &str, body: &Value) -> Option<Health> {
        match event_type {
            "deployment.error" | "deployment.canceled" => {
                let payload = &body["payload"];
                Some(Health::DeploymentFailed {
                    environment: payload["target"]
                        .as_str()
                        .filter(|t| !t.is_empty())
                        .unwrap_or("preview")
                        .to_owned(),
                    url: payload["deployment"]["url"]
                        .as_str()
                        .or_else(|| payload["url"].as_str())
                        .map(str::to_owned),
                })
            }
            "deployment.succeeded" | "deployment.ready" | "deployment.promoted" => {
                Some(Health::Changed)
            }
            _ => None,
        }
    }
}

/// The deployment meta key that names the action that created it.
const ACTION_META: &str = "patchbayActionId";

/// The deployment an earlier attempt of action `id` created, if it got
/// that far: Vercel filters deployments by meta (`meta-KEY=value`).
async fn tagged_deployment(
    call: &Call<'_>,
    token: &str,
    project: &str,
    team: &str,
    id: &str,
) -> Result<Option<Map<String, Value>>, EffectError> {
    let url = format!(
        "{}/v6/deployments?projectId={project}&meta-{ACTION_META}={id}&limit=1{team}",
        call.base_uri
    );
    let response = request::send(call.http.get(url).bearer_auth(token), false).await?;
    let list: Value = request::json(response).await?;
    let found = &list["deployments"][0];
    // Only a deployment that really carries the tag: a proxy or an API
    // that ignored the filter must not pass off another one.
    if found["meta"][ACTION_META].as_str() != Some(id) {
        return Ok(None);
    }
    Ok(Some(object(json!({
        "deployment_id": found["uid"],
        "url": found["url"],
        "state": found["state"].as_str().or(found["readyState"].as_str()),
        "target": found["target"].as_str().unwrap_or("preview"),
        "found_from_earlier_attempt": true,
    }))))
}

/// Creates a deployment (production or preview) from `params.git_source`
/// or `params.deployment_id`, else by redeploying the project's latest
/// deployment of that target.
/// The deployment is tagged with the action's id, and a retry after an
/// interrupted attempt looks for that tag first.
async fn deploy(
    call: &Call<'_>,
    action: &ActionCall<'_>,
    production: bool,
) -> Result<Map<String, Value>, EffectError> {
    let project = call
        .setting("project_id")
        .ok_or_else(|| ProbeError::misconfigured("the project_id setting is missing"))?;
    let token = call.bearer("access_token")?;
    action
        .progress
        .report(30, "creating the deployment")
        .await?;
    let team = call
        .setting("team_id")
        .map(|t| format!("&teamId={t}"))
        .unwrap_or_default();
    if action.earlier_attempt
        && let Some(existing) = tagged_deployment(call, token, project, &team, action.id).await?
    {
        return Ok(existing);
    }
    let from = match (
        action.params.get("git_source"),
        action.param_str("deployment_id"),
    ) {
        (Some(source), _) => From::Git(source.clone()),
        (None, Some(id)) => From::Deployment(id.to_owned()),
        (None, None) => {
            let url = latest_url(call.base_uri, project, production, &team);
            let response = request::send(call.http.get(url).bearer_auth(token), false).await?;
            let list: Value = request::json(response).await?;
            let latest = list["deployments"][0]["uid"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| {
                    ProbeError::misconfigured(
                        "the project has no deployment to redeploy; pass git_source",
                    )
                })?;
            From::Deployment(latest)
        }
    };
    let body = deployment_body(project, action.id, production, from);
    let url = create_url(call.base_uri, &team);
    let response = request::send(call.http.post(url).bearer_auth(token).json(&body), false).await?;
    let created: Value = request::json(response).await?;
    Ok(object(json!({
        "deployment_id": created["id"],
        "url": created["url"],
        "state": created["readyState"],
        "target": if production { "production" } else { "preview" },
    })))
}

/// What a deployment is made from.
enum From {
    Git(Value),
    Deployment(String),
}

fn latest_url(base_uri: &str, project: &str, production: bool, team: &str) -> String {
    let target_filter = if production { "&target=production" } else { "" };
    format!("{base_uri}/v6/deployments?projectId={project}&limit=1{target_filter}{team}")
}

fn create_url(base_uri: &str, team: &str) -> String {
    format!("{base_uri}/v13/deployments?forceNew=1{team}")
}

/// A deployment's body, tagged with the action's id.
fn deployment_body(project: &str, action_id: &str, production: bool, from: From) -> Value {
    let mut body = json!({
        "name": project,
        "project": project,
        "meta": {ACTION_META: action_id},
    });
    if production {
        body["target"] = json!("production");
    }
    match from {
        From::Git(source) => body["gitSource"] = source,
        From::Deployment(id) => body["deploymentId"] = json!(id),
    }
    body
}

fn level_of_word(level: Level) -> &'static str {
    match level {
        Level::Connected => "ready",
        Level::Warning => "degraded",
        Level::Error => "failed",
        Level::Disconnected => "disconnected",
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;

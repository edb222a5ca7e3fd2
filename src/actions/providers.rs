//! Effects that are one provider call: a Vercel deployment and a GitHub
//! repository dispatch.

use serde_json::{Map, Value, json};

use super::{
    effects::{EffectError, Target, object},
    model::Action,
};
use crate::adapters::{ProbeError, request};

/// Vercel: creates a deployment (production for `deploy`, preview for
/// `deploy-preview`) from `params.git_source` or `params.deployment_id`,
/// else by redeploying the project's latest deployment of that target.
pub async fn vercel_deploy(
    http: &reqwest::Client,
    target: &Target,
    action: &Action,
) -> Result<Map<String, Value>, EffectError> {
    let project = target
        .setting("project_id")
        .ok_or_else(|| ProbeError::misconfigured("the project_id setting is missing"))?;
    let token = target.bearer()?;
    let production = action.action == "deploy";
    let team = target
        .setting("team_id")
        .map(|t| format!("&teamId={t}"))
        .unwrap_or_default();
    let mut body = json!({"name": project, "project": project});
    if production {
        body["target"] = json!("production");
    }
    if let Some(source) = action.params.get("git_source") {
        body["gitSource"] = source.clone();
    } else {
        let from = match action.params.get("deployment_id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => {
                let target_filter = if production { "&target=production" } else { "" };
                let url = format!(
                    "{}/v6/deployments?projectId={project}&limit=1{target_filter}{team}",
                    target.base_uri
                );
                let response = request::send(http.get(url).bearer_auth(token), false).await?;
                let list: Value = request::json(response).await?;
                list["deployments"][0]["uid"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        ProbeError::misconfigured(
                            "the project has no deployment to redeploy; pass git_source",
                        )
                    })?
            }
        };
        body["deploymentId"] = json!(from);
    }
    let url = format!("{}/v13/deployments?forceNew=1{team}", target.base_uri);
    let response = request::send(http.post(url).bearer_auth(token).json(&body), false).await?;
    let created: Value = request::json(response).await?;
    Ok(object(json!({
        "deployment_id": created["id"],
        "url": created["url"],
        "state": created["readyState"],
        "target": if production { "production" } else { "preview" },
    })))
}

/// GitHub: a repository_dispatch (`patchbay.push` / `patchbay.pull`, or
/// `params.event_type`) carrying `params.client_payload`.
pub async fn github_dispatch(
    http: &reqwest::Client,
    target: &Target,
    action: &Action,
) -> Result<Map<String, Value>, EffectError> {
    let (Some(owner), Some(repo)) = (target.setting("owner"), target.setting("repo")) else {
        return Err(ProbeError::misconfigured("the owner and repo settings are required").into());
    };
    let event_type = action
        .params
        .get("event_type")
        .and_then(Value::as_str)
        .map_or_else(|| format!("patchbay.{}", action.action), str::to_owned);
    let payload = action
        .params
        .get("client_payload")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let url = format!("{}/repos/{owner}/{repo}/dispatches", target.base_uri);
    let request = http
        .post(url)
        .bearer_auth(target.bearer()?)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .json(&json!({"event_type": event_type, "client_payload": payload}));
    request::send(request, target.is_oauth()).await?;
    Ok(object(
        json!({"repository": format!("{owner}/{repo}"), "event_type": event_type}),
    ))
}

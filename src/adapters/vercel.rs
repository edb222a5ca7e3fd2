//! Vercel: the latest deployment per environment, rolled up.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Adapter, Observation, ProbeContext, ProbeError, request};
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
impl Adapter for Vercel {
    async fn probe(&self, ctx: &ProbeContext<'_>) -> Result<Observation, ProbeError> {
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

//! GitHub: the repository and branch; CONNECTED while the branch saw a push
//! in the last 7 days.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Adapter, Observation, ProbeContext, ProbeError, request};
use crate::status::model::Level;

const FRESH_DAYS: i64 = 7;

pub struct GitHub;

#[derive(Deserialize)]
struct Repo {
    default_branch: String,
    pushed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    private: bool,
}

#[derive(Deserialize)]
struct Branch {
    commit: BranchCommit,
}

#[derive(Deserialize)]
struct BranchCommit {
    commit: CommitDetail,
}

#[derive(Deserialize)]
struct CommitDetail {
    committer: Option<Signature>,
}

#[derive(Deserialize)]
struct Signature {
    date: Option<DateTime<Utc>>,
}

fn get(ctx: &ProbeContext<'_>, path: &str) -> reqwest::RequestBuilder {
    let mut request = ctx
        .http
        .get(format!("{}{path}", ctx.base_uri))
        .timeout(ctx.timeout)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "patchbay");
    if let Some(token) = ctx.credential("access_token") {
        request = request.bearer_auth(token);
    }
    request
}

pub fn age_words(days: i64, hours: i64) -> String {
    match (days, hours) {
        (0, 0) => "under an hour ago".to_owned(),
        (0, 1) => "1 hour ago".to_owned(),
        (0, h) => format!("{h} hours ago"),
        (1, _) => "1 day ago".to_owned(),
        (d, _) => format!("{d} days ago"),
    }
}

#[tonic::async_trait]
impl Adapter for GitHub {
    async fn probe(&self, ctx: &ProbeContext<'_>) -> Result<Observation, ProbeError> {
        let (Some(owner), Some(repo)) = (ctx.setting("owner"), ctx.setting("repo")) else {
            return Err(ProbeError::misconfigured("owner and repo must be set"));
        };
        let response = request::send(get(ctx, &format!("/repos/{owner}/{repo}")), ctx.is_oauth())
            .await
            .map_err(|e| match e {
                ProbeError::Definitive(mut p)
                    if p.code == crate::status::model::ProblemCode::Misconfigured =>
                {
                    p.hint =
                        format!("repository {owner}/{repo} not found, or the token cannot see it");
                    ProbeError::Definitive(p)
                }
                other => other,
            })?;
        let repository: Repo = request::json(response).await?;
        let branch = ctx
            .setting("branch")
            .unwrap_or(&repository.default_branch)
            .to_owned();
        let response = request::send(
            get(ctx, &format!("/repos/{owner}/{repo}/branches/{branch}")),
            ctx.is_oauth(),
        )
        .await
        .map_err(|e| match e {
            ProbeError::Definitive(mut p)
                if p.code == crate::status::model::ProblemCode::Misconfigured =>
            {
                p.hint = format!("branch {branch} does not exist in {owner}/{repo}");
                ProbeError::Definitive(p)
            }
            other => other,
        })?;
        let head: Branch = request::json(response).await?;
        let last_push = head
            .commit
            .commit
            .committer
            .and_then(|c| c.date)
            .or(repository.pushed_at);
        let kind = if repository.private {
            "Private repository"
        } else {
            "Repository"
        };
        let Some(last_push) = last_push else {
            return Ok(Observation::new(
                Level::Warning,
                format!("{owner}/{repo}@{branch}: no pushes yet"),
                format!("{kind}: no pushes yet"),
            ));
        };
        let age = ctx.now.signed_duration_since(last_push);
        let words = age_words(age.num_days().max(0), age.num_hours().max(0));
        let level = if age.num_days() < FRESH_DAYS {
            Level::Connected
        } else {
            Level::Warning
        };
        Ok(Observation::new(
            level,
            format!("{owner}/{repo}@{branch}: last push {words}"),
            format!("{kind}: last push {words}"),
        ))
    }
}

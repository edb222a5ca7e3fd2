//! GitHub: the repository and branch (CONNECTED while the branch saw a push
//! in the last 7 days), repository dispatches for `push` and `pull`, push
//! webhooks as a reason to probe again, and GitHub's token revocation.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reqwest::RequestBuilder;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    ActionCall, Call, EffectError, Health, Observation, PLANNED_ACTION_ID, PlanCall, Planned,
    ProbeError, Provider, age_words, request,
};
use crate::status::model::{Level, ProblemCode};

const FRESH_DAYS: i64 = 7;
const API_VERSION: &str = "2022-11-28";

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

/// Every GitHub API request: its media type, its pinned version, a user
/// agent (GitHub refuses requests without one) and the token when set.
fn api(call: &Call<'_>, request: RequestBuilder) -> RequestBuilder {
    let request = request
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", API_VERSION)
        .header("user-agent", "patchbay");
    match call.credential("access_token") {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

fn get(call: &Call<'_>, path: &str) -> RequestBuilder {
    api(
        call,
        call.http
            .get(format!("{}{path}", call.base_uri))
            .timeout(call.timeout),
    )
}

/// A 404 from GitHub means the repository or branch is not there for this
/// token: say which.
fn not_found_means(hint: String) -> impl FnOnce(ProbeError) -> ProbeError {
    move |e| match e {
        ProbeError::Definitive(mut p) if p.code == ProblemCode::Misconfigured => {
            p.hint = hint;
            ProbeError::Definitive(p)
        }
        other => other,
    }
}

#[tonic::async_trait]
impl Provider for GitHub {
    fn id(&self) -> &'static str {
        "github"
    }

    async fn probe(&self, call: &Call<'_>) -> Result<Observation, ProbeError> {
        let (Some(owner), Some(repo)) = (call.setting("owner"), call.setting("repo")) else {
            return Err(ProbeError::misconfigured("owner and repo must be set"));
        };
        let response = request::send(
            get(call, &format!("/repos/{owner}/{repo}")),
            call.is_oauth(),
        )
        .await
        .map_err(not_found_means(format!(
            "repository {owner}/{repo} not found, or the token cannot see it"
        )))?;
        let repository: Repo = request::json(response).await?;
        let branch = call
            .setting("branch")
            .unwrap_or(&repository.default_branch)
            .to_owned();
        let response = request::send(
            get(call, &format!("/repos/{owner}/{repo}/branches/{branch}")),
            call.is_oauth(),
        )
        .await
        .map_err(not_found_means(format!(
            "branch {branch} does not exist in {owner}/{repo}"
        )))?;
        let left = request::header_i64(response.headers(), "x-ratelimit-remaining");
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
            )
            .with_rate_limit_remaining(left));
        };
        let age = call.now.signed_duration_since(last_push);
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
        )
        .with_rate_limit_remaining(left))
    }

    async fn act(
        &self,
        call: &Call<'_>,
        action: &ActionCall<'_>,
    ) -> Option<Result<Map<String, Value>, EffectError>> {
        match action.action {
            "push" | "pull" => Some(dispatch(call, action).await),
            _ => None,
        }
    }

    fn plan(
        &self,
        call: &PlanCall<'_>,
        action: &str,
        params: &Map<String, Value>,
    ) -> Option<Result<Vec<Planned>, EffectError>> {
        if !matches!(action, "push" | "pull") {
            return None;
        }
        let (Some(owner), Some(repo)) = (call.setting("owner"), call.setting("repo")) else {
            return Some(Err(ProbeError::misconfigured(
                "the owner and repo settings are required",
            )
            .into()));
        };
        let body = dispatch_body(action, PLANNED_ACTION_ID, params);
        Some(Ok(vec![Planned {
            method: "POST",
            url: format!("{}/repos/{owner}/{repo}/dispatches", call.base_uri),
            summary: format!(
                "a repository_dispatch of {} to {owner}/{repo}",
                body["event_type"]
            ),
            body,
        }]))
    }

    fn webhook_health(&self, event_type: &str, _body: &Value) -> Option<Health> {
        (event_type == "push").then_some(Health::Changed)
    }

    /// A repository_dispatch an action sent carries its id.
    fn webhook_cause(&self, event_type: &str, body: &Value) -> Option<String> {
        (event_type == "repository_dispatch")
            .then(|| body["client_payload"][ACTION_ID_KEY].as_str())
            .flatten()
            .map(str::to_owned)
    }

    /// GitHub revokes an OAuth app's token with DELETE on
    /// `/applications/{client_id}/token`, authenticated as the app, the
    /// token in a JSON body; without the app's credentials it cannot.
    fn revocation(
        &self,
        http: &reqwest::Client,
        revoke_uri: &str,
        credentials: &BTreeMap<String, String>,
    ) -> Option<RequestBuilder> {
        let token = credentials.get("access_token")?;
        let id = credentials.get("client_id")?;
        let secret = credentials.get("client_secret")?;
        Some(
            http.delete(revoke_uri.replace("{client_id}", id))
                .basic_auth(id, Some(secret))
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", API_VERSION)
                .json(&json!({"access_token": token})),
        )
    }
}

/// A repository_dispatch (`patchbay.push` / `patchbay.pull`, or
/// `params.event_type`) carrying `params.client_payload`.
/// The `client_payload` key that carries the action's id.
const ACTION_ID_KEY: &str = "patchbay_action_id";
/// GitHub's limit on `client_payload`'s top-level keys.
const MAX_PAYLOAD_KEYS: usize = 10;

async fn dispatch(
    call: &Call<'_>,
    action: &ActionCall<'_>,
) -> Result<Map<String, Value>, EffectError> {
    let (Some(owner), Some(repo)) = (call.setting("owner"), call.setting("repo")) else {
        return Err(ProbeError::misconfigured("the owner and repo settings are required").into());
    };
    call.bearer("access_token")?;
    let body = dispatch_body(action.action, action.id, action.params);
    let event_type = body["event_type"].clone();
    let url = format!("{}/repos/{owner}/{repo}/dispatches", call.base_uri);
    let request = api(call, call.http.post(url)).json(&body);
    request::send(request, call.is_oauth()).await?;
    Ok(super::object(
        json!({"repository": format!("{owner}/{repo}"), "event_type": event_type}),
    ))
}

/// A dispatch's body: `params.event_type` (else `patchbay.{action}`) and
/// `params.client_payload` tagged with the action's id.
fn dispatch_body(action: &str, id: &str, params: &Map<String, Value>) -> Value {
    let event_type = params
        .get("event_type")
        .and_then(Value::as_str)
        .map_or_else(|| format!("patchbay.{action}"), str::to_owned);
    let mut payload = params
        .get("client_payload")
        .cloned()
        .unwrap_or_else(|| json!({}));
    // GitHub keeps no record of a dispatch to look for, so a retry after an
    // interrupted attempt may dispatch again (counted on the Action); the
    // id lets the workflow skip a repeat, and an event the dispatch causes
    // names its cause. GitHub takes at most 10 keys.
    if let Some(fields) = payload.as_object_mut()
        && fields.len() < MAX_PAYLOAD_KEYS
    {
        fields.entry(ACTION_ID_KEY).or_insert_with(|| json!(id));
    }
    json!({"event_type": event_type, "client_payload": payload})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_push_calls_for_a_probe() {
        assert_eq!(
            GitHub.webhook_health("push", &Value::Null),
            Some(Health::Changed)
        );
        for other in ["issues", "pull_request", "ping", ""] {
            assert_eq!(GitHub.webhook_health(other, &Value::Null), None, "{other}");
        }
    }

    fn plan(settings: Value, action: &str, params: Value) -> Option<Result<Vec<Planned>, String>> {
        let settings = super::super::object(settings);
        let call = PlanCall {
            base_uri: "https://gh.test",
            settings: &settings,
        };
        GitHub
            .plan(&call, action, &super::super::object(params))
            .map(|r| r.map_err(|e| e.error.public_message().to_owned()))
    }

    #[test]
    fn a_dispatch_is_planned_as_it_would_be_sent() {
        let repo = json!({"owner": "acme", "repo": "web"});
        let planned = plan(
            repo.clone(),
            "push",
            json!({"event_type": "deploy", "client_payload": {"a": 1}}),
        )
        .expect("its own action")
        .expect("a plan");
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].method, "POST");
        assert_eq!(planned[0].url, "https://gh.test/repos/acme/web/dispatches");
        assert_eq!(
            planned[0].body,
            json!({"event_type": "deploy", "client_payload": {"a": 1, "patchbay_action_id": PLANNED_ACTION_ID}})
        );
        assert!(
            planned[0].summary.contains("acme/web"),
            "{}",
            planned[0].summary
        );
        let pull = plan(repo.clone(), "pull", json!({}))
            .expect("its own")
            .expect("a plan");
        assert_eq!(pull[0].body["event_type"], "patchbay.pull");
        assert!(plan(repo, "deploy", json!({})).is_none(), "not GitHub's");
        for settings in [
            json!({"owner": "acme"}),
            json!({"owner": "", "repo": "web"}),
        ] {
            assert!(plan(settings, "push", json!({})).expect("its own").is_err());
        }
    }

    #[test]
    fn a_full_payload_is_sent_as_given_and_a_roomier_one_gains_the_id() {
        let nine: Map<String, Value> = (0..9).map(|i| (format!("k{i}"), json!(i))).collect();
        let mut ten = nine.clone();
        ten.insert("k9".into(), json!(9));
        let body = |payload: &Map<String, Value>| {
            dispatch_body(
                "push",
                "act-1",
                &super::super::object(json!({"client_payload": payload})),
            )
        };
        assert_eq!(body(&nine)["client_payload"][ACTION_ID_KEY], "act-1");
        assert_eq!(body(&ten)["client_payload"], Value::Object(ten.clone()));
    }

    #[test]
    fn a_dispatch_names_the_action_that_sent_it() {
        let dispatched = json!({"client_payload": {"patchbay_action_id": "act-7"}});
        assert_eq!(
            GitHub.webhook_cause("repository_dispatch", &dispatched),
            Some("act-7".to_owned())
        );
        assert_eq!(GitHub.webhook_cause("push", &dispatched), None);
        assert_eq!(
            GitHub.webhook_cause("repository_dispatch", &json!({"client_payload": {}})),
            None
        );
    }
}

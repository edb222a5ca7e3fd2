//! Conversions between the Diagnostics service's types and `patchbay.v1`
//! messages; requests are parsed here, at the edge.

use crate::{
    audit::{
        SeqRange, Verification,
        chain::Break,
        model::{AuditEvent, AuditQuery, AuditScope},
    },
    error::ApiError,
    list_filter::Filter,
    names::{ConnectionName, DeliveryName, ProjectId},
    proto::{
        time::{duration, timestamp},
        v1 as pb,
    },
    webhooks::{
        dry_run::{DryRun, Step},
        model::{DeliveryQuery, DeliveryRecord, DeliveryState},
    },
};

use super::{
    checks::{Diagnosis, Outcome},
    compare::{Drift, Severity},
    health::{Component, HealthState},
    service::DeploymentInfo,
};

pub fn health_state(state: HealthState) -> pb::HealthState {
    match state {
        HealthState::Healthy => pb::HealthState::Healthy,
        HealthState::Degraded => pb::HealthState::Degraded,
        HealthState::Unhealthy => pb::HealthState::Unhealthy,
    }
}

pub fn service_health(components: &[Component], overall: HealthState) -> pb::ServiceHealth {
    pb::ServiceHealth {
        components: components
            .iter()
            .map(|c| pb::ComponentHealth {
                name: c.name.clone(),
                state: health_state(c.state).into(),
                detail: c.detail.clone(),
                latency: c.latency.map(duration),
            })
            .collect(),
        overall: health_state(overall).into(),
    }
}

pub fn deployment_info(info: &DeploymentInfo) -> pb::DeploymentInfo {
    let facts = &info.facts;
    pb::DeploymentInfo {
        version: facts.version.to_owned(),
        git_commit: facts.git_commit.to_owned(),
        schema_version: info.schema_version,
        services: facts
            .services
            .iter()
            .map(|(name, methods)| pb::ServedService {
                name: name.clone(),
                methods: methods.clone(),
            })
            .collect(),
        catalog_hash: info.catalog_hash.clone(),
        config_fingerprint: facts.config_fingerprint.clone(),
        start_time: Some(timestamp(facts.start_time)),
        config: facts.config.clone().into_iter().collect(),
    }
}

fn delivery_state(state: DeliveryState) -> pb::DeliveryState {
    match state {
        DeliveryState::Pending => pb::DeliveryState::Pending,
        DeliveryState::Processed => pb::DeliveryState::Processed,
        DeliveryState::Retrying => pb::DeliveryState::Retrying,
        DeliveryState::DeadLetter => pb::DeliveryState::DeadLetter,
    }
}

pub fn delivery(d: &DeliveryRecord) -> pb::WebhookDelivery {
    pb::WebhookDelivery {
        name: format!("{}/deliveries/{}", d.connection, d.id),
        delivery_id: d.dedupe_key.clone(),
        event_type: d.event_type.clone(),
        state: delivery_state(d.state).into(),
        attempts: d.attempts,
        last_error: d.last_error.clone(),
        body_size: d.body_size,
        receive_time: Some(timestamp(d.receive_time)),
        process_time: d.process_time.map(timestamp),
    }
}

/// `filter` as a query; `state` only where `with_state`.
pub fn delivery_query(filter: &str, with_state: bool) -> Result<DeliveryQuery, ApiError> {
    let keys: &[&str] = if with_state {
        &["state", "event_type", "received_after", "received_before"]
    } else {
        &["event_type", "received_after", "received_before"]
    };
    let f = Filter::parse(filter, keys)?;
    let time = |key: &str| filter_time(&f, key);
    let state = f
        .get("state")
        .map(|v| {
            let short = v.strip_prefix("DELIVERY_STATE_").unwrap_or(v);
            DeliveryState::parse(&short.to_ascii_lowercase()).ok_or_else(|| {
                ApiError::invalid_field(
                    "filter",
                    "state must be PENDING, PROCESSED, RETRYING or DEAD_LETTER",
                )
            })
        })
        .transpose()?;
    Ok(DeliveryQuery {
        state,
        event_type: f.get("event_type").map(str::to_owned),
        received_after: time("received_after")?,
        received_before: time("received_before")?,
    })
}

/// A filter term's RFC 3339 time.
fn filter_time(f: &Filter, key: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    f.get(key)
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| {
                    ApiError::invalid_field("filter", format!("{key} must be an RFC 3339 time"))
                })
        })
        .transpose()
}

/// `projects/{project}`, or `projects/-` for every project's log and the
/// platform's.
pub fn audit_scope(parent: &str) -> Result<AuditScope, ApiError> {
    if parent == "projects/-" {
        return Ok(AuditScope::All);
    }
    ProjectId::parse_name(parent)
        .map(AuditScope::Project)
        .map_err(|e| e.at("parent"))
}

/// VerifyAuditLog's range: `0` leaves an end open; a range needs one chain.
pub fn audit_range(scope: &AuditScope, first: i64, last: i64) -> Result<SeqRange, ApiError> {
    let bound = |field: &str, v: i64| match v {
        0 => Ok(None),
        v if v > 0 => Ok(Some(v)),
        _ => Err(ApiError::invalid_field(field, "must not be negative")),
    };
    let range = SeqRange {
        first: bound("first_seq", first)?,
        last: bound("last_seq", last)?,
    };
    if let (Some(first), Some(last)) = (range.first, range.last)
        && first > last
    {
        return Err(ApiError::invalid_field(
            "last_seq",
            "must not be before first_seq",
        ));
    }
    if range != SeqRange::default() && *scope == AuditScope::All {
        return Err(ApiError::invalid_field(
            "first_seq",
            "a range is a single project's: name the project in parent",
        ));
    }
    Ok(range)
}

pub fn audit_query(filter: &str) -> Result<AuditQuery, ApiError> {
    let f = Filter::parse(
        filter,
        &["actor", "resource", "method", "time_after", "time_before"],
    )?;
    let text = |key: &str| f.get(key).map(str::to_owned);
    Ok(AuditQuery {
        actor: text("actor"),
        resource: text("resource"),
        method: text("method"),
        time_after: filter_time(&f, "time_after")?,
        time_before: filter_time(&f, "time_before")?,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn audit_event(e: &AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        name: e.name(),
        time: Some(timestamp(e.time)),
        actor: e.actor.clone(),
        method: e.method.clone(),
        resource: e.resource.clone(),
        request_id: e.request_id.map(|id| id.to_string()).unwrap_or_default(),
        peer: e.peer.clone(),
        user_agent: e.user_agent.clone(),
        outcome: e.outcome.clone(),
        changes: e
            .changes
            .iter()
            .map(|c| pb::AuditFieldChange {
                field: c.field.clone(),
                before: c.before.clone().unwrap_or_default(),
                after: c.after.clone().unwrap_or_default(),
            })
            .collect(),
        hash: hex(&e.hash),
        prev_hash: hex(&e.prev_hash),
    }
}

pub fn audit_verification(v: &Verification) -> pb::VerifyAuditLogResponse {
    let problem = match v.broken.as_ref().map(|b| b.problem) {
        None => pb::AuditChainBreak::Unspecified,
        Some(Break::Missing) => pb::AuditChainBreak::Missing,
        Some(Break::Altered) => pb::AuditChainBreak::Altered,
        Some(Break::Unlinked) => pb::AuditChainBreak::Unlinked,
    };
    pb::VerifyAuditLogResponse {
        intact: v.broken.is_none(),
        checked_count: i64::try_from(v.checked).unwrap_or(i64::MAX),
        broken_entry: v.broken.as_ref().map(|b| b.name()).unwrap_or_default(),
        problem: problem.into(),
    }
}

pub fn parent(parent: &str) -> Result<ConnectionName, ApiError> {
    ConnectionName::parse(parent).map_err(|e| e.at("parent"))
}

/// The named deliveries' ids, each of which must be under `parent`.
pub fn delivery_ids(parent: &ConnectionName, names: &[String]) -> Result<Vec<String>, ApiError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let field = format!("names[{i}]");
            let parsed = DeliveryName::parse(name).map_err(|e| e.at(&field))?;
            if parsed.connection != *parent {
                return Err(ApiError::invalid_field(
                    &field,
                    "is not a delivery of parent",
                ));
            }
            Ok(parsed.id)
        })
        .collect()
}

pub fn drift(items: &[Drift]) -> Vec<pb::DriftItem> {
    items
        .iter()
        .map(|d| pb::DriftItem {
            field: d.field.clone(),
            local: d.local.clone(),
            remote: d.remote.clone(),
            severity: match d.severity {
                Severity::Info => pb::DriftSeverity::Info,
                Severity::Warning => pb::DriftSeverity::Warning,
                Severity::Critical => pb::DriftSeverity::Critical,
            }
            .into(),
        })
        .collect()
}

pub fn verdict(run: &DryRun) -> pb::VerifyWebhookResponse {
    let verdict = match (run.failed, run.duplicate) {
        (_, true) => pb::WebhookVerdict::Duplicate,
        (None, false) => pb::WebhookVerdict::Valid,
        (Some(_), false) => pb::WebhookVerdict::Invalid,
    };
    let step = match run.failed {
        None => pb::VerificationStep::Unspecified,
        Some(Step::Headers) => pb::VerificationStep::Headers,
        Some(Step::Timestamp) => pb::VerificationStep::Timestamp,
        Some(Step::Signature) => pb::VerificationStep::Signature,
        Some(Step::Dedupe) => pb::VerificationStep::Dedupe,
    };
    pb::VerifyWebhookResponse {
        verdict: verdict.into(),
        failed_step: step.into(),
        reason: run.reason.clone(),
        detail: run.detail.clone(),
        likely_cause: run.likely_cause.unwrap_or_default().to_owned(),
    }
}

/// The captured headers as the bridge would see them.
pub fn captured_headers(
    headers: &std::collections::HashMap<String, String>,
) -> Result<axum::http::HeaderMap, ApiError> {
    use axum::http::{HeaderName, HeaderValue};
    let mut map = axum::http::HeaderMap::new();
    for (name, value) in headers {
        let field = format!("headers[{name}]");
        let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| ApiError::invalid_field(&field, "is not a header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| ApiError::invalid_field(&field, "is not a header value"))?;
        map.append(name, value);
    }
    Ok(map)
}

pub fn diagnosis(d: &Diagnosis) -> pb::ConnectionDiagnosis {
    pb::ConnectionDiagnosis {
        connection: d.connection.to_string(),
        checks: d
            .checks
            .iter()
            .map(|c| pb::DiagnosticCheck {
                name: c.name.to_owned(),
                result: match c.outcome {
                    Outcome::Pass => pb::CheckResult::Pass,
                    Outcome::Warn => pb::CheckResult::Warn,
                    Outcome::Fail => pb::CheckResult::Fail,
                }
                .into(),
                message: c.message.clone(),
                remediation: c.remediation.clone(),
                reason: c.reason.to_owned(),
                action: c.action.unwrap_or_default().to_owned(),
            })
            .collect(),
        recommendations: d.recommendations(),
        critical_issues: d.critical_issues(),
    }
}

pub fn project_diagnosis(project: &str, diagnoses: &[Diagnosis]) -> pb::ProjectDiagnosis {
    let count = |outcome| {
        i32::try_from(diagnoses.iter().filter(|d| d.worst() == outcome).count()).unwrap_or(i32::MAX)
    };
    pb::ProjectDiagnosis {
        project: project.to_owned(),
        connections: diagnoses.iter().map(diagnosis).collect(),
        summary: Some(pb::DiagnosisSummary {
            connections: i32::try_from(diagnoses.len()).unwrap_or(i32::MAX),
            passing: count(Outcome::Pass),
            warning: count(Outcome::Warn),
            failing: count(Outcome::Fail),
        }),
    }
}

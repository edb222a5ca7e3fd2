//! Conversions between alert rules and `patchbay.v1` messages: requests
//! are parsed and bounded here, at the edge.

use std::time::Duration;

use crate::{
    error::ApiError,
    field_mask::{Selection, copy_selected},
    names::{AlertRuleName, ChannelName, ConnectionName, TypeId},
    proto::{
        time::{duration, duration_from_proto, timestamp},
        v1::{self as pb, alert_rule::Condition as PbCondition},
    },
    status::model::Level,
};

use super::model::{AlertRule, Condition, Resolution, RuleDefinition, Scope, Severity};

pub const UPDATABLE: [&str; 7] = [
    "display_name",
    "severity",
    "scope",
    "channels",
    "condition",
    "resolution",
    "disabled",
];

/// Most channels one rule notifies.
const MAX_CHANNELS: usize = 10;
const MAX_DISPLAY_NAME: usize = 200;
const DAY: Duration = Duration::from_secs(24 * 3600);

pub fn apply_mask(base: &mut pb::AlertRule, patch: &pb::AlertRule, fields: &Selection) {
    copy_selected!(base, patch, fields, pb::AlertRule::default();
        display_name,
        severity,
        scope,
        channels,
        condition,
        resolution,
        disabled
    );
}

fn invalid(field: &str, why: impl Into<String>) -> ApiError {
    ApiError::invalid_field(format!("alert_rule.{field}"), why)
}

pub fn definition_from_proto(
    name: AlertRuleName,
    r: &pb::AlertRule,
) -> Result<RuleDefinition, ApiError> {
    let display_name = r.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > MAX_DISPLAY_NAME {
        return Err(invalid(
            "display_name",
            format!("is required, at most {MAX_DISPLAY_NAME} characters"),
        ));
    }
    let severity = match pb::AlertSeverity::try_from(r.severity) {
        Ok(pb::AlertSeverity::Critical) => Severity::Critical,
        Ok(pb::AlertSeverity::Warning) => Severity::Warning,
        Ok(pb::AlertSeverity::Info) => Severity::Info,
        _ => return Err(invalid("severity", "must be CRITICAL, WARNING or INFO")),
    };
    let scope = scope(&name, &r.scope)?;
    let channels = channels(&name, &r.channels)?;
    let condition = condition(r.condition.as_ref())?;
    let resolution = resolution(r.resolution.as_ref())?;
    Ok(RuleDefinition {
        name,
        display_name: display_name.to_owned(),
        severity,
        scope,
        channels,
        condition,
        resolution,
        disabled: r.disabled,
    })
}

fn scope(name: &AlertRuleName, scope: &str) -> Result<Scope, ApiError> {
    if scope.is_empty() || scope == name.project.name() {
        return Ok(Scope::Project);
    }
    if scope.starts_with("integrationTypes/") {
        return TypeId::parse_name(scope)
            .map(Scope::Type)
            .map_err(|e| e.at("alert_rule.scope"));
    }
    let connection = ConnectionName::parse(scope).map_err(|e| e.at("alert_rule.scope"))?;
    if connection.project != name.project {
        return Err(invalid(
            "scope",
            "must be a connection in the rule's project",
        ));
    }
    Ok(Scope::Connection(connection.id))
}

fn channels(name: &AlertRuleName, channels: &[String]) -> Result<Vec<ChannelName>, ApiError> {
    if channels.len() > MAX_CHANNELS {
        return Err(invalid("channels", format!("at most {MAX_CHANNELS}")));
    }
    let mut parsed: Vec<ChannelName> = Vec::with_capacity(channels.len());
    for (i, channel) in channels.iter().enumerate() {
        let field = format!("alert_rule.channels[{i}]");
        let channel = ChannelName::parse(channel).map_err(|e| e.at(&field))?;
        if channel.project != name.project {
            return Err(ApiError::invalid_field(
                field,
                "must be in the rule's project",
            ));
        }
        if parsed.contains(&channel) {
            return Err(ApiError::invalid_field(field, "is listed twice"));
        }
        parsed.push(channel);
    }
    Ok(parsed)
}

fn condition(condition: Option<&PbCondition>) -> Result<Condition, ApiError> {
    match condition {
        None => Err(invalid(
            "condition",
            "set one of consecutive_failures, error_rate, rate_limit, status, dead_letters",
        )),
        Some(PbCondition::ConsecutiveFailures(c)) if c.more_than >= 1 => {
            Ok(Condition::ConsecutiveFailures {
                more_than: c.more_than,
            })
        }
        Some(PbCondition::ConsecutiveFailures(_)) => Err(invalid(
            "consecutive_failures.more_than",
            "must be at least 1",
        )),
        Some(PbCondition::ErrorRate(c)) => {
            if !(c.above_percent > 0.0 && c.above_percent < 100.0) {
                return Err(invalid(
                    "error_rate.above_percent",
                    "must be between 0 and 100, exclusive",
                ));
            }
            let window = c.window.as_ref().and_then(duration_from_proto);
            let window = match window {
                Some(w) if w >= Duration::from_secs(60) && w <= 7 * DAY => {
                    Duration::from_secs(w.as_secs())
                }
                _ => {
                    return Err(invalid(
                        "error_rate.window",
                        "must be from 1 minute to 7 days",
                    ));
                }
            };
            if c.min_samples < 2 {
                return Err(invalid("error_rate.min_samples", "must be at least 2"));
            }
            Ok(Condition::ErrorRate {
                above_percent: c.above_percent,
                window,
                min_samples: c.min_samples,
            })
        }
        Some(PbCondition::RateLimit(c)) if c.below >= 1 => {
            Ok(Condition::RateLimit { below: c.below })
        }
        Some(PbCondition::RateLimit(_)) => Err(invalid("rate_limit.below", "must be at least 1")),
        Some(PbCondition::Status(c)) => status_condition(c),
        Some(PbCondition::DeadLetters(c)) if c.more_than >= 0 => Ok(Condition::DeadLetters {
            more_than: c.more_than,
        }),
        Some(PbCondition::DeadLetters(_)) => {
            Err(invalid("dead_letters.more_than", "must not be negative"))
        }
        Some(PbCondition::HeldRuns(c)) if c.more_than >= 0 => Ok(Condition::HeldRuns {
            more_than: c.more_than,
        }),
        Some(PbCondition::HeldRuns(_)) => {
            Err(invalid("held_runs.more_than", "must not be negative"))
        }
    }
}

fn status_condition(c: &pb::StatusCondition) -> Result<Condition, ApiError> {
    let level = match pb::StatusLevel::try_from(c.level) {
        Ok(pb::StatusLevel::Unspecified) => None,
        Ok(pb::StatusLevel::Error) => Some(Level::Error),
        Ok(pb::StatusLevel::Warning) => Some(Level::Warning),
        _ => return Err(invalid("status.level", "must be ERROR or WARNING")),
    };
    let reason = (!c.reason.is_empty()).then(|| c.reason.clone());
    let valid_reason =
        |r: &str| r.len() <= 64 && r.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_');
    match (&level, &reason) {
        (Some(_), None) => {}
        (None, Some(r)) if valid_reason(r) => {}
        (None, Some(_)) => {
            return Err(invalid(
                "status.reason",
                "must be a reason such as OAUTH_REVOKED (A-Z and _, at most 64)",
            ));
        }
        _ => return Err(invalid("status", "set exactly one of level and reason")),
    }
    Ok(Condition::Status { level, reason })
}

fn resolution(r: Option<&pb::AlertResolution>) -> Result<Resolution, ApiError> {
    let default = Resolution::default();
    let Some(r) = r else {
        return Ok(default);
    };
    let healthy_observations = match r.healthy_observations {
        0 => default.healthy_observations,
        n @ 1..=100 => n,
        _ => {
            return Err(invalid(
                "resolution.healthy_observations",
                "must be from 1 to 100 (0: 3)",
            ));
        }
    };
    let quiet_period = match &r.quiet_period {
        None => default.quiet_period,
        Some(d) => match duration_from_proto(d) {
            Some(d) if d >= Duration::from_secs(1) && d <= 7 * DAY => {
                Duration::from_secs(d.as_secs())
            }
            _ => {
                return Err(invalid(
                    "resolution.quiet_period",
                    "must be from 1 second to 7 days",
                ));
            }
        },
    };
    Ok(Resolution {
        healthy_observations,
        quiet_period,
    })
}

pub fn to_proto(rule: &AlertRule) -> pb::AlertRule {
    let d = &rule.definition;
    pb::AlertRule {
        name: d.name.to_string(),
        display_name: d.display_name.clone(),
        severity: match d.severity {
            Severity::Critical => pb::AlertSeverity::Critical,
            Severity::Warning => pb::AlertSeverity::Warning,
            Severity::Info => pb::AlertSeverity::Info,
        }
        .into(),
        scope: match &d.scope {
            Scope::Project => String::new(),
            Scope::Connection(id) => ConnectionName {
                project: d.name.project.clone(),
                id: id.clone(),
            }
            .to_string(),
            Scope::Type(t) => t.name(),
        },
        channels: d.channels.iter().map(ToString::to_string).collect(),
        condition: Some(condition_to_proto(&d.condition)),
        resolution: Some(pb::AlertResolution {
            healthy_observations: d.resolution.healthy_observations,
            quiet_period: Some(duration(d.resolution.quiet_period)),
        }),
        disabled: d.disabled,
        default_rule: rule.default_rule,
        etag: rule.etag.clone(),
        create_time: Some(timestamp(rule.create_time)),
        update_time: Some(timestamp(rule.update_time)),
    }
}

fn condition_to_proto(c: &Condition) -> PbCondition {
    match c {
        Condition::ConsecutiveFailures { more_than } => {
            PbCondition::ConsecutiveFailures(pb::ConsecutiveFailuresCondition {
                more_than: *more_than,
            })
        }
        Condition::ErrorRate {
            above_percent,
            window,
            min_samples,
        } => PbCondition::ErrorRate(pb::ErrorRateCondition {
            above_percent: *above_percent,
            window: Some(duration(*window)),
            min_samples: *min_samples,
        }),
        Condition::RateLimit { below } => {
            PbCondition::RateLimit(pb::RateLimitCondition { below: *below })
        }
        Condition::Status { level, reason } => PbCondition::Status(pb::StatusCondition {
            level: level
                .map(crate::status::proto::level)
                .unwrap_or(pb::StatusLevel::Unspecified)
                .into(),
            reason: reason.clone().unwrap_or_default(),
        }),
        Condition::DeadLetters { more_than } => {
            PbCondition::DeadLetters(pb::DeadLettersCondition {
                more_than: *more_than,
            })
        }
        Condition::HeldRuns { more_than } => PbCondition::HeldRuns(pb::HeldRunsCondition {
            more_than: *more_than,
        }),
    }
}

//! The rules every project starts with: critical after more than 3 failures
//! in a row, warning when more than 5% of calls fail, info when a provider
//! has fewer than 100 requests left. Seeded once per project, with its
//! first connection or rule; editable and removable like any other rule.

use std::time::Duration;

use deadpool_postgres::GenericClient;

use super::model::{Condition, Resolution, RuleDefinition, Scope, Severity};
use crate::{
    etag::new_etag,
    names::{AlertRuleName, ProjectId, ResourceId},
    store::{self, StoreError, alert_rules::InsertOutcome},
};

fn defaults(project: &ProjectId) -> Vec<RuleDefinition> {
    let rule = |id: &str, display_name: &str, severity, condition| RuleDefinition {
        name: AlertRuleName {
            project: project.clone(),
            id: ResourceId::parse("alert rule", id)
                .unwrap_or_else(|_| unreachable!("the default rule ids are valid")),
        },
        display_name: display_name.to_owned(),
        severity,
        scope: Scope::Project,
        channels: Vec::new(),
        condition,
        resolution: Resolution::default(),
        disabled: false,
    };
    vec![
        rule(
            "consecutive-failures",
            "More than 3 failures in a row",
            Severity::Critical,
            Condition::ConsecutiveFailures { more_than: 3 },
        ),
        rule(
            "error-rate",
            "More than 5% of calls failing",
            Severity::Warning,
            Condition::ErrorRate {
                above_percent: 5.0,
                window: Duration::from_secs(3600),
                min_samples: 20,
            },
        ),
        rule(
            "rate-limit",
            "Fewer than 100 requests left in a rate limit",
            Severity::Info,
            Condition::RateLimit { below: 100 },
        ),
    ]
}

/// Gives `project` its default rules, in the caller's transaction, unless
/// it had them before; returns the ids of the rules created.
pub async fn seed(tx: &impl GenericClient, project: &ProjectId) -> Result<Vec<String>, StoreError> {
    if !store::alert_rules::claim_defaults(tx, project).await? {
        return Ok(Vec::new());
    }
    let mut created = Vec::new();
    for rule in defaults(project) {
        // A rule the project made first under the same id stays.
        if let InsertOutcome::Inserted(rule) =
            store::alert_rules::insert(tx, &rule, true, &new_etag(), None).await?
        {
            created.push(rule.definition.name.id.to_string());
        }
    }
    Ok(created)
}

//! Names of resources under a project: `projects/{project}/{collection}/{id}`,
//! and the ones nested a level deeper (deliveries, runs).

use std::fmt;

use super::{NameError, ProjectId, ResourceId, parse_child, truncate_for_message};

/// `projects/{project}/connections/{connection}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionName {
    pub project: ProjectId,
    pub id: ResourceId,
}

impl ConnectionName {
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let (project, id) = parse_child(
            name,
            "connections",
            "projects/{project}/connections/{connection}",
        )?;
        Ok(Self {
            project,
            id: ResourceId::parse("connection", id)?,
        })
    }
}

impl fmt::Display for ConnectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "projects/{}/connections/{}", self.project, self.id)
    }
}

/// `projects/{project}/connections/{connection}/deliveries/{delivery}`;
/// the delivery id is the bridge's, 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryName {
    pub connection: ConnectionName,
    pub id: String,
}

impl DeliveryName {
    pub fn parse(name: &str) -> Result<Self, NameError> {
        const EXPECTED: &str = "projects/{project}/connections/{connection}/deliveries/{delivery}";
        let pattern = || NameError::Pattern {
            expected: EXPECTED,
            value: truncate_for_message(name),
        };
        let (connection, id) = name.rsplit_once("/deliveries/").ok_or_else(pattern)?;
        if id.len() != 32
            || !id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(NameError::InvalidId {
                kind: "delivery",
                value: truncate_for_message(id),
            });
        }
        Ok(Self {
            connection: ConnectionName::parse(connection)?,
            id: id.to_owned(),
        })
    }
}

/// A resource directly under a project: `projects/{project}/{collection}/{id}`.
macro_rules! project_child {
    ($(#[$doc:meta])* $name:ident, $collection:literal, $pattern:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name {
            pub project: ProjectId,
            pub id: ResourceId,
        }

        impl $name {
            pub fn parse(name: &str) -> Result<Self, NameError> {
                let (project, id) = parse_child(name, $collection, $pattern)?;
                Ok(Self {
                    project,
                    id: ResourceId::parse($kind, id)?,
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "projects/{}/{}/{}", self.project, $collection, self.id)
            }
        }
    };
}

project_child!(
    /// `projects/{project}/mappingTemplates/{template}`.
    TemplateName,
    "mappingTemplates",
    "projects/{project}/mappingTemplates/{template}",
    "mapping template"
);

project_child!(
    /// `projects/{project}/actions/{action}`.
    ActionName,
    "actions",
    "projects/{project}/actions/{action}",
    "action"
);

project_child!(
    /// `projects/{project}/alertRules/{rule}`.
    AlertRuleName,
    "alertRules",
    "projects/{project}/alertRules/{rule}",
    "alert rule"
);

project_child!(
    /// `projects/{project}/notificationChannels/{channel}`.
    ChannelName,
    "notificationChannels",
    "projects/{project}/notificationChannels/{channel}",
    "notification channel"
);

project_child!(
    /// `projects/{project}/alerts/{alert}`.
    AlertName,
    "alerts",
    "projects/{project}/alerts/{alert}",
    "alert"
);

project_child!(
    /// `projects/{project}/automations/{automation}`.
    AutomationName,
    "automations",
    "projects/{project}/automations/{automation}",
    "automation"
);

/// `projects/{project}/automations/{automation}/runs/{run}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunName {
    pub automation: AutomationName,
    pub id: ResourceId,
}

impl RunName {
    pub fn parse(name: &str) -> Result<Self, NameError> {
        const EXPECTED: &str = "projects/{project}/automations/{automation}/runs/{run}";
        let (automation, id) = name
            .rsplit_once("/runs/")
            .ok_or_else(|| NameError::Pattern {
                expected: EXPECTED,
                value: truncate_for_message(name),
            })?;
        Ok(Self {
            automation: AutomationName::parse(automation)?,
            id: ResourceId::parse("run", id)?,
        })
    }
}

impl fmt::Display for RunName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/runs/{}", self.automation, self.id)
    }
}

use std::collections::HashMap;

use crate::{error::ApiError, names::ProjectId};

/// A caller's role in one project. Ordered: each role may do what the roles
/// below it may do. Owner and admin have the same rights.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "viewer" => Some(Self::Viewer),
            "editor" => Some(Self::Editor),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// Whether this role grants what `required` grants.
    pub fn satisfies(self, required: Role) -> bool {
        // Owner and admin are peers: an admin may do whatever needs "owner".
        let rank = |r: Role| match r {
            Role::Viewer => 0,
            Role::Editor => 1,
            Role::Admin | Role::Owner => 2,
        };
        rank(self) >= rank(required)
    }
}

/// Where a call came from, as the audit log records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The RPC, e.g. `IntegrationRegistry.CreateConnection`.
    pub method: String,
    /// The client's address; empty when unknown.
    pub peer: String,
    pub user_agent: String,
}

/// An authenticated caller, built from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    subject: String,
    projects: HashMap<ProjectId, Role>,
    admin: bool,
    origin: Origin,
}

impl Caller {
    pub fn new(subject: String, projects: HashMap<ProjectId, Role>, admin: bool) -> Self {
        Self {
            subject,
            projects,
            admin,
            origin: Origin::default(),
        }
    }

    /// Patchbay itself, acting without a token (a command, a background
    /// job): a platform admin named `subject`, whose audit entries carry
    /// `method` and this build's version as the user agent.
    pub fn system(subject: &str, method: &str) -> Self {
        Self::new(subject.to_owned(), HashMap::new(), true).with_origin(Origin {
            method: method.to_owned(),
            peer: String::new(),
            user_agent: format!("patchbay/{}", env!("CARGO_PKG_VERSION")),
        })
    }

    pub fn with_origin(self, origin: Origin) -> Self {
        Self { origin, ..self }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The token's `sub`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Whether the caller is a platform admin.
    pub fn is_platform_admin(&self) -> bool {
        self.admin
    }

    pub fn role_in(&self, project: &ProjectId) -> Option<Role> {
        self.projects.get(project).copied()
    }

    pub fn projects(&self) -> impl Iterator<Item = (&ProjectId, Role)> {
        self.projects.iter().map(|(p, r)| (p, *r))
    }

    /// The caller's role in `project` if it is at least `required`.
    ///
    /// A caller with no role gets the same answer whether or not anything
    /// exists in the project, so names cannot be probed.
    pub fn require(&self, project: &ProjectId, required: Role) -> Result<Role, ApiError> {
        match self.role_in(project) {
            None => Err(ApiError::permission_denied(
                "PROJECT_ACCESS_DENIED",
                format!("no role in project {project}"),
            )),
            Some(role) if role.satisfies(required) => Ok(role),
            Some(role) => Err(ApiError::permission_denied(
                "ROLE_INSUFFICIENT",
                format!(
                    "role {} in project {project} is below the required {}",
                    role.as_str(),
                    required.as_str()
                ),
            )
            .with_metadata("required_role", required.as_str())),
        }
    }

    /// Platform-admin-only operations (catalog writes).
    pub fn require_platform_admin(&self) -> Result<(), ApiError> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::permission_denied(
                "PLATFORM_ADMIN_REQUIRED",
                "this operation needs the admin claim",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> (Caller, ProjectId) {
        let project = ProjectId::parse("acme").expect("valid id");
        let caller = Caller::new("u".into(), HashMap::from([(project.clone(), role)]), false);
        (caller, project)
    }

    #[test]
    fn roles_are_ordered_with_owner_and_admin_as_peers() {
        assert!(Role::Owner.satisfies(Role::Admin));
        assert!(Role::Admin.satisfies(Role::Owner));
        assert!(Role::Editor.satisfies(Role::Viewer));
        assert!(!Role::Viewer.satisfies(Role::Editor));
        assert!(!Role::Editor.satisfies(Role::Admin));
    }

    #[test]
    fn require_names_the_missing_role() {
        let (viewer, project) = caller(Role::Viewer);
        let err = viewer
            .require(&project, Role::Editor)
            .expect_err("viewer is not editor");
        assert_eq!(err.reason(), "ROLE_INSUFFICIENT");
        let other = ProjectId::parse("other").expect("valid id");
        let err = viewer
            .require(&other, Role::Viewer)
            .expect_err("no role in other");
        assert_eq!(err.reason(), "PROJECT_ACCESS_DENIED");
    }
}

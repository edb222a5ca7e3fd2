//! AIP-122 resource names and ids, parsed once at the edge.

use std::fmt;

/// A project id, as the host product names it: 1 to 128 characters of ASCII
/// letters, digits, `-` and `_`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectId(String);

impl ProjectId {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let valid = !s.is_empty()
            && s.len() <= 128
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError::InvalidId {
                kind: "project",
                value: truncate_for_message(s),
            })
        }
    }

    /// Parses `projects/{project}`.
    pub fn parse_name(name: &str) -> Result<Self, NameError> {
        let id = name
            .strip_prefix("projects/")
            .ok_or_else(|| NameError::Pattern {
                expected: "projects/{project}",
                value: truncate_for_message(name),
            })?;
        Self::parse(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `projects/{project}`.
    pub fn name(&self) -> String {
        format!("projects/{}", self.0)
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{value:?} is not a valid {kind} id")]
    InvalidId { kind: &'static str, value: String },
    #[error("{value:?} does not match {expected}")]
    Pattern {
        expected: &'static str,
        value: String,
    },
}

/// Keeps error messages short when a client sends something huge.
fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids() {
        assert!(ProjectId::parse("acme").is_ok());
        assert!(ProjectId::parse("a1-b_2").is_ok());
        assert!(ProjectId::parse("").is_err());
        assert!(ProjectId::parse("-x").is_err());
        assert!(ProjectId::parse("a/b").is_err());
        assert!(ProjectId::parse(&"a".repeat(129)).is_err());
        assert_eq!(
            ProjectId::parse_name("projects/acme").map(|p| p.name()),
            Ok("projects/acme".to_owned())
        );
        assert!(ProjectId::parse_name("acme").is_err());
    }
}

//! AIP-122 resource names and ids, parsed once at the edge: the ids here,
//! the names of resources under a project in `children.rs`.

mod children;

use std::fmt;

pub use children::{
    ActionName, AlertName, AlertRuleName, AutomationName, ChannelName, ConnectionName,
    DeliveryName, RunName, TemplateName,
};

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

/// The id of a resource inside a project (a connection, a mapping template):
/// AIP-122 style, `[a-z][a-z0-9-]{0,62}`, not ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(String);

impl ResourceId {
    pub fn parse(kind: &'static str, s: &str) -> Result<Self, NameError> {
        if is_aip_id(s, 1) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError::InvalidId {
                kind,
                value: truncate_for_message(s),
            })
        }
    }

    /// A fresh id: `{prefix}-` and eight random lowercase letters and digits.
    pub fn generate(prefix: &str) -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        let suffix: String = (0..8)
            .map(|_| char::from(ALPHABET[rand::Rng::random_range(&mut rng, 0..ALPHABET.len())]))
            .collect();
        let prefix: String = prefix.chars().take(50).collect();
        Self(format!("{prefix}-{suffix}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An integration type's id, `[a-z][a-z0-9-]{1,62}`: `github`, `vercel`, ...
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(String);

impl TypeId {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if is_aip_id(s, 2) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError::InvalidId {
                kind: "integration type",
                value: truncate_for_message(s),
            })
        }
    }

    /// Parses `integrationTypes/{type}`.
    pub fn parse_name(name: &str) -> Result<Self, NameError> {
        let id = name
            .strip_prefix("integrationTypes/")
            .ok_or_else(|| NameError::Pattern {
                expected: "integrationTypes/{type}",
                value: truncate_for_message(name),
            })?;
        Self::parse(id)
    }

    /// Accepts `integrationTypes/{type}` or the bare id, as filters do.
    pub fn parse_loose(s: &str) -> Result<Self, NameError> {
        match s.strip_prefix("integrationTypes/") {
            Some(id) => Self::parse(id),
            None => Self::parse(s),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `integrationTypes/{type}`.
    pub fn name(&self) -> String {
        format!("integrationTypes/{}", self.0)
    }
}

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names serialize as the strings clients see (for hashing and storage).
macro_rules! serialize_as_display {
    ($($name:ty),*) => {$(
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    )*};
}

serialize_as_display!(
    ProjectId,
    ResourceId,
    TypeId,
    ConnectionName,
    TemplateName,
    AlertName,
    AlertRuleName
);

/// Names deserialize through their parsers, so stored names are re-checked.
macro_rules! deserialize_with_parse {
    ($($name:ty),*) => {$(
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

deserialize_with_parse!(ProjectId, TypeId, ConnectionName, AlertName, AlertRuleName);

/// Splits `projects/{project}/{collection}/{id}`.
fn parse_child<'a>(
    name: &'a str,
    collection: &str,
    expected: &'static str,
) -> Result<(ProjectId, &'a str), NameError> {
    let pattern = || NameError::Pattern {
        expected,
        value: truncate_for_message(name),
    };
    let rest = name.strip_prefix("projects/").ok_or_else(pattern)?;
    let (project, rest) = rest.split_once('/').ok_or_else(pattern)?;
    let (found, id) = rest.split_once('/').ok_or_else(pattern)?;
    if found != collection {
        return Err(pattern());
    }
    Ok((ProjectId::parse(project)?, id))
}

/// A field name as settings and mapped records use it: lower_snake_case,
/// 1 to 63 characters, starting with a letter.
pub fn is_field_name(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `[a-z][a-z0-9-]*`, `min..=63` long, not ending with `-`.
fn is_aip_id(s: &str, min: usize) -> bool {
    (min..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
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

impl NameError {
    /// The error as an INVALID_ARGUMENT on the request field that held it.
    pub fn at(self, field: &str) -> crate::error::ApiError {
        crate::error::ApiError::invalid_field(field, self.to_string())
    }
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

    #[test]
    fn child_names() {
        let name = ConnectionName::parse("projects/acme/connections/gh-main").expect("valid");
        assert_eq!(name.project.as_str(), "acme");
        assert_eq!(name.to_string(), "projects/acme/connections/gh-main");
        assert!(ConnectionName::parse("projects/acme/mappingTemplates/x").is_err());
        assert!(ConnectionName::parse("projects/acme/connections/").is_err());
        assert!(ConnectionName::parse("projects/acme/connections/Bad").is_err());
        assert!(ConnectionName::parse("projects/acme/connections/a/b").is_err());
        assert!(ConnectionName::parse("projects/acme/connections/x-").is_err());
        assert!(TemplateName::parse("projects/acme/mappingTemplates/contacts").is_ok());
        assert!(TypeId::parse_name("integrationTypes/github").is_ok());
        assert!(TypeId::parse("g").is_err());
        let generated = ResourceId::generate("github");
        assert!(ResourceId::parse("connection", generated.as_str()).is_ok());
    }
}

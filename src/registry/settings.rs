//! Connection settings and credentials checked against their type's fields.
//! Every problem is reported, one violation per field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::model::{ConfigField, FieldKind, TypeSpec};
use crate::error::FieldViolation;

/// Largest credential value accepted, in bytes.
const MAX_CREDENTIAL_LEN: usize = 16 * 1024;

/// Checks `settings` against the type's non-secret fields.
pub fn check_settings(
    spec: &TypeSpec,
    settings: &Map<String, Value>,
    path: &str,
) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    for (key, value) in settings {
        let field_path = format!("{path}.{key}");
        match spec.config_fields.iter().find(|f| &f.name == key) {
            None => violations.push(FieldViolation::new(
                field_path,
                "unknown field for this integration type",
            )),
            Some(f) if f.secret => violations.push(FieldViolation::new(
                field_path,
                "is a credential: set it with SetConnectionCredentials",
            )),
            Some(f) => {
                if let Some(problem) = check_value(f, value) {
                    violations.push(FieldViolation::new(field_path, problem));
                }
            }
        }
    }
    for f in spec.setting_fields().filter(|f| f.required) {
        if settings.get(&f.name).is_none_or(Value::is_null) {
            violations.push(FieldViolation::new(
                format!("{path}.{}", f.name),
                "is required",
            ));
        }
    }
    violations
}

/// Checks a credentials map against the type's secret fields.
pub fn check_credentials(
    spec: &TypeSpec,
    credentials: &BTreeMap<String, String>,
    path: &str,
) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    for (key, value) in credentials {
        let field_path = format!("{path}.{key}");
        match spec.credential_fields().find(|f| &f.name == key) {
            None => violations.push(FieldViolation::new(
                field_path,
                "unknown credential for this integration type",
            )),
            Some(_) if value.is_empty() => {
                violations.push(FieldViolation::new(field_path, "must not be empty"))
            }
            Some(_) if value.len() > MAX_CREDENTIAL_LEN => {
                violations.push(FieldViolation::new(field_path, "is longer than 16 KiB"));
            }
            Some(f) => {
                if let Some(problem) = check_string(f, value) {
                    violations.push(FieldViolation::new(field_path, problem));
                }
            }
        }
    }
    for f in spec.credential_fields().filter(|f| f.required) {
        if !credentials.contains_key(&f.name) {
            violations.push(FieldViolation::new(
                format!("{path}.{}", f.name),
                "is required",
            ));
        }
    }
    if let Some(expires_at) = credentials.get("expires_at")
        && spec.credential_fields().any(|f| f.name == "expires_at")
        && !expires_at.is_empty()
        && parse_expiry(expires_at).is_none()
    {
        violations.push(FieldViolation::new(
            format!("{path}.expires_at"),
            "must be an RFC 3339 time or Unix seconds",
        ));
    }
    violations
}

/// `expires_at` as RFC 3339 or Unix seconds.
pub fn parse_expiry(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    s.parse::<i64>()
        .ok()
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
}

fn check_value(field: &ConfigField, value: &Value) -> Option<String> {
    let ok = match (field.kind, value) {
        (_, Value::Null) => true,
        (FieldKind::String, Value::String(_)) => true,
        (FieldKind::Url, Value::String(s)) => return url_problem(s),
        (FieldKind::Integer, Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        (FieldKind::Number, Value::Number(_)) => true,
        (FieldKind::Boolean, Value::Bool(_)) => true,
        _ => false,
    };
    (!ok).then(|| format!("must be {}", kind_name(field.kind)))
}

/// Credentials arrive as strings; typed ones must parse.
fn check_string(field: &ConfigField, value: &str) -> Option<String> {
    let ok = match field.kind {
        FieldKind::String => true,
        FieldKind::Url => return url_problem(value),
        FieldKind::Integer => value.parse::<i64>().is_ok(),
        FieldKind::Number => value.parse::<f64>().is_ok_and(f64::is_finite),
        FieldKind::Boolean => matches!(value, "true" | "false"),
    };
    (!ok).then(|| format!("must be {}", kind_name(field.kind)))
}

fn url_problem(s: &str) -> Option<String> {
    match url::Url::parse(s) {
        Ok(u) if u.has_host() => None,
        _ => Some("must be an absolute URL with a host".to_owned()),
    }
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::String => "a string",
        FieldKind::Integer => "a whole number",
        FieldKind::Number => "a number",
        FieldKind::Boolean => "true or false",
        FieldKind::Url => "an absolute URL",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::registry::model::SignatureScheme;

    fn spec() -> TypeSpec {
        let field = |name: &str, kind, required, secret| ConfigField {
            name: name.into(),
            kind,
            required,
            secret,
            description: String::new(),
        };
        TypeSpec {
            config_fields: vec![
                field("repo", FieldKind::String, true, false),
                field("port", FieldKind::Integer, false, false),
                field("url", FieldKind::Url, false, false),
                field("token", FieldKind::String, true, true),
            ],
            actions: vec![],
            signature_scheme: SignatureScheme::Standard,
            signature_header: None,
            webhook_tolerance_secs: None,
            probe: "http".into(),
            api_base_uri: String::new(),
            oauth: None,
            docs_uri: String::new(),
        }
    }

    #[test]
    fn every_settings_problem_is_reported() {
        let settings = json!({"port": 1.5, "url": "nope", "extra": 1, "token": "x"});
        let Value::Object(settings) = settings else {
            unreachable!()
        };
        let mut fields: Vec<String> = check_settings(&spec(), &settings, "s")
            .into_iter()
            .map(|v| v.field)
            .collect();
        fields.sort();
        assert_eq!(fields, ["s.extra", "s.port", "s.repo", "s.token", "s.url"]);
    }

    #[test]
    fn credentials_are_checked() {
        let creds = BTreeMap::from([("nope".to_owned(), "x".to_owned())]);
        let fields: Vec<String> = check_credentials(&spec(), &creds, "c")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["c.nope", "c.token"]);
    }
}

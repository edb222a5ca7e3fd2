//! Applies a mapping to one external record: a closed set of declarative
//! transformations and typed conversions, never user code. Every field
//! error is reported, not just the first.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Number, Value};

use super::model::{FieldMapping, FieldType, Transformation};

/// One field that could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub target_field: String,
    pub source_path: String,
    /// MISSING_REQUIRED, TRANSFORM_FAILED or TYPE_MISMATCH.
    pub reason: &'static str,
    pub message: String,
}

/// Maps `record` through `fields`: the fields that mapped, and an error for
/// each one that did not.
pub fn transform(
    fields: &[FieldMapping],
    record: &Map<String, Value>,
) -> (Map<String, Value>, Vec<FieldError>) {
    let mut out = Map::new();
    let mut errors = Vec::new();
    for field in fields {
        let error = |reason, message: String| FieldError {
            target_field: field.target_field.clone(),
            source_path: field.source_path.clone(),
            reason,
            message,
        };
        let source = lookup(record, &field.source_path).filter(|v| !v.is_null());
        let value = match (source, &field.default_value) {
            (Some(v), _) => v.clone(),
            (None, Some(default)) => {
                out.insert(field.target_field.clone(), default.clone());
                continue;
            }
            (None, None) if field.required => {
                errors.push(error(
                    "MISSING_REQUIRED",
                    format!("{} is missing", field.source_path),
                ));
                continue;
            }
            (None, None) => continue,
        };
        let transformed = field
            .transformations
            .iter()
            .try_fold(value, |v, t| apply(*t, v).map_err(|why| (t, why)));
        let value = match transformed {
            Ok(v) => v,
            Err((t, why)) => {
                errors.push(error("TRANSFORM_FAILED", format!("{}: {why}", t.as_str())));
                continue;
            }
        };
        match conform(field.field_type, value) {
            Ok(v) => {
                out.insert(field.target_field.clone(), v);
            }
            Err(found) => errors.push(error(
                "TYPE_MISMATCH",
                format!("expected {}, found {found}", field.field_type.as_str()),
            )),
        }
    }
    (out, errors)
}

/// Follows a dotted path; numeric segments index arrays.
fn lookup<'a>(record: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    let mut current = record.get(segments.next()?)?;
    for segment in segments {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn apply(t: Transformation, v: Value) -> Result<Value, String> {
    let needs_string = |v: &Value| format!("needs a string, got {}", kind(v));
    match t {
        Transformation::Trim => match v {
            Value::String(s) => Ok(Value::String(s.trim().to_owned())),
            other => Err(needs_string(&other)),
        },
        Transformation::Lower => match v {
            Value::String(s) => Ok(Value::String(s.to_lowercase())),
            other => Err(needs_string(&other)),
        },
        Transformation::Upper => match v {
            Value::String(s) => Ok(Value::String(s.to_uppercase())),
            other => Err(needs_string(&other)),
        },
        Transformation::ToNumber => to_number(&v).map(Value::Number),
        Transformation::ToBool => to_bool(&v).map(Value::Bool),
        Transformation::ToTimestamp => {
            to_timestamp(&v).map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
        }
        Transformation::ToString => match v {
            Value::String(s) => Ok(Value::String(s)),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(format!("cannot render {} as a string", kind(&other))),
        },
    }
}

fn to_number(v: &Value) -> Result<Number, String> {
    match v {
        Value::Number(n) => Ok(n.clone()),
        Value::Bool(b) => Ok(Number::from(u8::from(*b))),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(i) = s.parse::<i64>() {
                return Ok(Number::from(i));
            }
            s.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .ok_or_else(|| format!("{s:?} is not a number"))
        }
        other => Err(format!("cannot read {} as a number", kind(other))),
    }
}

fn to_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err(format!("{s:?} is not a boolean")),
        },
        other => Err(format!("cannot read {} as a boolean", kind(other))),
    }
}

/// Unix times above this are milliseconds (a seconds value this large is
/// after the year 5000).
const MILLIS_THRESHOLD: f64 = 100_000_000_000.0;

fn to_timestamp(v: &Value) -> Result<DateTime<Utc>, String> {
    let from_unix = |secs: f64| -> Result<DateTime<Utc>, String> {
        let millis = if secs.abs() >= MILLIS_THRESHOLD {
            secs
        } else {
            secs * 1000.0
        };
        // Bounded by chrono's range check below; sub-millisecond parts drop.
        #[allow(clippy::cast_possible_truncation)]
        DateTime::from_timestamp_millis(millis.round() as i64)
            .ok_or_else(|| format!("{secs} is out of range"))
    };
    match v {
        Value::Number(n) => from_unix(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Ok(t.with_timezone(&Utc));
            }
            if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
            }
            match s.parse::<f64>() {
                Ok(n) if n.is_finite() => from_unix(n),
                _ => Err(format!("{s:?} is not RFC 3339, a date or Unix time")),
            }
        }
        other => Err(format!("cannot read {} as a timestamp", kind(other))),
    }
}

/// Checks (without converting) that `v` has type `t`.
fn conform(t: FieldType, v: Value) -> Result<Value, &'static str> {
    let ok = match (t, &v) {
        (FieldType::Json, _) => true,
        (FieldType::String, Value::String(_)) => true,
        (FieldType::Number, Value::Number(_)) => true,
        (FieldType::Integer, Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        (FieldType::Boolean, Value::Bool(_)) => true,
        (FieldType::Timestamp, Value::String(s)) => DateTime::parse_from_rfc3339(s).is_ok(),
        _ => false,
    };
    if ok { Ok(v) } else { Err(kind(&v)) }
}

/// Whether `v` may be the default of a field of type `t`.
pub fn default_conforms(t: FieldType, v: &Value) -> bool {
    conform(t, v.clone()).is_ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field(path: &str, ty: FieldType, ts: &[Transformation]) -> FieldMapping {
        FieldMapping {
            source_path: path.into(),
            target_field: path.replace('.', "_"),
            field_type: ty,
            required: false,
            default_value: None,
            transformations: ts.to_vec(),
        }
    }

    #[test]
    fn timestamps_from_every_form() {
        let expect = "2024-01-02T03:04:05Z";
        for input in [
            json!("2024-01-02T04:04:05+01:00"),
            json!(1_704_164_645),
            json!(1_704_164_645_000_i64),
            json!("1704164645"),
        ] {
            let t = to_timestamp(&input).expect("parses");
            assert_eq!(
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                expect,
                "{input}"
            );
        }
        assert_eq!(
            to_timestamp(&json!("2024-01-02"))
                .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Ok("2024-01-02T00:00:00Z".to_owned())
        );
        assert!(to_timestamp(&json!("soon")).is_err());
    }

    #[test]
    fn array_paths() {
        let Value::Object(record) = json!({"a": {"b": [{"c": 1}]}}) else {
            unreachable!()
        };
        let (out, errors) = transform(&[field("a.b.0.c", FieldType::Integer, &[])], &record);
        assert!(errors.is_empty());
        assert_eq!(out.get("a_b_0_c"), Some(&json!(1)));
    }
}

//! Evaluating an expression over a document: values are borrowed from the
//! document and the expression, never copied, so an evaluation allocates
//! nothing unless it explains itself.

use std::borrow::Cow;

use serde_json::Value;

use super::{Node, Op, Operand, Root};

fn value_of<'a, R: Root + ?Sized>(
    operand: &'a Operand,
    doc: &'a R,
    trace: &mut Option<Vec<String>>,
) -> Cow<'a, Value> {
    match operand {
        Operand::Path(p) => p
            .resolve(doc)
            .map_or(Cow::Owned(Value::Null), Cow::Borrowed),
        Operand::Literal(v) => Cow::Borrowed(v),
        Operand::Group(node) => Cow::Owned(Value::Bool(eval(node, doc, trace))),
    }
}

fn describe(operand: &Operand) -> String {
    match operand {
        Operand::Path(p) => p.to_string(),
        Operand::Literal(v) => v.to_string(),
        Operand::Group(_) => "(…)".to_owned(),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

pub(super) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Glob match: `*` is any run of characters, everything else literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let (middle, last) = rest.rsplit_once('*').unwrap_or(("", rest));
    if text.len() < first.len() + last.len() || !text.starts_with(first) || !text.ends_with(last) {
        return false;
    }
    let mut inner = &text[first.len()..text.len() - last.len()];
    for part in middle.split('*').filter(|p| !p.is_empty()) {
        match inner.find(part) {
            Some(at) => inner = &inner[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn compare(op: Op, a: &Value, b: &Value) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        Op::Eq => equal(a, b),
        Op::Ne => !equal(a, b),
        Op::Lt => order(a, b) == Some(Less),
        Op::Le => matches!(order(a, b), Some(Less | Equal)),
        Op::Gt => order(a, b) == Some(Greater),
        Op::Ge => matches!(order(a, b), Some(Greater | Equal)),
        Op::Contains => match (a, b) {
            (Value::String(s), Value::String(part)) => s.contains(part.as_str()),
            (Value::Array(items), wanted) => items.iter().any(|i| equal(i, wanted)),
            _ => false,
        },
        Op::Matches => match (a, b) {
            (Value::String(s), Value::String(pattern)) => glob(pattern, s),
            _ => false,
        },
    }
}

pub(super) fn eval<R: Root + ?Sized>(
    node: &Node,
    doc: &R,
    trace: &mut Option<Vec<String>>,
) -> bool {
    match node {
        Node::Or(items) => items.iter().any(|n| eval(n, doc, trace)),
        Node::And(items) => items.iter().all(|n| eval(n, doc, trace)),
        Node::Not(inner) => !eval(inner, doc, trace),
        Node::Truthy(operand) => {
            let value = value_of(operand, doc, trace);
            let held = truthy(&value);
            if let (Some(t), Operand::Path(_)) = (trace.as_mut(), operand) {
                t.push(format!("{} is {value}: {held}", describe(operand)));
            }
            held
        }
        Node::Compare(left, op, right) => {
            let (a, b) = (value_of(left, doc, trace), value_of(right, doc, trace));
            let held = compare(*op, &a, &b);
            if let Some(t) = trace.as_mut() {
                let shown = |o: &Operand, v: &Value| match o {
                    Operand::Path(_) => format!("{} (is {v})", describe(o)),
                    _ => describe(o),
                };
                t.push(format!(
                    "{} {} {}: {held}",
                    shown(left, &a),
                    op.as_str(),
                    shown(right, &b)
                ));
            }
            held
        }
        Node::In(operand, items) => {
            let value = value_of(operand, doc, trace);
            let held = items.iter().any(|i| equal(i, &value));
            if let Some(t) = trace.as_mut() {
                t.push(format!(
                    "{} is {value}, in the list: {held}",
                    describe(operand)
                ));
            }
            held
        }
    }
}

//! A prefilter over many expressions: each one's required equality (a path
//! that must equal one of a few values for it to hold at all) is indexed by
//! value, so an event is looked up once per distinct path instead of being
//! evaluated against every expression. Expressions without one are always
//! candidates. Candidates are still evaluated in full.

use std::collections::HashMap;

use serde_json::Value;

use super::{Expr, Path, Root};

#[derive(Debug, Default)]
pub struct Prefilter {
    /// Per distinct path: who requires which value there.
    paths: Vec<(Path, Values)>,
    /// Positions with no required equality.
    always: Vec<usize>,
}

#[derive(Debug, Default)]
struct Values {
    strings: HashMap<String, Vec<usize>>,
    numbers: HashMap<u64, Vec<usize>>,
    bools: [Vec<usize>; 2],
    nulls: Vec<usize>,
}

/// Equal numbers (`1 == 1.0`, `0 == -0`) share one key.
fn number_key(v: &Value) -> Option<u64> {
    let f = v.as_f64()?;
    Some(if f == 0.0 {
        0.0f64.to_bits()
    } else {
        f.to_bits()
    })
}

impl Values {
    fn insert(&mut self, value: &Value, at: usize) {
        let slot = match value {
            Value::String(s) => self.strings.entry(s.clone()).or_default(),
            Value::Number(_) => match number_key(value) {
                Some(k) => self.numbers.entry(k).or_default(),
                None => return,
            },
            Value::Bool(b) => &mut self.bools[usize::from(*b)],
            Value::Null => &mut self.nulls,
            // Literals are scalars; nothing else is ever required.
            Value::Array(_) | Value::Object(_) => return,
        };
        if slot.last() != Some(&at) {
            slot.push(at);
        }
    }

    fn get(&self, value: Option<&Value>) -> &[usize] {
        let found = match value.unwrap_or(&Value::Null) {
            Value::String(s) => self.strings.get(s.as_str()),
            v @ Value::Number(_) => number_key(v).and_then(|k| self.numbers.get(&k)),
            Value::Bool(b) => Some(&self.bools[usize::from(*b)]),
            Value::Null => Some(&self.nulls),
            Value::Array(_) | Value::Object(_) => None,
        };
        found.map_or(&[], Vec::as_slice)
    }
}

impl Prefilter {
    /// Indexes expressions by their position (`None`: no expression, always
    /// a candidate).
    pub fn new<'a>(exprs: impl IntoIterator<Item = Option<&'a Expr>>) -> Self {
        let mut index = Self::default();
        for (at, expr) in exprs.into_iter().enumerate() {
            let Some((path, values)) = expr.and_then(Expr::required) else {
                index.always.push(at);
                continue;
            };
            let slot = match index.paths.iter().position(|(p, _)| p == path) {
                Some(i) => i,
                None => {
                    index.paths.push((path.clone(), Values::default()));
                    index.paths.len() - 1
                }
            };
            for value in values {
                index.paths[slot].1.insert(value, at);
            }
        }
        index
    }

    /// The positions whose expression may hold over `doc`, ascending.
    pub fn candidates<R: Root + ?Sized>(&self, doc: &R) -> Vec<usize> {
        let mut found = self.always.clone();
        for (path, values) in &self.paths {
            found.extend_from_slice(values.get(path.resolve(doc)));
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    fn doc(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn only_expressions_whose_required_value_is_there_are_candidates() {
        let sources = [
            Some("payload.object == 'deal' and payload.amount > 5"),
            Some("'contact' == payload.object"),
            Some("payload.object in ['ticket', 'deal']"),
            Some("payload.amount == 1.0"),
            Some("payload.amount > 1 or payload.object == 'deal'"),
            None,
            Some("payload.flag == true"),
            Some("payload.gone == null"),
        ];
        let exprs: Vec<Option<Expr>> = sources
            .iter()
            .map(|s| s.map(|s| Expr::parse(s).expect("parses")))
            .collect();
        let index = Prefilter::new(exprs.iter().map(Option::as_ref));
        let of = |v: Value| index.candidates(&doc(json!({"payload": v})));
        // 4 (an `or`) and 5 (no filter) are always candidates.
        assert_eq!(of(json!({"object": "deal"})), [0, 2, 4, 5, 7]);
        assert_eq!(
            of(json!({"object": "contact", "amount": 1})),
            [1, 3, 4, 5, 7]
        );
        assert_eq!(
            of(json!({"object": "ticket", "flag": true, "gone": 1})),
            [2, 4, 5, 6]
        );
        assert_eq!(of(json!({"object": ["deal"], "amount": -0.0})), [4, 5, 7]);
        // Candidates are a superset: every expression that holds is one.
        for payload in [
            json!({"object": "deal", "amount": 9}),
            json!({"object": "contact", "amount": 1.0, "flag": true}),
            json!({}),
        ] {
            let d = doc(json!({"payload": payload}));
            let candidates = index.candidates(&d);
            for (at, expr) in exprs.iter().enumerate() {
                if expr.as_ref().is_none_or(|e| e.holds(&d)) {
                    assert!(candidates.contains(&at), "{at} holds over {d:?}");
                }
            }
        }
    }
}

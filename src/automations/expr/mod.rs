//! The filter language of triggers and condition steps: comparisons over
//! paths into the event, joined with `and`, `or`, `not`. Declarative and
//! closed: no functions, no loops, never user code. Parsed once when an
//! automation is written; stored as its source.
//!
//! ```text
//! expr    = or
//! or      = and ("or" and)*
//! and     = not ("and" not)*
//! not     = "not" not | compare
//! compare = operand [op operand | "in" list]
//! op      = "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "matches"
//! operand = path | literal | "(" expr ")"
//! path    = name ("." name | "[" digits "]")*
//! literal = "string" | 'string' | number | true | false | null
//! list    = "[" [literal ("," literal)*] "]"
//! ```
//!
//! A missing path is `null`. A bare operand holds when it is truthy (not
//! null, false, 0, "" or empty). `<`, `<=`, `>`, `>=` compare two numbers or
//! two strings, and are false otherwise; `contains` is substring or array
//! membership; `matches` is a glob where `*` is any run of characters.

mod eval;
mod index;
mod parse;

use std::fmt;

use serde_json::{Map, Value};

pub use eval::glob;
pub use index::Prefilter;

/// Longest source accepted.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting accepted (parentheses and `not`s).
const MAX_DEPTH: usize = 32;
/// Most items in one `in` list.
const MAX_LIST: usize = 100;

/// A parsed expression, with the source it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Compare(Operand, Op, Operand),
    In(Operand, Vec<Value>),
    Truthy(Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Path),
    Literal(Value),
    Group(Box<Node>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    Matches,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Contains => "contains",
            Self::Matches => "matches",
        }
    }
}

/// Why a source is not an expression, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {at}: {message}")]
pub struct ParseError {
    pub at: usize,
    pub message: String,
}

impl Expr {
    pub fn parse(source: &str) -> Result<Self, ParseError> {
        if source.len() > MAX_LEN {
            return Err(ParseError {
                at: MAX_LEN,
                message: format!("longer than {MAX_LEN} bytes"),
            });
        }
        Ok(Self {
            source: source.to_owned(),
            root: parse::parse(source)?,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the expression holds over `doc`.
    pub fn holds<R: Root + ?Sized>(&self, doc: &R) -> bool {
        eval::eval(&self.root, doc, &mut None)
    }

    /// Whether it holds, and each comparison's operands and outcome in
    /// words, for a dry run.
    pub fn explain<R: Root + ?Sized>(&self, doc: &R) -> (bool, Vec<String>) {
        let mut trace = Some(Vec::new());
        let held = eval::eval(&self.root, doc, &mut trace);
        (held, trace.unwrap_or_default())
    }

    /// A path and the values it must equal for the expression to hold at
    /// all (its first `==` or `in`, alone or among top-level `and`s); what
    /// a prefilter indexes, so most expressions are never evaluated.
    fn required(&self) -> Option<(&Path, Vec<&Value>)> {
        let first = match &self.root {
            Node::And(items) => items.iter().find_map(required_of),
            node => required_of(node),
        }?;
        Some(first)
    }
}

impl serde::Serialize for Expr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> serde::Deserialize<'de> for Expr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&source).map_err(serde::de::Error::custom)
    }
}

fn required_of(node: &Node) -> Option<(&Path, Vec<&Value>)> {
    match node {
        Node::Compare(Operand::Path(p), Op::Eq, Operand::Literal(v))
        | Node::Compare(Operand::Literal(v), Op::Eq, Operand::Path(p)) => Some((p, vec![v])),
        Node::In(Operand::Path(p), values) => Some((p, values.iter().collect())),
        _ => None,
    }
}

/// A path into the event's document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path(Vec<Segment>);

impl Path {
    pub fn resolve<'a, R: Root + ?Sized>(&self, root: &'a R) -> Option<&'a Value> {
        let mut segments = self.0.iter();
        let mut current = match segments.next()? {
            Segment::Key(k) => root.field(k)?,
            Segment::Index(_) => return None,
        };
        for segment in segments {
            current = match (segment, current) {
                (Segment::Key(k), Value::Object(map)) => map.get(k)?,
                (Segment::Index(i), Value::Array(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(current)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// What paths are read from: an event's document, as a map or as a view
/// over the event's parts.
pub trait Root {
    fn field(&self, name: &str) -> Option<&Value>;
}

impl Root for Map<String, Value> {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

#[cfg(test)]
mod tests;

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

use std::fmt;

use serde_json::{Map, Value};

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
    Path(Vec<Segment>),
    Literal(Value),
    Group(Box<Node>),
}

#[derive(Debug, Clone, PartialEq)]
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
        let mut parser = Parser {
            tokens: tokenize(source)?,
            next: 0,
            depth: 0,
            end: source.len(),
        };
        let root = parser.or()?;
        if let Some((at, token)) = parser.tokens.get(parser.next) {
            return Err(ParseError {
                at: *at,
                message: format!("unexpected {token}"),
            });
        }
        Ok(Self {
            source: source.to_owned(),
            root,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the expression holds over `doc`.
    pub fn holds(&self, doc: &Map<String, Value>) -> bool {
        eval(&self.root, doc, &mut None)
    }

    /// Whether it holds, and each comparison's operands and outcome in
    /// words, for a dry run.
    pub fn explain(&self, doc: &Map<String, Value>) -> (bool, Vec<String>) {
        let mut trace = Some(Vec::new());
        let held = eval(&self.root, doc, &mut trace);
        (held, trace.unwrap_or_default())
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

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Str(String),
    Num(f64),
    Punct(&'static str),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => write!(f, "`{n}`"),
            Self::Str(s) => write!(f, "string {s:?}"),
            Self::Num(n) => write!(f, "number {n}"),
            Self::Punct(p) => write!(f, "`{p}`"),
        }
    }
}

const PUNCTS: [&str; 12] = [
    "==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",", ".",
];

fn tokenize(source: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == b'"' || c == b'\'' {
            let (text, end) = string(source, i)?;
            tokens.push((start, Token::Str(text)));
            i = end;
        } else if c.is_ascii_digit()
            || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_digit()
                    || matches!(bytes[i], b'.' | b'e' | b'E' | b'+' | b'-'))
            {
                // A `.` then a letter is a path step, not a decimal point.
                if bytes[i] == b'.' && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    break;
                }
                i += 1;
            }
            let text = &source[start..i];
            let n: f64 = text.parse().map_err(|_| ParseError {
                at: start,
                message: format!("{text:?} is not a number"),
            })?;
            tokens.push((start, Token::Num(n)));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'-'))
            {
                i += 1;
            }
            tokens.push((start, Token::Name(source[start..i].to_owned())));
        } else if let Some(p) = PUNCTS.iter().find(|p| source[i..].starts_with(**p)) {
            tokens.push((start, Token::Punct(p)));
            i += p.len();
        } else {
            let found = source[i..].chars().next().unwrap_or('?');
            return Err(ParseError {
                at: start,
                message: format!("unexpected character {found:?}"),
            });
        }
    }
    Ok(tokens)
}

/// A quoted string starting at `start`, with `\\`, `\"`, `\'`, `\n` and
/// `\t` escapes; returns it and the index after its closing quote.
fn string(source: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut chars = source[start..].char_indices();
    let quote = chars.next().map(|(_, c)| c).unwrap_or('"');
    let mut out = String::new();
    while let Some((offset, c)) = chars.next() {
        match c {
            '\\' => match chars.next().map(|(_, e)| e) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(e @ ('\\' | '"' | '\'')) => out.push(e),
                _ => {
                    return Err(ParseError {
                        at: start + offset,
                        message: "unknown escape".to_owned(),
                    });
                }
            },
            c if c == quote => return Ok((out, start + offset + c.len_utf8())),
            c => out.push(c),
        }
    }
    Err(ParseError {
        at: start,
        message: "unterminated string".to_owned(),
    })
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    depth: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(at, _)| *at)
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            at: self.at(),
            message: message.into(),
        }
    }

    fn is_name(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Name(n)) if n == word)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Token::Punct(q)) if *q == p) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), ParseError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{p}`")))
        }
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH}")));
        }
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn or(&mut self) -> Result<Node, ParseError> {
        let mut items = vec![self.and()?];
        while self.is_name("or") {
            self.next += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let mut items = vec![self.not()?];
        while self.is_name("and") {
            self.next += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::And(items)
        })
    }

    fn not(&mut self) -> Result<Node, ParseError> {
        if self.is_name("not") {
            self.next += 1;
            return self.nested(|p| Ok(Node::Not(Box::new(p.not()?))));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Node, ParseError> {
        let left = self.operand()?;
        if self.is_name("in") {
            self.next += 1;
            return Ok(Node::In(left, self.list()?));
        }
        let op = match self.peek() {
            Some(Token::Punct("==")) => Op::Eq,
            Some(Token::Punct("!=")) => Op::Ne,
            Some(Token::Punct("<")) => Op::Lt,
            Some(Token::Punct("<=")) => Op::Le,
            Some(Token::Punct(">")) => Op::Gt,
            Some(Token::Punct(">=")) => Op::Ge,
            Some(Token::Name(n)) if n == "contains" => Op::Contains,
            Some(Token::Name(n)) if n == "matches" => Op::Matches,
            _ => return Ok(Node::Truthy(left)),
        };
        self.next += 1;
        let right = self.operand()?;
        Ok(Node::Compare(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        if self.eat_punct("(") {
            let inner = self.nested(|p| p.or())?;
            self.expect_punct(")")?;
            return Ok(Operand::Group(Box::new(inner)));
        }
        match self.peek().cloned() {
            Some(Token::Name(name)) if is_keyword(&name) => match name.as_str() {
                "true" | "false" | "null" => Ok(Operand::Literal(self.literal()?)),
                _ => Err(self.error(format!("expected a path or a value, found `{name}`"))),
            },
            Some(Token::Name(_)) => self.path(),
            Some(_) => Ok(Operand::Literal(self.literal()?)),
            None => Err(self.error("expected a path or a value, found the end")),
        }
    }

    fn path(&mut self) -> Result<Operand, ParseError> {
        let mut segments = Vec::new();
        let Some(Token::Name(first)) = self.peek().cloned() else {
            return Err(self.error("expected a path"));
        };
        self.next += 1;
        segments.push(Segment::Key(first));
        loop {
            if self.eat_punct(".") {
                match self.peek().cloned() {
                    Some(Token::Name(n)) => {
                        self.next += 1;
                        segments.push(Segment::Key(n));
                    }
                    _ => return Err(self.error("expected a name after `.`")),
                }
            } else if self.eat_punct("[") {
                match self.peek().cloned() {
                    Some(Token::Num(n)) if n >= 0.0 && n.fract() == 0.0 && n < 1e9 => {
                        self.next += 1;
                        segments.push(Segment::Index(n as usize));
                    }
                    _ => return Err(self.error("expected an index")),
                }
                self.expect_punct("]")?;
            } else {
                return Ok(Operand::Path(segments));
            }
        }
    }

    fn literal(&mut self) -> Result<Value, ParseError> {
        let value = match self.peek() {
            Some(Token::Str(s)) => Value::String(s.clone()),
            Some(Token::Num(n)) => serde_json::Number::from_f64(*n)
                .map(Value::Number)
                .ok_or_else(|| self.error("not a finite number"))?,
            Some(Token::Name(n)) if n == "true" => Value::Bool(true),
            Some(Token::Name(n)) if n == "false" => Value::Bool(false),
            Some(Token::Name(n)) if n == "null" => Value::Null,
            Some(t) => return Err(self.error(format!("expected a value, found {t}"))),
            None => return Err(self.error("expected a value, found the end")),
        };
        self.next += 1;
        Ok(value)
    }

    fn list(&mut self) -> Result<Vec<Value>, ParseError> {
        self.expect_punct("[")?;
        let mut items = Vec::new();
        if self.eat_punct("]") {
            return Ok(items);
        }
        loop {
            items.push(self.literal()?);
            if items.len() > MAX_LIST {
                return Err(self.error(format!("a list of more than {MAX_LIST} values")));
            }
            if self.eat_punct("]") {
                return Ok(items);
            }
            self.expect_punct(",")?;
        }
    }
}

fn is_keyword(name: &str) -> bool {
    matches!(
        name,
        "and" | "or" | "not" | "in" | "contains" | "matches" | "true" | "false" | "null"
    )
}

fn resolve<'a>(doc: &'a Map<String, Value>, path: &[Segment]) -> Option<&'a Value> {
    let mut segments = path.iter();
    let mut current = match segments.next()? {
        Segment::Key(k) => doc.get(k)?,
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

fn value_of(operand: &Operand, doc: &Map<String, Value>, trace: &mut Option<Vec<String>>) -> Value {
    match operand {
        Operand::Path(p) => resolve(doc, p).cloned().unwrap_or(Value::Null),
        Operand::Literal(v) => v.clone(),
        Operand::Group(node) => Value::Bool(eval(node, doc, trace)),
    }
}

fn describe(operand: &Operand) -> String {
    match operand {
        Operand::Path(p) => p
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Segment::Key(k) if i == 0 => k.clone(),
                Segment::Key(k) => format!(".{k}"),
                Segment::Index(n) => format!("[{n}]"),
            })
            .collect(),
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

fn equal(a: &Value, b: &Value) -> bool {
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
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
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

fn eval(node: &Node, doc: &Map<String, Value>, trace: &mut Option<Vec<String>>) -> bool {
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

#[cfg(test)]
mod tests;

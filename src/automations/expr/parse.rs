//! Source text to the expression tree: a tokenizer and a recursive-descent
//! parser with depth and size limits.

use std::fmt;

use serde_json::Value;

use super::{MAX_DEPTH, MAX_LIST, Node, Op, Operand, ParseError, Path, Segment};

/// Parses a whole source.
pub(super) fn parse(source: &str) -> Result<Node, ParseError> {
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
    Ok(root)
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
                return Ok(Operand::Path(Path(segments)));
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

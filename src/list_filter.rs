//! The AIP-160 subset our List methods accept: `key = value` terms joined
//! by `AND`, values bare or double-quoted.

use crate::error::ApiError;

/// The longest filter accepted: room for every key with a long value.
pub const MAX_FILTER_LEN: usize = 4096;

/// A parsed filter: each allowed key at most once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<(String, String)>,
}

impl Filter {
    /// Parses `filter`, accepting only `allowed` keys.
    pub fn parse(filter: &str, allowed: &[&str]) -> Result<Self, ApiError> {
        let invalid = |why: String| ApiError::invalid_field("filter", why);
        if filter.len() > MAX_FILTER_LEN {
            return Err(invalid(format!("must be at most {MAX_FILTER_LEN} bytes")));
        }
        let mut terms: Vec<(String, String)> = Vec::new();
        let tokens = tokenize(filter).map_err(invalid)?;
        let mut rest = tokens.as_slice();
        while !rest.is_empty() {
            let [Token::Word(key), Token::Equals, value, tail @ ..] = rest else {
                return Err(invalid(format!(
                    "expected `key = value` terms joined by AND (keys: {})",
                    allowed.join(", ")
                )));
            };
            let value = match value {
                Token::Word(v) | Token::Quoted(v) => v.clone(),
                Token::Equals => return Err(invalid("expected a value after `=`".into())),
            };
            if !allowed.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "unknown key {key:?}; filterable: {}",
                    allowed.join(", ")
                )));
            }
            if terms.iter().any(|(k, _)| k == key) {
                return Err(invalid(format!("{key:?} appears twice")));
            }
            terms.push((key.clone(), value));
            rest = match tail {
                [] => tail,
                [Token::Word(and), after @ ..] if and == "AND" && !after.is_empty() => after,
                _ => return Err(invalid("terms must be joined by AND".into())),
            };
        }
        Ok(Self { terms })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                tokens.push(Token::Equals);
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => value.push(escaped),
                            None => return Err("unterminated string".into()),
                        },
                        Some(other) => value.push(other),
                        None => return Err("unterminated string".into()),
                    }
                }
                tokens.push(Token::Quoted(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '=' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_terms() {
        let f = Filter::parse(r#"type = "github" AND state=ACTIVE"#, &["type", "state"])
            .expect("valid");
        assert_eq!(f.get("type"), Some("github"));
        assert_eq!(f.get("state"), Some("ACTIVE"));
        assert_eq!(
            Filter::parse("", &["type"]).expect("empty").get("type"),
            None
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for bad in [
            "type",
            "type =",
            "color = red",
            "type = a OR state = b",
            "type = a AND",
            "type = a AND type = b",
            r#"type = "open"#,
        ] {
            assert!(Filter::parse(bad, &["type", "state"]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_filter_past_the_limit_is_refused_and_one_at_it_is_parsed() {
        let at_limit = format!("type = {}", "a".repeat(MAX_FILTER_LEN - 7));
        assert_eq!(at_limit.len(), MAX_FILTER_LEN);
        assert!(Filter::parse(&at_limit, &["type"]).is_ok());
        assert!(Filter::parse(&format!("{at_limit}a"), &["type"]).is_err());
    }
}

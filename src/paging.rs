//! AIP-158 paging: page sizes and opaque page tokens, shared by every List.
//!
//! A token carries the last key of its page and a digest of the request's
//! other parameters, so a token is refused with a different filter.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 1000;

/// One validated page request: at most `size` items with keys after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: usize,
    pub after: Option<String>,
    query: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Token {
    /// The last key of the previous page.
    k: String,
    /// Digest of the request's other parameters.
    q: String,
}

impl PageRequest {
    /// `query` names everything but the paging fields (parent, filter, ...).
    pub fn parse(page_size: i32, page_token: &str, query: &[&str]) -> Result<Self, ApiError> {
        let size = match page_size {
            n if n < 0 => {
                return Err(ApiError::invalid_field("page_size", "must not be negative"));
            }
            0 => DEFAULT_PAGE_SIZE,
            n => usize::try_from(n)
                .unwrap_or(MAX_PAGE_SIZE)
                .min(MAX_PAGE_SIZE),
        };
        let query = digest(query);
        let after = if page_token.is_empty() {
            None
        } else {
            let token: Token = URL_SAFE_NO_PAD
                .decode(page_token)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or_else(|| {
                    ApiError::invalid_field("page_token", "is not a token this API issued")
                })?;
            if token.q != query {
                return Err(ApiError::invalid_field(
                    "page_token",
                    "was issued for a request with different parameters",
                ));
            }
            Some(token.k)
        };
        Ok(Self { size, after, query })
    }

    /// How many rows to fetch: one more than the page, to know if more follow.
    pub fn fetch_limit(&self) -> i64 {
        i64::try_from(self.size + 1).unwrap_or(i64::MAX)
    }

    /// Trims `items` (fetched with [`Self::fetch_limit`]) to the page and
    /// returns the next page token, empty at the end.
    pub fn finish<T>(&self, items: &mut Vec<T>, key: impl Fn(&T) -> String) -> String {
        if items.len() <= self.size {
            return String::new();
        }
        items.truncate(self.size);
        match items.last() {
            Some(last) => {
                let token = Token {
                    k: key(last),
                    q: self.query.clone(),
                };
                serde_json::to_vec(&token)
                    .map(|json| URL_SAFE_NO_PAD.encode(json))
                    .unwrap_or_default()
            }
            None => String::new(),
        }
    }
}

fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.len().to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(
            PageRequest::parse(0, "", &[]).map(|p| p.size).ok(),
            Some(50)
        );
        assert_eq!(
            PageRequest::parse(5000, "", &[]).map(|p| p.size).ok(),
            Some(1000)
        );
        assert!(PageRequest::parse(-1, "", &[]).is_err());
    }

    #[test]
    fn tokens_round_trip_and_bind_to_the_query() {
        let first = PageRequest::parse(2, "", &["a"]).expect("valid");
        let mut items = vec!["x", "y", "z"];
        let token = first.finish(&mut items, |s| (*s).to_owned());
        assert_eq!(items, ["x", "y"]);
        let next = PageRequest::parse(2, &token, &["a"]).expect("valid");
        assert_eq!(next.after.as_deref(), Some("y"));
        assert!(PageRequest::parse(2, &token, &["b"]).is_err());
        assert!(PageRequest::parse(2, "garbage!", &["a"]).is_err());
        let mut last = vec!["z"];
        assert_eq!(next.finish(&mut last, |s| (*s).to_owned()), "");
    }
}

//! CORS for gRPC-Web from browsers. Only the origins the operator lists
//! (`--cors-origin`) may call, none by default; preflights are answered here,
//! before authentication, since browsers send them without credentials.

use std::{fmt, str::FromStr, time::Duration};

use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// What gRPC-Web clients send: the token, the framing, deadlines and
/// compression.
const ALLOWED_HEADERS: [&str; 7] = [
    "authorization",
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
];

/// What a page must read to see a call's outcome when it comes in headers
/// (a trailers-only answer) rather than in the body.
const EXPOSED_HEADERS: [&str; 4] = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "grpc-encoding",
];

/// A browser origin allowed to call: `scheme://host[:port]` exactly as
/// browsers send it, or `*` for any.
#[derive(Clone, PartialEq, Eq)]
pub struct BrowserOrigin(Option<HeaderValue>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{0:?} is not an origin: write scheme://host[:port] as browsers send it (e.g. https://app.example.com), or * for any"
)]
pub struct InvalidOrigin(String);

impl FromStr for BrowserOrigin {
    type Err = InvalidOrigin;

    fn from_str(text: &str) -> Result<Self, InvalidOrigin> {
        if text == "*" {
            return Ok(Self(None));
        }
        let invalid = || InvalidOrigin(text.to_owned());
        let url = url::Url::parse(text).map_err(|_| invalid())?;
        // Browsers compare origins as strings: one written any other way
        // (a path, a default port, upper case) would never match.
        let plain_host = url.host_str().is_some_and(|host| {
            host.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        });
        if !matches!(url.scheme(), "http" | "https")
            || !plain_host
            || url.origin().ascii_serialization() != text
        {
            return Err(invalid());
        }
        HeaderValue::from_str(text)
            .map(|v| Self(Some(v)))
            .map_err(|_| invalid())
    }
}

impl fmt::Debug for BrowserOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("*"),
            Some(origin) => write!(f, "{}", origin.to_str().unwrap_or("?")),
        }
    }
}

/// The CORS layer for `origins`, or none when no origin is allowed (then
/// browsers refuse every cross-origin call themselves).
pub fn layer(origins: &[BrowserOrigin]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o.0.is_none()) {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| o.0.clone()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::POST])
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_taken_only_as_browsers_send_them() {
        for good in ["https://app.example.com", "http://127.0.0.1:5173", "*"] {
            assert!(good.parse::<BrowserOrigin>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://App.example.com",
            "https://app.example.com:443",
            "ftp://app.example.com",
            "https://*.example.com",
        ] {
            assert!(bad.parse::<BrowserOrigin>().is_err(), "{bad}");
        }
    }

    #[test]
    fn no_origin_means_no_layer() {
        assert!(layer(&[]).is_none());
        assert!(layer(&["*".parse().expect("any")]).is_some());
    }
}

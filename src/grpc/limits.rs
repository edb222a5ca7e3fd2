//! Who a call counts against: its token's subject, or its peer address.

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{body::Body, http::Request, response::Response};
use tonic::transport::server::TcpConnectInfo;
use tower_governor::{GovernorError, key_extractor::KeyExtractor};

use crate::{
    auth::{Authentication, Caller},
    error::{ApiError, ErrorCode},
};

fn peer_ip<T>(request: &Request<T>) -> Option<IpAddr> {
    request
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .map(|addr| addr.ip())
}

/// Keys every call on its peer address.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer;

impl KeyExtractor for Peer {
    type Key = Option<IpAddr>;

    fn extract<T>(&self, request: &Request<T>) -> Result<Self::Key, GovernorError> {
        Ok(peer_ip(request))
    }
}

/// Keys a call on its caller's subject, or on its peer without a valid token.
#[derive(Debug, Clone, Copy)]
pub(super) struct CallerOrPeer;

#[derive(Debug, Clone)]
pub(super) enum CallerKey {
    Subject(Arc<Caller>),
    Peer(Option<IpAddr>),
}

impl PartialEq for CallerKey {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Subject(a), Self::Subject(b)) => a.subject() == b.subject(),
            (Self::Peer(a), Self::Peer(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for CallerKey {}

impl std::hash::Hash for CallerKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Self::Subject(caller) => (0u8, caller.subject()).hash(state),
            Self::Peer(ip) => (1u8, ip).hash(state),
        }
    }
}

impl KeyExtractor for CallerOrPeer {
    type Key = CallerKey;

    fn extract<T>(&self, request: &Request<T>) -> Result<Self::Key, GovernorError> {
        Ok(match request.extensions().get::<Authentication>() {
            Some(Authentication(Ok(caller))) => CallerKey::Subject(caller.clone()),
            _ => CallerKey::Peer(peer_ip(request)),
        })
    }
}

pub(super) fn refuse(error: GovernorError) -> Response<Body> {
    let error = match error {
        GovernorError::TooManyRequests { wait_time, .. } => ApiError::new(
            ErrorCode::ResourceExhausted,
            "RATE_LIMITED",
            format!("too many requests; retry in {} s", wait_time.max(1)),
        )
        .with_retry_after(Duration::from_secs(wait_time.max(1))),
        other => ApiError::internal("rate limit", other.to_string()),
    };
    tonic::Status::from(error).into_http()
}

use std::sync::Arc;

use axum::http;
use tonic::{Request, Status, service::Interceptor, transport::server::TcpConnectInfo};

use super::{Caller, JwtVerifier, Origin, keys::AuthError};
use crate::error::ApiError;

/// How a request's bearer token fared, put in its extensions once by
/// [`Authenticator`] so that rate limits (keyed by subject) and the
/// services share one verification.
#[derive(Clone)]
pub struct Authentication(pub Result<Arc<Caller>, AuthError>);

/// Verifies the bearer token of a request to our services.
#[derive(Clone)]
pub struct Authenticator {
    verifier: Arc<JwtVerifier>,
}

impl Authenticator {
    pub fn new(verifier: JwtVerifier) -> Self {
        Self {
            verifier: Arc::new(verifier),
        }
    }

    /// Records the outcome in the request's extensions; refuses nothing.
    pub fn authenticate<B>(&self, request: &mut http::Request<B>) {
        let outcome = self
            .verify(request.headers())
            .map(|caller| Arc::new(Caller::clone(&caller).with_origin(origin_of(request))));
        request.extensions_mut().insert(Authentication(outcome));
    }

    fn verify(&self, headers: &http::HeaderMap) -> Result<Arc<Caller>, AuthError> {
        let header = headers
            .get(http::header::AUTHORIZATION)
            .ok_or(AuthError::MissingToken)?;
        let header = header.to_str().map_err(|_| AuthError::MalformedHeader)?;
        let (scheme, token) = header.split_once(' ').ok_or(AuthError::MalformedHeader)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::MalformedHeader);
        }
        self.verifier.verify(token.trim())
    }
}

/// The RPC, peer and user agent of a request, for the audit log.
fn origin_of<B>(request: &http::Request<B>) -> Origin {
    let method = request
        .uri()
        .path()
        .trim_start_matches('/')
        .trim_start_matches("patchbay.v1.")
        .replacen('/', ".", 1);
    let peer = request
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .map(|addr| addr.to_string())
        .unwrap_or_default();
    // gRPC-Web clients name themselves in x-user-agent: browsers own user-agent.
    let user_agent = ["x-user-agent", "user-agent"]
        .iter()
        .find_map(|name| request.headers().get(*name)?.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(256)
        .collect();
    Origin {
        method,
        peer,
        user_agent,
    }
}

/// Lets a call through only with an authenticated caller, which it leaves
/// in the request extensions for [`caller_of`]. Health and reflection are
/// served without it.
#[derive(Clone, Copy, Default)]
pub struct AuthInterceptor;

impl Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let outcome = match request.extensions_mut().remove::<Authentication>() {
            Some(Authentication(outcome)) => outcome,
            None => {
                return Err(ApiError::internal(
                    "authentication missing from request extensions",
                    "the authenticator did not run on this service",
                )
                .into());
            }
        };
        match outcome {
            Ok(caller) => {
                tracing::Span::current().record("user", caller.subject());
                request.extensions_mut().insert(caller);
                Ok(request)
            }
            Err(err) => {
                tracing::debug!(error = %err, "refused unauthenticated call");
                Err(ApiError::from(err).into())
            }
        }
    }
}

/// The authenticated caller of a request that passed the interceptor.
pub fn caller_of<T>(request: &Request<T>) -> Result<&Caller, ApiError> {
    request
        .extensions()
        .get::<Arc<Caller>>()
        .map(|c| &**c)
        .ok_or_else(|| {
            ApiError::internal(
                "caller missing from request extensions",
                "the auth interceptor did not run on this service",
            )
        })
}

use std::sync::Arc;

use tonic::{Request, Status, service::Interceptor};

use super::{Caller, JwtVerifier, keys::AuthError};
use crate::error::ApiError;

/// Verifies the bearer token of every call to our services and puts the
/// [`Caller`] in the request extensions. Health and reflection are served
/// without it.
#[derive(Clone)]
pub struct AuthInterceptor {
    verifier: Arc<JwtVerifier>,
}

impl AuthInterceptor {
    pub fn new(verifier: Arc<JwtVerifier>) -> Self {
        Self { verifier }
    }

    fn authenticate(&self, request: &Request<()>) -> Result<Arc<Caller>, AuthError> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or(AuthError::MissingToken)?;
        let header = header.to_str().map_err(|_| AuthError::MalformedHeader)?;
        let (scheme, token) = header.split_once(' ').ok_or(AuthError::MalformedHeader)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::MalformedHeader);
        }
        self.verifier.verify(token.trim())
    }
}

impl Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        match self.authenticate(&request) {
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

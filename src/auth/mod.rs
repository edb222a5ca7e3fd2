//! Who is calling: JWT verification yields a typed [`Caller`] that handlers
//! receive. One verifier serves gRPC and HTTP.

mod caller;
mod interceptor;
mod jwt;
mod keys;

pub use caller::{Caller, Origin, Role};
pub use interceptor::{AuthInterceptor, Authentication, Authenticator, caller_of};
pub use jwt::{Audience, CLOCK_LEEWAY, Claims, JwtVerifier, TokenMinter};
pub use keys::{AuthError, DevSecret, KeyError, KeySource};

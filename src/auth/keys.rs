use std::{
    fs, io,
    path::{Path, PathBuf},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::RngCore as _;

use crate::{
    config::{AuthArgs, KeyAlgorithm},
    error::ApiError,
    secret::Secret,
    secret_file,
};

/// The shortest HS256 secret accepted: RFC 7518 wants a key at least as long
/// as the hash output.
const MIN_SECRET_BYTES: usize = 32;
const DEV_SECRET_FILE: &str = "jwt-secret";

/// Why a request's token was refused. Each maps to UNAUTHENTICATED.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send `authorization: Bearer <JWT>`")]
    MissingToken,
    #[error("the authorization header is not `Bearer <JWT>`")]
    MalformedHeader,
    #[error("the token has expired")]
    Expired,
    #[error("the token's algorithm is not accepted")]
    AlgorithmNotAllowed,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token has no `{0}` claim, which this server requires")]
    MissingClaim(String),
    #[error("the token's issuer (iss) is not the one this server accepts")]
    WrongIssuer,
    #[error("the token's audience (aud) does not include this server")]
    WrongAudience,
    #[error("the token's claims are invalid: {0}")]
    InvalidClaims(String),
    #[error("the token is malformed")]
    Malformed,
}

impl AuthError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingToken => "TOKEN_MISSING",
            Self::MalformedHeader => "AUTHORIZATION_MALFORMED",
            Self::Expired => "TOKEN_EXPIRED",
            Self::AlgorithmNotAllowed => "TOKEN_ALGORITHM_REFUSED",
            Self::BadSignature => "TOKEN_SIGNATURE_INVALID",
            Self::NotYetValid => "TOKEN_NOT_YET_VALID",
            Self::MissingClaim(_) => "TOKEN_CLAIM_MISSING",
            Self::WrongIssuer => "TOKEN_ISSUER_INVALID",
            Self::WrongAudience => "TOKEN_AUDIENCE_INVALID",
            Self::InvalidClaims(_) => "TOKEN_CLAIMS_INVALID",
            Self::Malformed => "TOKEN_MALFORMED",
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let error = ApiError::unauthenticated(err.reason(), err.to_string());
        match err {
            AuthError::MissingClaim(claim) => error.with_metadata("claim", claim),
            _ => error,
        }
    }
}

/// Why the configured keys could not be loaded (at start-up).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading JWT public key {path}")]
    ReadKey {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("JWT public key {path} is not a valid {algorithm:?} PEM key")]
    ParseKey {
        path: PathBuf,
        algorithm: KeyAlgorithm,
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    #[error("--jwt-public-key needs --jwt-algorithm (RS256, ES256 or EdDSA)")]
    MissingAlgorithm,
    #[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes")]
    SecretTooShort,
    #[error("minting tokens needs an HS256 secret; a public key can only verify")]
    CannotMint,
    #[error("keeping the development JWT secret in {path}")]
    DevSecret {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The development secret's file, and whether this process created it.
#[derive(Debug, Clone)]
pub struct DevSecret {
    pub file: PathBuf,
    pub created: bool,
}

/// Where token keys come from, resolved once at start-up.
#[derive(Clone)]
pub enum KeySource {
    /// A shared HS256 secret (configured, or the development one).
    Secret {
        secret: Secret<Vec<u8>>,
        /// Set when the secret is the development one in the data directory.
        dev_file: Option<DevSecret>,
    },
    /// An asymmetric public key: verify only.
    PublicKey {
        algorithm: Algorithm,
        key: DecodingKey,
    },
}

impl KeySource {
    /// Configured secret, else public key, else the development secret kept
    /// in `data_dir` (created on first use).
    pub fn resolve(args: &AuthArgs, data_dir: &Path) -> Result<Self, KeyError> {
        if let Some(path) = &args.jwt_public_key {
            let algorithm = args.jwt_algorithm.ok_or(KeyError::MissingAlgorithm)?;
            let pem = fs::read(path).map_err(|source| KeyError::ReadKey {
                path: path.clone(),
                source,
            })?;
            let (alg, key) = match algorithm {
                KeyAlgorithm::Rs256 => (Algorithm::RS256, DecodingKey::from_rsa_pem(&pem)),
                KeyAlgorithm::Es256 => (Algorithm::ES256, DecodingKey::from_ec_pem(&pem)),
                KeyAlgorithm::EdDsa => (Algorithm::EdDSA, DecodingKey::from_ed_pem(&pem)),
            };
            let key = key.map_err(|source| KeyError::ParseKey {
                path: path.clone(),
                algorithm,
                source,
            })?;
            return Ok(Self::PublicKey {
                algorithm: alg,
                key,
            });
        }
        if let Some(secret) = &args.jwt_secret {
            return Self::from_secret(secret.expose().as_bytes().to_vec());
        }
        let path = data_dir.join(DEV_SECRET_FILE);
        let (secret, created) =
            load_or_create_dev_secret(&path).map_err(|source| KeyError::DevSecret {
                path: path.clone(),
                source,
            })?;
        Ok(Self::Secret {
            secret: Secret::new(secret),
            dev_file: Some(DevSecret {
                file: path,
                created,
            }),
        })
    }

    pub fn from_secret(secret: Vec<u8>) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::SecretTooShort);
        }
        Ok(Self::Secret {
            secret: Secret::new(secret),
            dev_file: None,
        })
    }

    pub(super) fn decoding(&self) -> (Algorithm, DecodingKey) {
        match self {
            Self::Secret { secret, .. } => {
                (Algorithm::HS256, DecodingKey::from_secret(secret.expose()))
            }
            Self::PublicKey { algorithm, key } => (*algorithm, key.clone()),
        }
    }

    pub(super) fn encoding(&self) -> Result<EncodingKey, KeyError> {
        match self {
            Self::Secret { secret, .. } => Ok(EncodingKey::from_secret(secret.expose())),
            Self::PublicKey { .. } => Err(KeyError::CannotMint),
        }
    }

    /// The development secret, when that is the source.
    pub fn dev_secret(&self) -> Option<&DevSecret> {
        match self {
            Self::Secret { dev_file, .. } => dev_file.as_ref(),
            Self::PublicKey { .. } => None,
        }
    }
}

fn load_or_create_dev_secret(path: &Path) -> io::Result<(Vec<u8>, bool)> {
    let (secret, created) = secret_file::load_or_create_telling(path, || {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    })?;
    Ok((secret.into_bytes(), created))
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt as _;

    use super::*;
    use crate::auth::{JwtVerifier, Role, TokenMinter};

    fn no_flags() -> AuthArgs {
        AuthArgs {
            jwt_secret: None,
            jwt_public_key: None,
            jwt_algorithm: None,
            jwt_issuer: None,
            jwt_audience: None,
        }
    }

    fn token(keys: &KeySource) -> String {
        TokenMinter::new(keys, None, None)
            .expect("HS256 mints")
            .mint(
                "alice",
                &[("acme".into(), Role::Owner)],
                false,
                std::time::Duration::from_secs(60),
            )
            .expect("mint")
    }

    #[test]
    fn a_missing_claim_is_named_in_the_error() {
        let status = tonic::Status::from(ApiError::from(AuthError::MissingClaim("aud".into())));
        let details = status.get_error_details();
        let info = details.error_info().expect("error info");
        assert_eq!(info.reason, "TOKEN_CLAIM_MISSING");
        assert_eq!(info.metadata.get("claim").map(String::as_str), Some("aud"));
    }

    #[test]
    fn secrets_shorter_than_the_hash_are_refused() {
        assert!(matches!(
            KeySource::from_secret(vec![1; MIN_SECRET_BYTES - 1]),
            Err(KeyError::SecretTooShort)
        ));
        assert!(KeySource::from_secret(vec![1; MIN_SECRET_BYTES]).is_ok());
        assert!(KeySource::from_secret(vec![1; 4 * MIN_SECRET_BYTES]).is_ok());
    }

    #[test]
    fn the_development_secret_is_made_once_and_then_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = KeySource::resolve(&no_flags(), dir.path()).expect("made");
        let made = first.dev_secret().expect("the development secret");
        assert!(made.created, "this call made it");
        assert_eq!(made.file, dir.path().join(DEV_SECRET_FILE));
        let second = KeySource::resolve(&no_flags(), dir.path()).expect("kept");
        assert!(!second.dev_secret().expect("the same file").created);

        // The key is the file's contents, the same for both.
        let stored = fs::read(dir.path().join(DEV_SECRET_FILE)).expect("the file");
        assert_eq!(stored.len(), 43, "32 random bytes, base64url");
        let from_file = KeySource::from_secret(stored).expect("long enough");
        let verifier = JwtVerifier::new(&from_file, None, None);
        assert!(verifier.verify(&token(&first)).is_ok());
        assert!(verifier.verify(&token(&second)).is_ok());

        let configured = AuthArgs {
            jwt_secret: Some(Secret::new("c".repeat(MIN_SECRET_BYTES))),
            ..no_flags()
        };
        let keys = KeySource::resolve(&configured, dir.path()).expect("configured");
        assert!(
            keys.dev_secret().is_none(),
            "a configured secret is not one"
        );
    }
}

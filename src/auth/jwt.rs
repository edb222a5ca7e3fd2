use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use super::{
    Caller, Role,
    keys::{AuthError, KeyError, KeySource},
};
use crate::names::ProjectId;

/// The claims Patchbay reads. `projects` maps project id → role name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default)]
    pub projects: HashMap<String, String>,
    #[serde(default)]
    pub admin: bool,
}

/// Verifies bearer tokens into [`Caller`]s. Accepts exactly one algorithm:
/// the one its key is for, so `alg: none` and algorithm confusion fail.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    /// Tokens already verified, with their expiry: clients send the same
    /// token on every call, and re-checking its signature each time costs
    /// more than many RPCs themselves.
    verified: Mutex<HashMap<String, (Arc<Caller>, u64)>>,
}

/// Verified tokens remembered at most; the cache is emptied when full.
const VERIFIED_CAPACITY: usize = 10_000;

impl JwtVerifier {
    pub fn new(keys: &KeySource, issuer: Option<&str>, audience: Option<&str>) -> Self {
        let (algorithm, key) = keys.decoding();
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        match issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Self {
            key,
            validation,
            verified: Mutex::new(HashMap::new()),
        }
    }

    pub fn verify(&self, token: &str) -> Result<Arc<Caller>, AuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match verified.get(token) {
            // The same leeway as a full check.
            Some((caller, exp)) if now <= exp + self.validation.leeway => return Ok(caller.clone()),
            Some(_) => {
                verified.remove(token);
            }
            None => {}
        }
        drop(verified);
        let (caller, exp) = self.verify_signature(token)?;
        let caller = Arc::new(caller);
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(token.to_owned(), (caller.clone(), exp));
        Ok(caller)
    }

    fn verify_signature(&self, token: &str) -> Result<(Caller, u64), AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::UnsupportedAlgorithm => AuthError::AlgorithmNotAllowed,
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::InvalidClaims(format!("missing {claim}"))
                }
                ErrorKind::InvalidIssuer => AuthError::InvalidClaims("wrong issuer".into()),
                ErrorKind::InvalidAudience => AuthError::InvalidClaims("wrong audience".into()),
                ErrorKind::ImmatureSignature => {
                    AuthError::InvalidClaims("not valid yet (nbf)".into())
                }
                // Includes headers naming an algorithm we do not know, such as "none".
                ErrorKind::Json(_) | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                    AuthError::Malformed
                }
                _ => AuthError::Malformed,
            },
        )?;
        let exp = data.claims.exp;
        Ok((caller_from_claims(data.claims)?, exp))
    }
}

fn caller_from_claims(claims: Claims) -> Result<Caller, AuthError> {
    if claims.sub.trim().is_empty() {
        return Err(AuthError::InvalidClaims("empty sub".into()));
    }
    let mut projects = HashMap::with_capacity(claims.projects.len());
    for (project, role) in claims.projects {
        let project = ProjectId::parse(&project)
            .map_err(|e| AuthError::InvalidClaims(format!("projects: {e}")))?;
        let role = Role::parse(&role)
            .ok_or_else(|| AuthError::InvalidClaims(format!("projects: unknown role {role:?}")))?;
        projects.insert(project, role);
    }
    Ok(Caller::new(claims.sub, projects, claims.admin))
}

/// Mints HS256 tokens (`patchbay token`, and tests).
pub struct TokenMinter {
    key: jsonwebtoken::EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

impl TokenMinter {
    pub fn new(
        keys: &KeySource,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            key: keys.encoding()?,
            issuer,
            audience,
        })
    }

    /// A token for `sub` with the given project roles, valid for `ttl`.
    pub fn mint(
        &self,
        sub: &str,
        projects: &[(String, Role)],
        admin: bool,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        self.mint_claims(&Claims {
            sub: sub.to_owned(),
            exp: now + ttl.as_secs(),
            iat: Some(now),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            projects: projects
                .iter()
                .map(|(p, r)| (p.clone(), r.as_str().to_owned()))
                .collect(),
            admin,
        })
    }

    /// A token with exactly these claims (tests use it for expired tokens).
    pub fn mint_claims(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.key)
    }
}

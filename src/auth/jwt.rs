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
///
/// `sub` and `exp` are required, but default here: a token without them
/// then reaches the required-claim check, which names the missing claim,
/// instead of failing to parse as a malformed token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(default)]
    pub projects: HashMap<String, String>,
    #[serde(default)]
    pub admin: bool,
}

/// `aud` is one string or an array of strings (RFC 7519 section 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// How far `exp` and `nbf` may be off the server's clock: tokens are
/// accepted up to this long after `exp` and from this long before `nbf`.
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(30);

/// Verified tokens remembered at most; the cache is emptied when full.
const VERIFIED_CAPACITY: usize = 10_000;

/// Seconds since the Unix epoch; a function so tests can move time.
type Clock = Box<dyn Fn() -> u64 + Send + Sync>;

fn system_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Verifies bearer tokens into [`Caller`]s. Accepts exactly one algorithm:
/// the one its key is for, so `alg: none` and algorithm confusion fail.
pub struct JwtVerifier {
    key: DecodingKey,
    /// Signature, algorithm, issuer, audience and required claims; `exp` and
    /// `nbf` are checked here against [`Self::now`], for cached tokens too.
    validation: Validation,
    leeway: u64,
    now: Clock,
    /// Tokens already verified, with their `exp`: clients send the same
    /// token on every call, and re-checking its signature each time costs
    /// more than many RPCs themselves.
    verified: Mutex<HashMap<String, (Arc<Caller>, u64)>>,
    capacity: usize,
}

impl JwtVerifier {
    pub fn new(keys: &KeySource, issuer: Option<&str>, audience: Option<&str>) -> Self {
        Self::with_clock(
            keys,
            issuer,
            audience,
            Box::new(system_clock),
            VERIFIED_CAPACITY,
        )
    }

    fn with_clock(
        keys: &KeySource,
        issuer: Option<&str>,
        audience: Option<&str>,
        now: Clock,
        capacity: usize,
    ) -> Self {
        let (algorithm, key) = keys.decoding();
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let mut required = vec!["exp", "sub"];
        match issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Self {
            key,
            validation,
            leeway: CLOCK_LEEWAY.as_secs(),
            now,
            verified: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    pub fn verify(&self, token: &str) -> Result<Arc<Caller>, AuthError> {
        let now = (self.now)();
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match verified.get(token) {
            Some((caller, exp)) if !self.expired(*exp, now) => return Ok(caller.clone()),
            Some(_) => {
                verified.remove(token);
            }
            None => {}
        }
        drop(verified);
        let claims = self.decode(token)?;
        if self.expired(claims.exp, now) {
            return Err(AuthError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
        {
            return Err(AuthError::NotYetValid);
        }
        let exp = claims.exp;
        let caller = Arc::new(caller_from_claims(claims)?);
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= self.capacity {
            verified.clear();
        }
        verified.insert(token.to_owned(), (caller.clone(), exp));
        Ok(caller)
    }

    fn expired(&self, exp: u64, now: u64) -> bool {
        exp.saturating_add(self.leeway) < now
    }

    fn decode(&self, token: &str) -> Result<Claims, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::UnsupportedAlgorithm => AuthError::AlgorithmNotAllowed,
                ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                // Includes headers naming an algorithm we do not know, such as "none".
                _ => AuthError::Malformed,
            },
        )?;
        Ok(data.claims)
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
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
            nbf: None,
            iss: self.issuer.clone(),
            aud: self.audience.clone().map(Audience::One),
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

#[cfg(test)]
mod tests;

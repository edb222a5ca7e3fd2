//! The verifier against a clock the tests move: expiry (of cached tokens
//! too), `nbf`, issuer and audience, and the cache's bound.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

const NOW: u64 = 1_800_000_000;
const LEEWAY: u64 = CLOCK_LEEWAY.as_secs();

struct Fixture {
    keys: KeySource,
    minter: TokenMinter,
    clock: Arc<AtomicU64>,
}

impl Fixture {
    fn new() -> Self {
        let keys = KeySource::from_secret(vec![7; 32]).expect("long enough");
        let minter = TokenMinter::new(&keys, None, None).expect("HS256 mints");
        Self {
            keys,
            minter,
            clock: Arc::new(AtomicU64::new(NOW)),
        }
    }

    fn verifier(&self, issuer: Option<&str>, audience: Option<&str>) -> JwtVerifier {
        self.verifier_holding(issuer, audience, VERIFIED_CAPACITY)
    }

    fn verifier_holding(
        &self,
        issuer: Option<&str>,
        audience: Option<&str>,
        capacity: usize,
    ) -> JwtVerifier {
        let clock = self.clock.clone();
        JwtVerifier::with_clock(
            &self.keys,
            issuer,
            audience,
            Box::new(move || clock.load(Ordering::SeqCst)),
            capacity,
        )
    }

    fn set_time(&self, now: u64) {
        self.clock.store(now, Ordering::SeqCst);
    }

    fn token(&self, edit: impl FnOnce(&mut Claims)) -> String {
        let mut claims = Claims {
            sub: "alice".into(),
            exp: NOW + 600,
            nbf: None,
            iat: Some(NOW),
            iss: None,
            aud: None,
            projects: [("acme".to_owned(), "owner".to_owned())].into(),
            admin: false,
        };
        edit(&mut claims);
        self.minter.mint_claims(&claims).expect("mint")
    }
}

fn reason(result: Result<Arc<Caller>, AuthError>) -> &'static str {
    match result {
        Ok(_) => "ACCEPTED",
        Err(e) => e.reason(),
    }
}

#[test]
fn a_valid_token_yields_its_caller() {
    let f = Fixture::new();
    let caller = f
        .verifier(None, None)
        .verify(&f.token(|_| {}))
        .expect("valid");
    assert_eq!(caller.subject(), "alice");
}

#[test]
fn expiry_gets_the_leeway_and_not_a_second_more() {
    let f = Fixture::new();
    let verifier = f.verifier(None, None);
    let token = f.token(|c| c.exp = NOW);
    f.set_time(NOW + LEEWAY);
    assert_eq!(reason(verifier.verify(&token)), "ACCEPTED");
    let fresh = f.verifier(None, None);
    f.set_time(NOW + LEEWAY + 1);
    assert_eq!(reason(fresh.verify(&token)), "TOKEN_EXPIRED");
}

#[test]
fn a_cached_token_is_refused_once_it_expires() {
    let f = Fixture::new();
    let verifier = f.verifier(None, None);
    let token = f.token(|c| c.exp = NOW + 60);
    assert_eq!(reason(verifier.verify(&token)), "ACCEPTED");
    assert_eq!(verifier.cached(), 1);
    f.set_time(NOW + 60 + LEEWAY);
    assert_eq!(
        reason(verifier.verify(&token)),
        "ACCEPTED",
        "inside the leeway"
    );
    f.set_time(NOW + 60 + LEEWAY + 1);
    assert_eq!(reason(verifier.verify(&token)), "TOKEN_EXPIRED");
    assert_eq!(verifier.cached(), 0, "the expired entry is dropped");
}

#[test]
fn a_token_from_the_future_is_refused_until_its_nbf() {
    let f = Fixture::new();
    let verifier = f.verifier(None, None);
    let token = f.token(|c| c.nbf = Some(NOW + 120));
    assert_eq!(reason(verifier.verify(&token)), "TOKEN_NOT_YET_VALID");
    assert_eq!(verifier.cached(), 0, "a refused token is not remembered");
    f.set_time(NOW + 120 - LEEWAY - 1);
    assert_eq!(reason(verifier.verify(&token)), "TOKEN_NOT_YET_VALID");
    f.set_time(NOW + 120 - LEEWAY);
    assert_eq!(
        reason(verifier.verify(&token)),
        "ACCEPTED",
        "inside the leeway"
    );
}

#[test]
fn a_configured_issuer_is_required_and_must_match() {
    let f = Fixture::new();
    let verifier = f.verifier(Some("https://id.example"), None);
    let missing = verifier.verify(&f.token(|_| {}));
    assert!(matches!(&missing, Err(AuthError::MissingClaim(c)) if c == "iss"));
    assert_eq!(reason(missing), "TOKEN_CLAIM_MISSING");
    let wrong = f.token(|c| c.iss = Some("https://evil.example".into()));
    assert_eq!(reason(verifier.verify(&wrong)), "TOKEN_ISSUER_INVALID");
    let right = f.token(|c| c.iss = Some("https://id.example".into()));
    assert_eq!(reason(verifier.verify(&right)), "ACCEPTED");
}

#[test]
fn a_configured_audience_is_required_and_may_be_an_array() {
    let f = Fixture::new();
    let verifier = f.verifier(None, Some("patchbay"));
    let missing = verifier.verify(&f.token(|_| {}));
    assert!(matches!(&missing, Err(AuthError::MissingClaim(c)) if c == "aud"));
    assert_eq!(reason(missing), "TOKEN_CLAIM_MISSING");
    let audience = |aud: Audience| f.token(|c| c.aud = Some(aud));
    let cases = [
        (Audience::One("patchbay".into()), "ACCEPTED"),
        (Audience::One("billing".into()), "TOKEN_AUDIENCE_INVALID"),
        (
            Audience::Many(vec!["billing".into(), "patchbay".into()]),
            "ACCEPTED",
        ),
        (
            Audience::Many(vec!["billing".into(), "search".into()]),
            "TOKEN_AUDIENCE_INVALID",
        ),
        (Audience::Many(vec![]), "TOKEN_AUDIENCE_INVALID"),
    ];
    for (aud, wanted) in cases {
        let token = audience(aud.clone());
        assert_eq!(reason(verifier.verify(&token)), wanted, "{aud:?}");
    }
}

#[test]
fn without_a_configured_audience_an_array_audience_still_parses() {
    let f = Fixture::new();
    let token = f.token(|c| c.aud = Some(Audience::Many(vec!["a".into(), "b".into()])));
    assert_eq!(reason(f.verifier(None, None).verify(&token)), "ACCEPTED");
}

#[test]
fn the_cache_never_holds_more_than_its_capacity() {
    let f = Fixture::new();
    let verifier = f.verifier_holding(None, None, 3);
    for i in 0..3 {
        let token = f.token(|c| c.sub = format!("user-{i}"));
        verifier.verify(&token).expect("valid");
    }
    assert_eq!(verifier.cached(), 3);
    verifier
        .verify(&f.token(|c| c.sub = "user-3".into()))
        .expect("valid");
    assert_eq!(
        verifier.cached(),
        1,
        "a full cache is emptied, then refilled"
    );
}

#[test]
fn a_cached_token_is_served_without_its_signature_checked_again() {
    let f = Fixture::new();
    let verifier = f.verifier(None, None);
    let token = f.token(|_| {});
    let first = verifier.verify(&token).expect("valid");
    let second = verifier.verify(&token).expect("still valid");
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second answer is the cached one"
    );
}

#[test]
fn the_system_clock_is_the_real_time() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert!(system_clock().abs_diff(now) <= 1);
}

#[test]
fn a_foreign_signature_and_another_algorithm_each_say_so() {
    let f = Fixture::new();
    let stranger = TokenMinter::new(
        &KeySource::from_secret(vec![8; 32]).expect("long enough"),
        None,
        None,
    )
    .expect("mints");
    let claims = Claims {
        sub: "mallory".into(),
        exp: NOW + 600,
        nbf: None,
        iat: None,
        iss: None,
        aud: None,
        projects: HashMap::new(),
        admin: true,
    };
    let forged = stranger.mint_claims(&claims).expect("mint");
    let verifier = f.verifier(None, None);
    assert_eq!(reason(verifier.verify(&forged)), "TOKEN_SIGNATURE_INVALID");
    let hs384 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS384),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&[7; 32]),
    )
    .expect("encode");
    assert_eq!(reason(verifier.verify(&hs384)), "TOKEN_ALGORITHM_REFUSED");
    assert_eq!(reason(verifier.verify("not.a.token")), "TOKEN_MALFORMED");
}

#[test]
fn minted_tokens_carry_their_subject_roles_and_lifetime() {
    let f = Fixture::new();
    let token = f
        .minter
        .mint(
            "alice",
            &[("acme".into(), Role::Editor)],
            false,
            Duration::from_secs(600),
        )
        .expect("mint");
    let minted_at = system_clock();
    f.set_time(minted_at);
    let caller = f.verifier(None, None).verify(&token).expect("valid now");
    assert_eq!(caller.subject(), "alice");
    let acme = ProjectId::parse("acme").expect("project");
    assert_eq!(caller.role_in(&acme), Some(Role::Editor));
    f.set_time(minted_at + 590);
    assert_eq!(reason(f.verifier(None, None).verify(&token)), "ACCEPTED");
    f.set_time(minted_at + 600 + LEEWAY + 2);
    assert_eq!(
        reason(f.verifier(None, None).verify(&token)),
        "TOKEN_EXPIRED",
        "valid for its ttl, not longer"
    );
}

//! HS256 tokens: minted by `tiejun token` and `tiejun up`, verified by every
//! service and the gateway.
//!
//! A client calls with the same token for the token's whole life, so a
//! token that verified is kept ([`VERIFIED_CAPACITY`] at most, each for
//! [`VERIFIED_FOR`] at most): the next call with the very same bytes costs one
//! lookup instead of an HMAC and a JSON parse. The cache never widens what
//! is accepted: only tokens that verified are kept, keyed by all their
//! bytes (signature included), and a kept token is answered from the cache
//! only before its `exp`; from then on it is verified again (and refused
//! once past the leeway), as if it had never been seen.

use std::{sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Principal, Role};
use crate::error::Error;

/// The claims of a tiejun token (the default: no subject, no role, expired).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Subject: who the caller is.
    pub sub: String,
    /// Role names.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Scope: acts as this rep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rep_id: Option<String>,
    /// Scope: acts for this billing account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Scope: acts as this learner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learner_id: Option<String>,
    /// Scope: a sales manager of this team only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// What to put in a new token.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    /// Subject.
    pub subject: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Lifetime.
    pub ttl: Duration,
    /// Optional rep scope.
    pub rep_id: Option<String>,
    /// Optional account scope.
    pub account_id: Option<String>,
    /// Optional learner scope.
    pub learner_id: Option<String>,
    /// Optional team scope (sales managers).
    pub team: Option<String>,
}

impl TokenSpec {
    /// A token for `subject` with `roles`, valid for `ttl`, without scopes.
    pub fn new(subject: impl Into<String>, roles: &[Role], ttl: Duration) -> Self {
        Self {
            subject: subject.into(),
            roles: roles.to_vec(),
            ttl,
            rep_id: None,
            account_id: None,
            learner_id: None,
            team: None,
        }
    }
}

/// The most verified tokens kept (about 1 KiB each at most).
pub const VERIFIED_CAPACITY: u64 = 10_000;

/// The longest a verified token is kept, however far its `exp`.
pub const VERIFIED_FOR: Duration = Duration::from_secs(300);

/// A token that verified: who it names, and until when the cache may say so.
#[derive(Debug)]
struct Verified {
    principal: Principal,
    exp: u64,
}

/// The shared HS256 secret, ready to mint and verify. Its `Debug` never shows it.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    verified: moka::sync::Cache<Box<str>, Arc<Verified>>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

impl JwtKeys {
    /// Keys from the shared secret (at least 16 bytes).
    pub fn from_secret(secret: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_LEN,
            "the JWT secret must be at least {MIN_SECRET_LEN} bytes"
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_CAPACITY)
                .time_to_live(VERIFIED_FOR)
                .build(),
        })
    }

    /// Mints a signed token.
    pub fn mint(&self, spec: &TokenSpec) -> anyhow::Result<String> {
        let now = now_secs();
        let claims = Claims {
            sub: spec.subject.clone(),
            roles: spec.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            exp: now + spec.ttl.as_secs(),
            iat: Some(now),
            nbf: None,
            rep_id: spec.rep_id.clone(),
            account_id: spec.account_id.clone(),
            learner_id: spec.learner_id.clone(),
            team: spec.team.clone(),
        };
        self.encode(&claims)
    }

    /// Signs arbitrary claims (tests use it for expired and not-yet-valid tokens).
    pub fn encode(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.encoding,
        )?)
    }

    /// Verifies a token: HS256 only, signature, `exp` and `nbf`; a token
    /// seen before is answered from the cache until its `exp` (module docs).
    pub fn verify(&self, token: &str) -> Result<Principal, Error> {
        let now = now_secs();
        if let Some(hit) = self.verified.get(token)
            && now < hit.exp
        {
            return Ok(hit.principal.clone());
        }
        let (principal, exp) = self.verify_signed(token)?;
        if now < exp {
            let kept = Verified {
                principal: principal.clone(),
                exp,
            };
            self.verified.insert(token.into(), Arc::new(kept));
        }
        Ok(principal)
    }

    /// The full check, without the cache: the principal and the token's `exp`.
    fn verify_signed(&self, token: &str) -> Result<(Principal, u64), Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            let why = match e.kind() {
                K::ExpiredSignature => "token expired",
                K::ImmatureSignature => "token not yet valid",
                K::InvalidSignature => "bad token signature",
                K::InvalidAlgorithm | K::InvalidAlgorithmName => "token algorithm not accepted",
                _ => "malformed token",
            };
            Error::Unauthenticated(why.into())
        })?;
        let c = data.claims;
        let principal = Principal {
            subject: c.sub,
            roles: c.roles.iter().filter_map(|r| r.parse().ok()).collect(),
            rep_id: c.rep_id.filter(|s| !s.is_empty()),
            account_id: c.account_id.filter(|s| !s.is_empty()),
            learner_id: c.learner_id.filter(|s| !s.is_empty()),
            team: c.team.filter(|s| !s.is_empty()),
            reach: super::Reach::Anyone,
        };
        Ok((principal, c.exp))
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> JwtKeys {
        JwtKeys::from_secret(SECRET).expect("secret long enough")
    }

    #[test]
    fn minted_token_verifies_with_roles_and_scope() {
        let mut spec = TokenSpec::new("zhang", &[Role::SalesRep], Duration::from_secs(60));
        spec.rep_id = Some("E1001".into());
        let p = keys().verify(&keys().mint(&spec).expect("mint")).expect("verify");
        assert_eq!(p.subject, "zhang");
        assert_eq!(p.roles, vec![Role::SalesRep]);
        assert_eq!(p.rep_id.as_deref(), Some("E1001"));
    }

    #[test]
    fn expired_token_is_refused() {
        let claims = Claims {
            sub: "x".into(),
            roles: vec!["admin".into()],
            exp: now_secs() - 120,
            ..Default::default()
        };
        let err = keys()
            .verify(&keys().encode(&claims).expect("encode"))
            .expect_err("expired");
        assert!(
            matches!(err, Error::Unauthenticated(ref m) if m == "token expired"),
            "{err}"
        );
    }

    #[test]
    fn not_yet_valid_token_is_refused() {
        let claims = Claims {
            sub: "x".into(),
            roles: vec![],
            exp: now_secs() + 3600,
            iat: None,
            nbf: Some(now_secs() + 600),
            ..Default::default()
        };
        assert!(keys().verify(&keys().encode(&claims).expect("encode")).is_err());
    }

    #[test]
    fn token_signed_with_another_secret_is_refused() {
        let other = JwtKeys::from_secret(b"another-secret-of-enough-length!").expect("keys");
        let token = other
            .mint(&TokenSpec::new("x", &[Role::Admin], Duration::from_secs(60)))
            .expect("mint");
        assert!(keys().verify(&token).is_err());
    }

    #[test]
    fn unsigned_alg_none_token_is_refused() {
        // {"alg":"none"} with an admin payload and an empty signature.
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJtYWxsb3J5Iiwicm9sZXMiOlsiYWRtaW4iXSwiZXhwIjo0MTAyNDQ0ODAwfQ.";
        assert!(keys().verify(token).is_err());
    }

    fn claims_until(exp: u64) -> Claims {
        Claims {
            sub: "x".into(),
            roles: vec!["admin".into()],
            exp,
            iat: None,
            nbf: None,
            rep_id: None,
            account_id: None,
            learner_id: None,
            team: None,
        }
    }

    #[test]
    fn a_verified_token_is_not_answered_from_the_cache_past_its_exp() {
        let mut keys = keys();
        keys.validation.leeway = 0;
        let token = keys.encode(&claims_until(now_secs() + 1)).expect("encode");
        assert_eq!(keys.verify(&token).expect("fresh").subject, "x");
        assert!(keys.verified.get(token.as_str()).is_some(), "kept after it verified");
        std::thread::sleep(Duration::from_millis(2100));
        let err = keys.verify(&token).expect_err("expired, though verified before");
        assert!(
            matches!(err, Error::Unauthenticated(ref m) if m == "token expired"),
            "{err}"
        );
    }

    #[test]
    fn the_cache_keeps_only_tokens_that_verified_and_keys_them_by_every_byte() {
        let keys = keys();
        let token = keys.encode(&claims_until(now_secs() + 600)).expect("encode");
        keys.verify(&token).expect("verify");
        assert!(keys.verified.get(token.as_str()).is_some(), "a verified token is kept");
        // The same claims with another signature: not the cached token.
        let mut forged = token.clone();
        let last = forged.pop().expect("a signature");
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(
            keys.verify(&forged).is_err(),
            "a changed signature is checked, not looked up"
        );
        assert!(
            keys.verified.get(forged.as_str()).is_none(),
            "a refused token is not kept"
        );
        let expired = keys.encode(&claims_until(now_secs() - 120)).expect("encode");
        assert!(keys.verify(&expired).is_err());
        assert!(keys.verified.get(expired.as_str()).is_none());
    }

    #[test]
    fn short_secret_is_rejected() {
        assert!(JwtKeys::from_secret(b"short").is_err());
    }

    #[test]
    fn unknown_roles_are_ignored_not_trusted() {
        let claims = Claims {
            sub: "x".into(),
            roles: vec!["root".into(), "trainer".into()],
            exp: now_secs() + 60,
            ..Default::default()
        };
        let p = keys().verify(&keys().encode(&claims).expect("encode")).expect("verify");
        assert_eq!(p.roles, vec![Role::Trainer]);
    }
}

//! The tower layer in front of every gRPC server: verifies the bearer token,
//! applies the policy, and puts the [`Principal`] on the request.

use std::sync::Arc;

use http::Request;

use super::{JwtKeys, Policy, Principal};
use crate::{error::Error, layer::Gate};

/// Paths that need no token: health checks and reflection.
const EXEMPT_PREFIXES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// True for health and reflection paths.
pub fn is_exempt(path: &str) -> bool {
    EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p))
}

#[derive(Debug)]
struct State {
    keys: JwtKeys,
    policy: Option<Policy>,
}

/// Authenticates every call except health and reflection; with a policy, also
/// authorises it. Failures are answered here: the service never sees them.
#[derive(Debug, Clone)]
pub struct Auth {
    state: Arc<State>,
}

impl Auth {
    /// Authentication and authorisation by `policy`.
    pub fn new(keys: JwtKeys, policy: Policy) -> Self {
        Self {
            state: Arc::new(State {
                keys,
                policy: Some(policy),
            }),
        }
    }

    /// Authentication only (the gateway: services authorise for themselves).
    pub fn authenticate_only(keys: JwtKeys) -> Self {
        Self {
            state: Arc::new(State { keys, policy: None }),
        }
    }
}

impl State {
    fn authorize<B>(&self, req: &Request<B>) -> Result<Principal, Error> {
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| Error::Unauthenticated("missing authorization: Bearer <token>".into()))?;
        if header.len() > super::MAX_TOKEN_BYTES {
            return Err(Error::Unauthenticated(format!(
                "the token is over {} bytes",
                super::MAX_TOKEN_BYTES
            )));
        }
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| Error::Unauthenticated("authorization must be: Bearer <token>".into()))?;
        let mut principal = self.keys.verify(token)?;
        if let Some(policy) = &self.policy {
            principal.reach = policy.check(req.uri().path(), &principal)?;
        }
        Ok(principal)
    }
}

impl Gate for Auth {
    type Held = ();

    fn admit<B>(&self, req: &mut Request<B>) -> Result<(), tonic::Status> {
        if is_exempt(req.uri().path()) {
            return Ok(());
        }
        match self.state.authorize(req) {
            Ok(principal) => {
                req.extensions_mut().insert(principal);
                Ok(())
            }
            Err(err) => {
                tracing::debug!(path = req.uri().path(), code = ?err.code(), "refused at auth");
                Err(err.into())
            }
        }
    }
}

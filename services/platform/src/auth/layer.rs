//! The tower layer in front of every gRPC server: verifies the bearer token,
//! applies the policy, and puts the [`Principal`] on the request.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower::{Layer, Service};

use super::{JwtKeys, Policy, Principal};
use crate::error::Error;

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
pub struct AuthLayer {
    state: Arc<State>,
}

impl AuthLayer {
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

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<State>,
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        if !is_exempt(req.uri().path()) {
            match self.state.authorize(&req) {
                Ok(principal) => {
                    req.extensions_mut().insert(principal);
                }
                Err(err) => {
                    tracing::debug!(path = req.uri().path(), code = ?err.code(), "refused at auth");
                    let status: tonic::Status = err.into();
                    return Box::pin(std::future::ready(Ok(status.into_http::<ResBody>())));
                }
            }
        }
        // The clone is the one that was not polled ready; call the ready one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(req))
    }
}

//! Forwarding by package: the request's HTTP/2 frames go to a backend channel
//! unchanged and the response (headers, messages, trailers) comes back
//! unchanged, so every call kind works without knowing the messages.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use anyhow::Context as _;
use tonic::{
    body::Body,
    service::Routes,
    transport::{Channel, Endpoint},
};
use tower::{Service, ServiceExt as _};

/// One routed package and the channel to its endpoints.
#[derive(Debug, Clone)]
pub struct Backend {
    prefix: String,
    channel: Channel,
}

impl Backend {
    /// Routes `/{package}.*` to `endpoints` (`http://host:port`), balanced
    /// per request. Connections are made lazily, so a backend that is not up
    /// yet costs only the calls made to it meanwhile (UNAVAILABLE).
    pub fn new(package: &str, endpoints: &[String]) -> anyhow::Result<Self> {
        anyhow::ensure!(!endpoints.is_empty(), "no endpoint for {package}");
        let endpoints = endpoints
            .iter()
            .map(|url| Endpoint::from_shared(url.clone()).with_context(|| format!("bad endpoint {url:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            prefix: format!("/{package}."),
            channel: Channel::balance_list(endpoints.into_iter()),
        })
    }
}

/// The fallback service of the gateway's router: everything that is not the
/// gateway's own health or reflection goes through here.
#[derive(Debug, Clone)]
pub struct Forwarder {
    backends: Arc<Vec<Backend>>,
}

impl Forwarder {
    /// A forwarder over `backends`.
    pub fn new(backends: Vec<Backend>) -> Self {
        Self {
            backends: Arc::new(backends),
        }
    }

    /// The gateway's routes: this forwarder as the fallback of an empty router
    /// (health and reflection are added by the server bootstrap).
    pub fn into_routes(self) -> Routes {
        Routes::from(axum::Router::new().fallback_service(self))
    }

    fn channel_for(&self, path: &str) -> Option<Channel> {
        self.backends
            .iter()
            .find(|b| path.starts_with(&b.prefix))
            .map(|b| b.channel.clone())
    }
}

impl Service<http::Request<axum::body::Body>> for Forwarder {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<axum::body::Body>) -> Self::Future {
        let path = req.uri().path().to_owned();
        let Some(channel) = self.channel_for(&path) else {
            let status = tonic::Status::unimplemented(format!("no service behind the gateway answers {path}"));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        let req = req.map(Body::new);
        Box::pin(async move {
            match channel.oneshot(req).await {
                Ok(response) => Ok(response),
                Err(err) => {
                    tracing::warn!(%path, error = %err, "backend unreachable");
                    Ok(tonic::Status::unavailable("backend unavailable").into_http())
                }
            }
        })
    }
}

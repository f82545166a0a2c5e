//! The gateway's edge for browsers and `curl`: gRPC-Web (`tonic-web`) and
//! the Connect protocol ([`connect`]) for every RPC, from the descriptors,
//! with CORS for the origins `--cors-allow-origin` names (none by default).
//!
//! Both are translated to gRPC in front of the server's every layer (see
//! `tiejun_platform::server::Edge`), so the token, the per-principal limits,
//! the deadline, the message size limit, retries, balancing, metrics and
//! traces are the gRPC path's own. Health and reflection stay gRPC.

mod connect;
mod schema;

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use http::{HeaderName, HeaderValue, Method};
use tiejun_platform::{
    calls::Protocol,
    layer::AroundLayer,
    server::{Edge, HttpService},
};
use tower::ServiceExt as _;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use connect::{Connect, code_name, http_status};
pub use schema::Schema;

/// Request headers a browser may send across origins.
const ALLOWED_HEADERS: [&str; 9] = [
    "authorization",
    "content-type",
    "connect-protocol-version",
    "connect-timeout-ms",
    "grpc-timeout",
    "x-grpc-web",
    "x-user-agent",
    "traceparent",
    "idempotency-key",
];

/// Response headers a browser may read across origins.
const EXPOSED_HEADERS: [&str; 4] = ["grpc-status", "grpc-message", "grpc-status-details-bin", "retry-after"];

/// The edge: CORS (when origins are allowed), then Connect, then gRPC-Web,
/// in front of the gRPC server.
pub fn edge(cors_origins: &[String], max_message_bytes: usize) -> anyhow::Result<Edge> {
    let schema = Arc::new(Schema::load()?);
    let cors = cors(cors_origins)?;
    Ok(Edge(Arc::new(move |grpc: HttpService| {
        let web = tower::ServiceBuilder::new()
            .map_request(|mut req: http::Request<tonic::body::Body>| {
                let protocol = Protocol::of(&req);
                req.extensions_mut().insert(protocol);
                req
            })
            .option_layer(cors.clone())
            .layer(AroundLayer::new(Connect::new(schema.clone(), max_message_bytes)))
            .layer(tonic_web::GrpcWebLayer::new())
            .service(grpc.clone());
        HttpService::new(Split {
            grpc,
            web: HttpService::new(web.map_err(Into::into)),
        })
    })))
}

/// Sends a gRPC call (HTTP/2, `application/grpc`) straight on, so the web
/// edge costs the gRPC path one header comparison; everything else goes
/// through the translations.
#[derive(Clone)]
struct Split {
    grpc: HttpService,
    web: HttpService,
}

impl tower::Service<http::Request<tonic::body::Body>> for Split {
    type Response = http::Response<tonic::body::Body>;
    type Error = tower::BoxError;
    type Future = <HttpService as tower::Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        // Both are buffers-free wrappers of the same server: ready together.
        match self.grpc.poll_ready(cx) {
            std::task::Poll::Ready(Ok(())) => self.web.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let grpc = req.version() == http::Version::HTTP_2 && Protocol::of(&req) == Protocol::Grpc;
        if grpc { self.grpc.call(req) } else { self.web.call(req) }
    }
}

fn cors(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(|o| HeaderValue::from_str(o).with_context(|| format!("--cors-allow-origin {o:?}: not a header value")))
        .collect::<anyhow::Result<_>>()?;
    if origins.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::POST, Method::GET])
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
            .max_age(Duration::from_secs(7200)),
    ))
}

//! The calls a server answers: every method of its services (from the
//! descriptors), health and reflection, with each one's kind. What a call's
//! metric labels may be, and which calls get the default deadline.

use std::{collections::HashMap, sync::Arc};

/// The value of `rpc.service` and `rpc.method` for a path no server serves.
pub const OTHER: &str = "_OTHER";

/// Whether each side of a call streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kind {
    /// The caller streams requests.
    pub client_streaming: bool,
    /// The server streams responses.
    pub server_streaming: bool,
}

/// What is known of one path: its kind, and its metric labels made once
/// (a call's labels are then two reference-count increments, not four
/// string allocations).
#[derive(Debug, Clone)]
struct Known {
    kind: Kind,
    service: opentelemetry::Value,
    method: opentelemetry::Value,
}

impl Known {
    fn new(path: &str, kind: Kind) -> Self {
        let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((OTHER, OTHER));
        Self {
            kind,
            service: Arc::<str>::from(service).into(),
            method: Arc::<str>::from(method).into(),
        }
    }
}

/// The paths a server answers, and their kinds.
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<HashMap<String, Known>>);

impl Calls {
    /// The paths of `services` (fully qualified), health and reflection.
    pub fn for_services(services: &[String]) -> Self {
        let mut paths: HashMap<String, Kind> = tiejun_proto::methods()
            .into_iter()
            .filter(|m| services.contains(&m.service))
            .map(|m| {
                let kind = Kind {
                    client_streaming: m.client_streaming,
                    server_streaming: m.server_streaming,
                };
                (m.path, kind)
            })
            .collect();
        let stream = |client_streaming| Kind {
            client_streaming,
            server_streaming: true,
        };
        paths.insert("/grpc.health.v1.Health/Check".into(), Kind::default());
        paths.insert("/grpc.health.v1.Health/Watch".into(), stream(false));
        for service in [
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ] {
            paths.insert(format!("/{service}/ServerReflectionInfo"), stream(true));
        }
        let known = paths.into_iter().map(|(path, kind)| {
            let known = Known::new(&path, kind);
            (path, known)
        });
        Self(Arc::new(known.collect()))
    }

    /// `(rpc.service, rpc.method)` of `path`: its own parts when the server
    /// answers it, [`OTHER`] twice otherwise.
    pub fn labels<'a>(&self, path: &'a str) -> (&'a str, &'a str) {
        match path.trim_start_matches('/').split_once('/') {
            Some(parts) if self.0.contains_key(path) => parts,
            _ => (OTHER, OTHER),
        }
    }

    /// [`Calls::labels`] as metric attribute values, made once per path.
    pub fn label_values(&self, path: &str) -> (opentelemetry::Value, opentelemetry::Value) {
        match self.0.get(path) {
            Some(known) => (known.service.clone(), known.method.clone()),
            None => (OTHER.into(), OTHER.into()),
        }
    }

    /// The kind of `path` (an unknown path is taken as unary).
    pub fn kind(&self, path: &str) -> Kind {
        self.0.get(path).map(|k| k.kind).unwrap_or_default()
    }
}

/// The protocol a call arrived in: gRPC, or one the gateway's web edge
/// translates to gRPC. An attribute of the call's span and of its
/// `rpc.server.duration` series (`tiejun.rpc.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `application/grpc`.
    Grpc,
    /// `application/grpc-web`, `+proto` or `-text`.
    GrpcWeb,
    /// The Connect protocol: `application/json`, `application/proto`,
    /// `application/connect+…`, or a GET.
    Connect,
}

impl Protocol {
    /// The protocol of `req`, by its method and content type.
    pub fn of<B>(req: &http::Request<B>) -> Self {
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if content_type.starts_with("application/grpc-web") {
            Self::GrpcWeb
        } else if content_type.starts_with("application/grpc") {
            Self::Grpc
        } else if req.method() == http::Method::GET
            || content_type.starts_with("application/json")
            || content_type.starts_with("application/proto")
            || content_type.starts_with("application/connect+")
        {
            Self::Connect
        } else {
            Self::Grpc
        }
    }

    /// `grpc`, `grpc_web` or `connect`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::GrpcWeb => "grpc_web",
            Self::Connect => "connect",
        }
    }
}

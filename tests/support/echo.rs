//! The echo services of `tiejun.bench.v1`, served through the platform
//! bootstrap so tests can make slow calls (drain, shedding, deadlines) and
//! every call kind (the gateway's forwarding), and see what the server saw.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use tiejun_platform::{
    auth::{Allowed, Policy},
    config::ServerArgs,
    deadline::parse_grpc_timeout,
    server::{self, CallLimits, Readiness, ServerSpec},
};
use tiejun_proto::bench::v1::{
    CollectRequest, CollectResponse, ConverseRequest, ConverseResponse, EchoRequest, EchoResponse, ExpandRequest,
    ExpandResponse,
    echo_service_server::{EchoService, EchoServiceServer},
    stream_service_server::{StreamService, StreamServiceServer},
};
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming, metadata::MetadataValue, service::Routes};

use crate::Running;

/// The payload that makes `Converse` fail with a BadRequest detail.
pub const FAIL: &[u8] = b"fail";

/// What an echo server saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Calls received (every kind).
    pub calls: AtomicU64,
    /// The `grpc-timeout` of the last call, in milliseconds (-1: none yet, 0: none).
    pub last_deadline_ms: AtomicI64,
    /// The `traceparent` of the last call.
    pub last_traceparent: Mutex<Option<String>>,
    /// While above zero, `Echo` and `Collect` answer UNAVAILABLE before any
    /// message (and count down): a backend that is briefly unable to serve.
    pub fail_next: AtomicU64,
}

impl Seen {
    fn record<T>(&self, request: &Request<T>) -> i64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let deadline_ms = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.last_deadline_ms.store(deadline_ms, Ordering::SeqCst);
        *self.last_traceparent.lock().expect("not poisoned") = request
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        deadline_ms
    }

    fn refuse_if_told(&self) -> Result<(), Status> {
        let told = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if told {
            Err(Status::unavailable("told to fail"))
        } else {
            Ok(())
        }
    }

    /// Calls received so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Echoes after the requested delay and reports the deadline it saw.
#[derive(Debug, Clone, Default)]
pub struct Echo {
    seen: Arc<Seen>,
}

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let deadline_ms = self.seen.record(&request);
        self.seen.refuse_if_told()?;
        let traceparent = request.metadata().get("traceparent").cloned();
        let message = request.into_inner();
        if let Some(delay) = message.delay {
            let delay = Duration::try_from(delay).map_err(|_| Status::invalid_argument("negative delay"))?;
            tokio::time::sleep(delay).await;
        }
        let mut response = Response::new(EchoResponse {
            payload: message.payload,
            deadline_ms,
        });
        if let Some(traceparent) = traceparent {
            response.metadata_mut().insert("x-echo-traceparent", traceparent);
        }
        Ok(response)
    }
}

type Answers<T> = tonic::codegen::BoxStream<T>;

#[tonic::async_trait]
impl StreamService for Echo {
    async fn expand(&self, request: Request<ExpandRequest>) -> Result<Response<Answers<ExpandResponse>>, Status> {
        self.seen.record(&request);
        let ExpandRequest { payload, count } = request.into_inner();
        if !(0..=1000).contains(&count) {
            return Err(Status::invalid_argument("count must be 0..=1000"));
        }
        let answers = (0..count).map(move |index| {
            Ok(ExpandResponse {
                payload: payload.clone(),
                index,
            })
        });
        Ok(Response::new(Box::pin(tokio_stream::iter(answers))))
    }

    async fn collect(&self, request: Request<Streaming<CollectRequest>>) -> Result<Response<CollectResponse>, Status> {
        self.seen.record(&request);
        self.seen.refuse_if_told()?;
        let mut stream = request.into_inner();
        let mut out = CollectResponse::default();
        while let Some(message) = stream.message().await? {
            out.payload.extend_from_slice(&message.payload);
            out.count += 1;
        }
        Ok(Response::new(out))
    }

    async fn converse(
        &self,
        request: Request<Streaming<ConverseRequest>>,
    ) -> Result<Response<Answers<ConverseResponse>>, Status> {
        self.seen.record(&request);
        let answers = request.into_inner().map(|message| {
            let message = message?;
            if message.payload == FAIL {
                let mut details = tonic_types::ErrorDetails::new();
                details.add_bad_request_violation("payload", "must not be \"fail\"");
                let mut status = <Status as tonic_types::StatusExt>::with_error_details(
                    tonic::Code::InvalidArgument,
                    "payload refused",
                    details,
                );
                status
                    .metadata_mut()
                    .insert("x-echo-trailer", MetadataValue::from_static("kept"));
                return Err(status);
            }
            Ok(ConverseResponse {
                payload: message.payload,
            })
        });
        Ok(Response::new(Box::pin(answers)))
    }
}

/// Starts the echo service through `platform::server::serve` on port 0.
pub async fn start(tune: impl FnOnce(&mut ServerArgs)) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding port 0");
    start_on(listener, tune).await.0
}

/// Starts the echo services on `listener` and returns what they will see.
pub async fn start_on(listener: TcpListener, tune: impl FnOnce(&mut ServerArgs)) -> (Running, Arc<Seen>) {
    let addr: SocketAddr = listener.local_addr().expect("local addr");
    let mut args = ServerArgs::listening_on(addr);
    tune(&mut args);
    let any = &[
        ("Echo", Allowed::AnyAuthenticated),
        ("Expand", Allowed::AnyAuthenticated),
        ("Collect", Allowed::AnyAuthenticated),
        ("Converse", Allowed::AnyAuthenticated),
    ];
    let spec = ServerSpec {
        name: "echo",
        services: vec![
            "tiejun.bench.v1.EchoService".into(),
            "tiejun.bench.v1.StreamService".into(),
        ],
        policy: Some(
            Policy::for_packages(&["tiejun.bench.v1"])
                .service("tiejun.bench.v1.EchoService", &any[..1])
                .service("tiejun.bench.v1.StreamService", &any[1..]),
        ),
        readiness: Readiness::Immediate,
        edge: None,
        limits: CallLimits::new(args.concurrency_limit),
    };
    let echo = Echo::default();
    let seen = echo.seen.clone();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let routes = Routes::new(EchoServiceServer::new(echo.clone())).add_service(StreamServiceServer::new(echo));
        server::serve(spec, &args, crate::keys(), routes, listener, stop).await
    });
    (Running::new(addr, shutdown, task), seen)
}

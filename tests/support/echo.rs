//! The echo service of `tiejun.bench.v1`, served through the platform
//! bootstrap so tests can make slow calls (drain, shedding, deadlines).

use std::{net::SocketAddr, time::Duration};

use tiejun_platform::{
    auth::{Allowed, Policy},
    config::ServerArgs,
    server::{self, Readiness, ServerSpec},
};
use tiejun_proto::bench::v1::{
    EchoRequest, EchoResponse,
    echo_service_server::{EchoService, EchoServiceServer},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, service::Routes};

use crate::Running;

/// Echoes after the requested delay and reports the deadline it saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let deadline_ms = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout_ms)
            .unwrap_or(0);
        let message = request.into_inner();
        if let Some(delay) = message.delay {
            let delay = Duration::try_from(delay).map_err(|_| Status::invalid_argument("negative delay"))?;
            tokio::time::sleep(delay).await;
        }
        Ok(Response::new(EchoResponse {
            payload: message.payload,
            deadline_ms,
        }))
    }
}

fn parse_grpc_timeout_ms(value: &str) -> Option<i64> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: i64 = digits.parse().ok()?;
    Some(match unit {
        "H" => n * 3_600_000,
        "M" => n * 60_000,
        "S" => n * 1000,
        "m" => n,
        "u" => n / 1000,
        "n" => n / 1_000_000,
        _ => return None,
    })
}

/// Starts the echo service through `platform::server::serve` on port 0.
pub async fn start(tune: impl FnOnce(&mut ServerArgs)) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding port 0");
    let addr: SocketAddr = listener.local_addr().expect("local addr");
    let mut args = ServerArgs::listening_on(addr);
    tune(&mut args);
    let spec = ServerSpec {
        name: "echo",
        services: vec!["tiejun.bench.v1.EchoService".into()],
        policy: Some(
            Policy::for_packages(&["tiejun.bench.v1"])
                .service("tiejun.bench.v1.EchoService", &[("Echo", Allowed::AnyAuthenticated)]),
        ),
        readiness: Readiness::Immediate,
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let routes = Routes::new(EchoServiceServer::new(Echo));
        server::serve(spec, &args, crate::keys(), routes, listener, stop).await
    });
    Running::new(addr, shutdown, task)
}

//! The bare tonic echo: no auth, no layers, no database. Its flat-out rate is
//! the framework's limit on this machine, the yardstick the services and the
//! gateway are measured against. `tiejun bench echo-server` serves it as its
//! own process (for nginx and for CPU figures); `tiejun bench echo` drives
//! it, at a `--target` or started in this process.

use std::net::SocketAddr;

use tiejun_proto::bench::v1::{
    EchoRequest, EchoResponse,
    echo_service_client::EchoServiceClient,
    echo_service_server::{EchoService, EchoServiceServer},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, transport::Channel};

use super::{
    Report, Target,
    drive::{DriveArgs, measure, report},
};

/// `tiejun bench echo-server`.
#[derive(Debug, clap::Args)]
pub struct EchoServerArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:50061")]
    pub listen: SocketAddr,
}

/// The bare echo.
#[derive(Debug, Clone, Copy)]
struct BareEcho;

#[tonic::async_trait]
impl EchoService for BareEcho {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(EchoResponse {
            payload: request.into_inner().payload,
            deadline_ms: 0,
        }))
    }
}

async fn serve(listener: TcpListener, stop: CancellationToken) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(EchoServiceServer::new(BareEcho))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            stop.cancelled_owned(),
        )
        .await
}

/// Serves the bare echo until SIGTERM or Ctrl-C.
pub async fn run_server(args: &EchoServerArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen).await?;
    println!("echo listening on {}", listener.local_addr()?);
    serve(listener, tiejun_platform::shutdown::on_signal()).await?;
    Ok(())
}

/// Drives the echo with a 32-byte payload.
pub async fn run(args: &DriveArgs) -> anyhow::Result<Report> {
    let stop = CancellationToken::new();
    let (channel, local) = match &args.store.endpoint {
        Some(target) => (Target::channel_to(target).await?, None),
        None => {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let server = tokio::spawn(serve(listener, stop.clone()));
            (
                Channel::from_shared(format!("http://{addr}"))?.connect().await?,
                Some(server),
            )
        }
    };
    let client = EchoServiceClient::new(channel);
    let (outcome, processes) = measure("echo", args, move || {
        let mut client = client.clone();
        async move {
            client
                .echo(EchoRequest {
                    payload: vec![7; 32],
                    delay: None,
                })
                .await
                .map(drop)
        }
    })
    .await?;
    if let Some(server) = local {
        stop.cancel();
        server.await??;
    }
    Ok(report("echo", "none", args, outcome, processes))
}

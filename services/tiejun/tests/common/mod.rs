//! Helpers of the tests that run the suite as separate `tiejun serve`
//! processes (faults, soak).

#![allow(dead_code)]

use std::{
    net::{SocketAddr, TcpListener},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tonic::{Request, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

pub const BIN: &str = env!("CARGO_BIN_EXE_tiejun");
pub const SECRET: &str = "a-secret-for-the-fault-tests-012345";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One `tiejun serve …` process that can be killed and started again.
pub struct Proc {
    args: Vec<String>,
    log: std::path::PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn start(dir: &Path, name: &str, args: Vec<String>) -> Self {
        let mut p = Self {
            args,
            log: dir.join(format!("{name}.log")),
            child: None,
        };
        p.spawn();
        p
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(BIN)
            .args(&self.args)
            .env("TIEJUN_JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting tiejun");
        self.child = Some(child);
    }

    /// SIGKILL: no drain, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn health(addr: SocketAddr) -> Option<ServingStatus> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .ok()?
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .ok()?;
    let mut request = Request::new(HealthCheckRequest { service: String::new() });
    request.set_timeout(Duration::from_millis(500));
    let status = HealthClient::new(channel)
        .check(request)
        .await
        .ok()?
        .into_inner()
        .status;
    ServingStatus::try_from(status).ok()
}

/// Waits until `addr` reports `want`; how long it took, or None after `within`.
pub async fn until(addr: SocketAddr, want: ServingStatus, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if health(addr).await == Some(want) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

//! Helpers of the tests that run the binary: the suite as separate
//! `tiejun serve` processes (faults, soak), and `tiejun up` read as an
//! operator reads it (its banner, its `/metrics` page).

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

/// The services, in start order, and who each sends its events to (as
/// `tiejun up` wires them).
const SERVICES: [(&str, &[&str]); 3] = [
    ("leads", &["training"]),
    ("billing", &["leads", "training"]),
    ("training", &["leads"]),
];

/// The suite as separate `tiejun serve` processes on one PostgreSQL
/// cluster: a database per service (`{prefix}_{service}`), the gateway in
/// front, every process on its own port and SERVING when `start` returns.
pub struct Processes {
    /// Where the logs go.
    pub dir: tempfile::TempDir,
    /// Each service's database URL, by name.
    pub urls: std::collections::BTreeMap<&'static str, String>,
    ports: std::collections::BTreeMap<&'static str, u16>,
    procs: std::collections::BTreeMap<&'static str, Proc>,
}

impl Processes {
    /// Starts them; `service_flags` and `gateway_flags` are added to every
    /// service's and to the gateway's command line.
    pub async fn start(
        cluster: &tiejun_platform::testing::PgCluster,
        prefix: &str,
        service_flags: &[&str],
        gateway_flags: &[&str],
    ) -> Self {
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect(&cluster.admin_url())
            .await
            .expect("admin connection");
        let mut urls = std::collections::BTreeMap::new();
        for (svc, _) in SERVICES {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {prefix}_{svc}")))
                .execute(&mut admin)
                .await
                .expect("create database");
            urls.insert(
                svc,
                format!("postgres://postgres@127.0.0.1:{}/{prefix}_{svc}", cluster.port()),
            );
        }
        let ports: std::collections::BTreeMap<&'static str, u16> = ["leads", "billing", "training", "gateway"]
            .into_iter()
            .map(|name| (name, free_port()))
            .collect();
        let url_of = |name: &str| format!("http://127.0.0.1:{}", ports[name]);
        let common = |name: &str| -> Vec<String> {
            vec![
                "serve".into(),
                name.into(),
                "--listen".into(),
                format!("127.0.0.1:{}", ports[name]),
                "--metrics-listen".into(),
                format!("127.0.0.1:{}", free_port()),
            ]
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut procs = std::collections::BTreeMap::new();
        for (svc, consumers) in SERVICES {
            let mut args = common(svc);
            args.extend(["--database-url".into(), urls[svc].clone()]);
            for consumer in consumers {
                args.extend(["--events-to".into(), format!("{consumer}={}", url_of(consumer))]);
            }
            args.extend(service_flags.iter().map(|f| (*f).to_owned()));
            procs.insert(svc, Proc::start(dir.path(), svc, args));
        }
        let mut args = common("gateway");
        for (svc, _) in SERVICES {
            args.extend([format!("--{svc}"), url_of(svc)]);
        }
        args.extend(["--rate-limit".into(), "0".into()]);
        args.extend(gateway_flags.iter().map(|f| (*f).to_owned()));
        procs.insert("gateway", Proc::start(dir.path(), "gateway", args));
        let suite = Self {
            dir,
            urls,
            ports,
            procs,
        };
        for name in suite.ports.keys() {
            assert!(
                until(suite.addr(name), ServingStatus::Serving, Duration::from_secs(60))
                    .await
                    .is_some(),
                "{name} did not start; logs in {}",
                suite.dir.path().display()
            );
        }
        suite
    }

    /// Where `name` (a service or `gateway`) listens.
    pub fn addr(&self, name: &str) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[name]))
    }

    /// `http://` and that address.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}", self.addr(name))
    }

    /// The process `name`, to kill or start again.
    pub fn process(&mut self, name: &str) -> &mut Proc {
        self.procs.get_mut(name).expect("a started process")
    }

    /// Every process, by name.
    pub fn processes(&self) -> impl Iterator<Item = (&&'static str, &Proc)> {
        self.procs.iter()
    }
}

/// Lines from `stdout` up to and including `tiejun up`'s `token: ` line, the
/// last of its banner; kills `child` and fails if it takes over a minute.
pub fn banner_lines(stdout: &std::sync::mpsc::Receiver<String>, child: &mut Child) -> Vec<String> {
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.starts_with("token: ")) {
        match stdout.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("tiejun up printed no token; got {lines:?}");
            }
        }
    }
    lines
}

/// The whole HTTP response of `GET /metrics` at `addr` (`host:port`, with or
/// without the `/metrics` the banner prints).
pub fn scrape(addr: &str) -> String {
    use std::io::{Read as _, Write as _};
    let addr = addr.strip_suffix("/metrics").unwrap_or(addr);
    let mut stream = std::net::TcpStream::connect(addr).expect("metrics port");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: tiejun\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("response");
    body
}

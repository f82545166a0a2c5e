//! The `tiejun` binary as an operator runs it.

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use tiejun_platform::auth::{JwtKeys, Role};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_tiejun");
const SECRET: &str = "a-secret-for-the-binary-tests-0123";

fn tiejun(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("TIEJUN_JWT_SECRET")
        .env_remove("DATABASE_URL");
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running tiejun");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn token_prints_only_a_token_signed_with_the_given_secret() {
    let out = stdout_of(&mut tiejun(&[
        "token",
        "--jwt-secret",
        SECRET,
        "--sub",
        "ops",
        "--role",
        "operator",
        "--role",
        "admin",
        "--rep-id",
        "E1",
    ]));
    let token = out.trim();
    assert_eq!(out.lines().count(), 1, "only the token: {out:?}");
    let principal = JwtKeys::from_secret(SECRET.as_bytes())
        .expect("keys")
        .verify(token)
        .expect("valid token");
    assert_eq!(principal.subject, "ops");
    assert_eq!(principal.roles, vec![Role::Operator, Role::Admin]);
    assert_eq!(principal.rep_id.as_deref(), Some("E1"));
}

#[test]
fn token_reads_the_secret_from_the_environment() {
    let out = stdout_of(tiejun(&["token", "--sub", "svc", "--role", "service"]).env("TIEJUN_JWT_SECRET", SECRET));
    let principal = JwtKeys::from_secret(SECRET.as_bytes())
        .expect("keys")
        .verify(out.trim())
        .expect("valid");
    assert_eq!(principal.roles, vec![Role::Service]);
}

#[test]
fn token_reads_the_secret_up_generated_in_the_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = tiejun::secret::load_or_create(dir.path()).expect("secret");
    let out = stdout_of(&mut tiejun(&[
        "token",
        "--data-dir",
        dir.path().to_str().expect("utf8"),
        "--sub",
        "t",
        "--role",
        "trainer",
    ]));
    assert!(
        JwtKeys::from_secret(secret.as_bytes())
            .expect("keys")
            .verify(out.trim())
            .is_ok()
    );
}

#[test]
fn token_refuses_an_unknown_role() {
    let out = tiejun(&["token", "--jwt-secret", SECRET, "--sub", "x", "--role", "root"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
}

#[test]
fn migrate_applies_each_schema_twice_without_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    for service in ["leads", "billing", "training"] {
        let url = format!("sqlite://{}", dir.path().join(format!("{service}.db")).display());
        for _ in 0..2 {
            let out = stdout_of(&mut tiejun(&["migrate", service, "--database-url", &url]));
            assert!(out.contains("schema up to date (sqlite)"), "{out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_a_missing_postgresql_database_every_time_it_is_missing() {
    let Some(db) = tiejun_platform::testing::TestDatabase::postgres().await else {
        assert!(!tiejun_platform::testing::postgres_required());
        return;
    };
    // A database that does not exist, on the same server and role: what a
    // volume initialised without it (an interrupted first start) leaves.
    let (server, _) = db.url.rsplit_once('/').expect("a database in the URL");
    for service in ["leads", "billing", "training"] {
        let url = format!("{server}/t_missing_{}_{service}", std::process::id());
        let first = stdout_of(&mut tiejun(&["migrate", service, "--database-url", &url]));
        assert!(
            first.contains(&format!("{service} database created")) && first.contains("schema up to date (postgres)"),
            "{first}"
        );
        let again = stdout_of(&mut tiejun(&["migrate", service, "--database-url", &url]));
        assert!(
            !again.contains("database created") && again.contains("schema up to date (postgres)"),
            "{again}"
        );
    }
}

/// Starts `tiejun up` and returns it with what it printed, up to and
/// including the token line (the last line of the banner).
fn up_until_ready(up: &mut Command) -> (std::process::Child, Vec<String>) {
    let mut child = up
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting tiejun up");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let lines = common::banner_lines(&rx, &mut child);
    (child, lines)
}

#[test]
fn up_prints_every_endpoint_and_a_token_then_stops_on_sigterm() {
    let parent = tempfile::tempdir().expect("tempdir");
    let data = parent.path().join("tiejun-data");
    let dir = &data;
    let (mut child, lines) = up_until_ready(&mut tiejun(&[
        "up",
        "--port",
        "0",
        "--data-dir",
        data.to_str().expect("utf8"),
    ]));
    // Everything that holds data is the owner's alone, WAL files included,
    // while the suite runs (the files exist and are being written).
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(dir), 0o700, "the data directory");
    let mut files = 0;
    for entry in std::fs::read_dir(dir).expect("data dir") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(
        files >= 10,
        "three databases with their -wal and -shm, and the secret: {files} files"
    );
    for name in ["gateway", "leads", "billing", "training"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{name} listening on 127.0.0.1:"))),
            "{name} missing from {lines:?}"
        );
    }
    let metrics = metrics_addr(&lines);
    let scraped = common::scrape(&metrics);
    assert!(
        scraped.contains("rpc_server_duration_milliseconds_count"),
        "the startup health checks are counted on /metrics: {scraped}"
    );
    let token = banner(&lines, "token: ");
    let secret = tiejun::secret::read(dir).expect("secret kept in the data dir");
    let principal = JwtKeys::from_secret(secret.as_bytes())
        .expect("keys")
        .verify(&token)
        .expect("valid");
    assert_eq!(principal.roles, vec![Role::Admin]);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "tiejun up exited with {status} after SIGTERM");
    for name in ["leads.db", "billing.db", "training.db"] {
        assert!(dir.join(name).exists(), "{name} not created");
    }
}

#[test]
fn bench_distribute_reports_what_it_measured_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = stdout_of(
        tiejun(&[
            "bench",
            "distribute",
            "--leads",
            "60",
            "--reps",
            "3",
            "--quota",
            "30",
            "--json",
            "--work-dir",
            dir.path().to_str().expect("utf8"),
        ])
        .env("RUST_LOG", "warn"),
    );
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(report["scenario"], "distribute");
    assert_eq!(report["backend"], "sqlite");
    assert_eq!(report["ok"], 60, "3 reps x 30 can take all 60 leads: {report}");
    // Dealt round by round, 60 leads give each of the 3 reps 20: all three end short of 30.
    assert_eq!(report["figures"]["reps_short"], "3");
    assert!(report["seconds"].as_f64().expect("seconds") > 0.0);
}

#[test]
fn bench_gateway_measures_direct_and_through_the_gateway_without_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = stdout_of(
        tiejun(&[
            "bench",
            "gateway",
            "--rate",
            "100",
            "--concurrency",
            "4",
            "--duration",
            "500ms",
            "--warmup",
            "100ms",
            "--json",
            "--work-dir",
            dir.path().to_str().expect("utf8"),
        ])
        .env("RUST_LOG", "warn"),
    );
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(report["scenario"], "gateway");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    for figure in [
        "fixed_added_p50_ms",
        "fixed_added_p99_ms",
        "flat_ratio_gateway_to_direct",
    ] {
        let value: f64 = report["figures"][figure]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{figure} missing: {report}"));
        assert!(value.is_finite(), "{figure} = {value}");
    }
    let ratio: f64 = report["figures"]["flat_ratio_gateway_to_direct"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("ratio");
    assert!(ratio > 0.0, "calls went through the gateway: {report}");
}

/// The `rpc_server_duration` series on a `/metrics` page.
fn rpc_series(page: &str) -> std::collections::BTreeSet<String> {
    page.lines()
        .filter(|l| l.starts_with("rpc_server_duration_milliseconds_count{"))
        .map(|l| l.rsplit_once(' ').map_or(l, |(series, _)| series).to_owned())
        .collect()
}

/// What `tiejun up` printed after `prefix` on its banner line.
fn banner(lines: &[String], prefix: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {lines:?}"))
        .to_owned()
}

/// The `host:port` of the metrics line of `tiejun up`'s banner.
fn metrics_addr(lines: &[String]) -> String {
    let url = banner(lines, "metrics on http://");
    url.strip_suffix("/metrics").unwrap_or(&url).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_paths_do_not_become_metric_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, lines) = up_until_ready(&mut tiejun(&[
        "up",
        "--port",
        "0",
        "--data-dir",
        dir.path().to_str().expect("utf8"),
    ]));
    let endpoint = |name: &str| banner(&lines, &format!("{name} listening on "));
    let metrics = metrics_addr(&lines);
    let token = banner(&lines, "token: ");
    let before = rpc_series(&common::scrape(&metrics));
    assert!(!before.is_empty(), "the health checks are on the page");
    for target in [endpoint("gateway"), endpoint("leads")] {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{target}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        for i in 0..150 {
            let path = match i % 3 {
                0 => format!("/junk{i}.Service/Method{i}"),
                1 => format!("/tiejun.leads.v1.LeadService/NoSuchMethod{i}"),
                _ => format!("/buyer{i}@example.com/x"),
            };
            let mut grpc = tonic::client::Grpc::new(channel.clone());
            grpc.ready().await.expect("ready");
            let mut request = tonic::Request::new(());
            if i % 2 == 0 {
                request
                    .metadata_mut()
                    .insert("authorization", format!("Bearer {token}").parse().expect("ascii"));
            }
            let codec = tonic_prost::ProstCodec::<(), ()>::default();
            let answer = grpc.unary(request, path.parse().expect("path"), codec).await;
            assert!(answer.is_err(), "{path} is no RPC");
        }
    }
    let page = common::scrape(&metrics);
    let after = rpc_series(&page);
    let new: Vec<&String> = after.difference(&before).collect();
    assert!(
        new.iter().all(|s| s.contains("rpc_method=\"_OTHER\"")),
        "only _OTHER series are new: {new:#?}"
    );
    assert!(
        new.len() <= 8,
        "a handful of _OTHER series (per process and code), not one per path: {new:#?}"
    );
    for junk in ["example.com", "NoSuchMethod", "junk1"] {
        assert!(!page.contains(junk), "{junk} reached /metrics");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A configuration that breaks a rule stops `tiejun serve` at once with one
/// line naming the flag and the rule, even under `RUST_BACKTRACE=1`, and
/// never echoes a secret or a database password. One case per kind of
/// rule: the secret's length, the secret's file, the database URL, a
/// numeric floor, a positive duration, the retry window, an event
/// consumer, a gateway target.
#[test]
fn a_configuration_error_is_one_line_naming_the_flag_and_its_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("leads.db").display());
    let serve = |extra: &[&str]| {
        let mut args = vec![
            "serve",
            "leads",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
    };
    let secret = ["--jwt-secret", SECRET];
    let with_secret = |extra: &[&str]| {
        let mut args = secret.to_vec();
        args.extend_from_slice(extra);
        serve(&args)
    };
    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (
            serve(&["--jwt-secret", "hunter2-short", "--database-url", &url]),
            "--jwt-secret",
            "at least 16 bytes",
        ),
        (
            serve(&["--jwt-secret-file", "/nonexistent/secret", "--database-url", &url]),
            "/nonexistent/secret",
            "reading the JWT secret file",
        ),
        (
            with_secret(&["--database-url", "mysql://ops:hunter2-password@db/leads"]),
            "--database-url",
            "expected sqlite://PATH or postgres://",
        ),
        (
            with_secret(&["--database-url", &url, "--concurrency-limit", "0"]),
            "--concurrency-limit",
            "0 is not in 4..",
        ),
        (
            with_secret(&["--database-url", &url, "--default-deadline", "0s"]),
            "--default-deadline",
            "must be more than zero",
        ),
        (
            with_secret(&[
                "--database-url",
                &url,
                "--event-retry-min",
                "10m",
                "--event-retry-max",
                "1m",
            ]),
            "--event-retry-min",
            "must not exceed --event-retry-max",
        ),
        (
            with_secret(&["--database-url", &url, "--events-to", "payroll=http://x:1"]),
            "--events-to",
            "unknown consumer",
        ),
    ];
    let mut gateway: Vec<String> = [
        "serve",
        "gateway",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    gateway.extend(
        [
            "--jwt-secret",
            SECRET,
            "--leads",
            "ftp://leads:1",
            "--billing",
            "http://b:1",
            "--training",
            "http://t:1",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    let cases = cases
        .into_iter()
        .chain([(gateway, "--leads", "must be http://host:port or dns://name:port")]);
    for (args, flag, rule) in cases {
        let mut child = tiejun(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("{args:?} started instead of refusing");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr).expect("stderr");
        assert!(!status.success(), "{args:?}");
        let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let first = lines.first().copied().unwrap_or_default();
        assert!(first.starts_with("error: "), "{args:?}: {stderr}");
        assert!(first.contains(flag) && first.contains(rule), "{args:?}: {stderr}");
        // Clap adds one hint line after its own errors; ours are one line.
        let extra: Vec<_> = lines[1..]
            .iter()
            .filter(|l| !l.starts_with("For more information"))
            .collect();
        assert!(extra.is_empty(), "{args:?}: more than one line:\n{stderr}");
        assert!(!stderr.to_lowercase().contains("backtrace"), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{args:?} echoed a secret: {stderr}");
    }
}

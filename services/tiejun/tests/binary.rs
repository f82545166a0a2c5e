//! The `tiejun` binary as an operator runs it.

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use tiejun_platform::auth::{JwtKeys, Role};

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

#[test]
fn up_prints_every_endpoint_and_a_token_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = tiejun(&["up", "--port", "0", "--data-dir", dir.path().to_str().expect("utf8")])
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
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.starts_with("token: ")) {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("tiejun up printed no token; got {lines:?}");
            }
        }
    }
    for name in ["gateway", "leads", "billing", "training"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{name} listening on 127.0.0.1:"))),
            "{name} missing from {lines:?}"
        );
    }
    let token = lines
        .iter()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("token line");
    let secret = tiejun::secret::read(dir.path()).expect("secret kept in the data dir");
    let principal = JwtKeys::from_secret(secret.as_bytes())
        .expect("keys")
        .verify(token)
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
        assert!(dir.path().join(name).exists(), "{name} not created");
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

//! Client code as a Python team gets it: `proto/buf.gen.yaml` run by buf
//! (its local plugins: grpcio-tools for Python, protoc-gen-es for
//! TypeScript) into a fresh directory, then `tests/clients/python/journey.py`
//! through the gateway of a running suite: hire, activate, a lead, claim,
//! follow-up, convert, the billing account; and refusals read from their
//! google.rpc details (BadRequest, ResourceInfo).
//!
//! It needs buf (`TIEJUN_BUF`, else `buf` on PATH), protoc-gen-es on PATH,
//! and python3 with grpcio, grpcio-tools and grpcio-status. Without them it
//! is skipped, unless `TIEJUN_TEST_PYTHON=require` (CI sets it).

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use tiejun::{cli::UpArgs, suite};
use tiejun_platform::auth::{Role, TokenSpec};
use tokio_util::sync::CancellationToken;

const REP: &str = "E9001";

fn required() -> bool {
    std::env::var("TIEJUN_TEST_PYTHON").as_deref() == Ok("require")
}

/// `program args…` in `dir`, or why it could not run.
fn run(program: &str, args: &[&str], dir: &Path, env: &[(&str, &Path)]) -> Result<Output, String> {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().map_err(|e| format!("{program}: {e}"))
}

/// Skips (or, when required, fails) with `why`.
fn unavailable(why: &str) {
    assert!(!required(), "TIEJUN_TEST_PYTHON=require but {why}");
    eprintln!("SKIPPED the Python client test: {why}");
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_python_client_generated_by_buf_gen_yaml_walks_the_journey_through_the_gateway() {
    let modules = run(
        "python3",
        &[
            "-c",
            "import grpc, grpc_tools, grpc_status, google.rpc.error_details_pb2",
        ],
        &repo(),
        &[],
    );
    match &modules {
        Ok(out) if out.status.success() => {}
        Ok(out) => return unavailable(&String::from_utf8_lossy(&out.stderr)),
        Err(err) => return unavailable(err),
    }
    let buf = std::env::var("TIEJUN_BUF").unwrap_or_else(|_| "buf".into());
    let gen_dir = tempfile::tempdir().expect("tmp");
    let generated = match run(
        &buf,
        &["generate", "-o", &gen_dir.path().display().to_string()],
        &repo().join("proto"),
        &[],
    ) {
        Ok(out) => out,
        Err(err) => return unavailable(&err),
    };
    let stderr = String::from_utf8_lossy(&generated.stderr).into_owned();
    if !generated.status.success() && stderr.contains("protoc-gen-es") && !required() {
        return unavailable(&stderr);
    }
    assert!(generated.status.success(), "buf generate failed: {stderr}");
    for file in [
        "python/tiejun/leads/v1/leads_pb2.py",
        "python/tiejun/leads/v1/leads_pb2.pyi",
        "python/tiejun/leads/v1/leads_pb2_grpc.py",
        "python/tiejun/billing/v1/billing_pb2_grpc.py",
        "ts/tiejun/leads/v1/leads_pb.ts",
    ] {
        assert!(gen_dir.path().join(file).is_file(), "buf generate made no {file}");
    }
    let ts = std::fs::read_to_string(gen_dir.path().join("ts/tiejun/leads/v1/leads_pb.ts")).expect("ts");
    assert!(
        ts.contains("export const LeadService"),
        "the TypeScript has the service descriptor"
    );

    let data = tempfile::tempdir().expect("tmp");
    let args = UpArgs::local(data.path().to_owned());
    let stop = CancellationToken::new();
    let running = suite::start(&args, stop.clone()).await.expect("the suite starts");
    let mut spec = TokenSpec::new(REP, &[Role::SalesRep], Duration::from_secs(600));
    spec.rep_id = Some(REP.into());
    let rep_token = running.keys.mint(&spec).expect("mint");
    let target = running.gateway.to_string();
    let python_path = gen_dir.path().join("python");
    let admin_token = running.token.clone();
    let journey = tokio::task::spawn_blocking(move || {
        run(
            "python3",
            &[
                "tests/clients/python/journey.py",
                "--target",
                &target,
                "--admin-token",
                &admin_token,
                "--rep-token",
                &rep_token,
                "--rep",
                REP,
            ],
            &repo(),
            &[("PYTHONPATH", &python_path)],
        )
    })
    .await
    .expect("task")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&journey.stdout);
    assert!(
        journey.status.success(),
        "the Python journey failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&journey.stderr)
    );
    for line in [
        "INVALID_ARGUMENT BadRequest field=daily_quota",
        "ALREADY_EXISTS ResourceInfo resource_name=",
        &format!("sold by {REP}"),
        "journey ok",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), running.wait())
        .await
        .expect("stops in time")
        .expect("stops cleanly");
}

//! An INTERNAL answer, with `RUST_BACKTRACE=1` as an operator debugging a
//! panic would set it: the log gets one line naming the cause and the
//! trace id, no backtrace is captured or printed, and the process does not
//! grow by the size of its debug information (before: a full stack
//! backtrace in the log, RSS 53 MB → 231 MB on the first such error).

mod common;

use std::{
    net::SocketAddr,
    process::{Command, Stdio},
    time::Duration,
};

use sqlx::Connection as _;
use tiejun_platform::auth::{JwtKeys, Role, TokenSpec};
use tiejun_proto::leads::v1::{GetLeadRequest, lead_service_client::LeadServiceClient};
use tonic::{Code, Request, transport::Channel};
use tonic_health::pb::health_check_response::ServingStatus;

use common::{BIN, SECRET, free_port, until};

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A lead whose stored state no release ever wrote: the only way to an
/// INTERNAL from a well-formed request is a database that breaks its own
/// rules, so this one is made to (CHECKs switched off for the insert).
async fn corrupt_a_lead(url: &str) {
    let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open");
    sqlx::query("PRAGMA ignore_check_constraints = ON")
        .execute(&mut conn)
        .await
        .expect("pragma");
    sqlx::query(
        "INSERT INTO leads (lead_id, kind, company_name, company_key, contact_name, phone, city, score, state, \
         created_at, updated_at) VALUES ('L-CORRUPT', 'NEW_BUSINESS', 'Co', 'co', 'Wang', '13800000001', '杭州', 50, \
         'HALF_EATEN', '2026-03-02 01:00:00+00:00', '2026-03-02 01:00:00+00:00')",
    )
    .execute(&mut conn)
    .await
    .expect("corrupt row");
    conn.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_is_one_log_line_without_a_backtrace_and_costs_no_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("leads.db").display());
    let migrated = Command::new(BIN)
        .args(["migrate", "leads", "--database-url", &url])
        .env_remove("DATABASE_URL")
        .output()
        .expect("migrate");
    assert!(migrated.status.success(), "{migrated:?}");
    corrupt_a_lead(&url).await;

    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let log = dir.path().join("leads.log");
    let mut server = Command::new(BIN)
        .args(["serve", "leads", "--listen", &addr.to_string(), "--database-url", &url])
        .env("TIEJUN_JWT_SECRET", SECRET)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LOG", "error")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("serve leads");
    assert!(
        until(addr, ServingStatus::Serving, Duration::from_secs(60))
            .await
            .is_some(),
        "leads never SERVING"
    );
    let token = JwtKeys::from_secret(SECRET.as_bytes())
        .expect("keys")
        .mint(&TokenSpec::new("ops", &[Role::Admin], Duration::from_secs(600)))
        .expect("token");
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut leads = LeadServiceClient::new(channel);
    let get = async |leads: &mut LeadServiceClient<Channel>, id: &str| {
        let mut request = Request::new(GetLeadRequest { lead_id: id.into() });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().expect("header"));
        leads.get_lead(request).await
    };
    // Warm the path with an ordinary answer, then measure around the INTERNAL.
    let missing = get(&mut leads, "L-NONE").await.expect_err("no such lead");
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(server.id());
    let mut internal = 0;
    for _ in 0..3 {
        let status = get(&mut leads, "L-CORRUPT").await.expect_err("a corrupt row");
        assert_eq!(status.code(), Code::Internal, "{status:?}");
        assert!(status.message().contains("trace id"), "{status:?}");
        assert!(
            !status.message().contains("HALF_EATEN"),
            "the cause stays in the log: {status:?}"
        );
        internal += 1;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_kib(server.id());
    let _ = server.kill();
    let _ = server.wait();

    let log = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<_> = log.lines().filter(|l| l.contains("internal error")).collect();
    assert_eq!(lines.len(), internal, "one line per INTERNAL:\n{log}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("decoding column") && l.contains("HALF_EATEN") && l.contains("trace_id")),
        "{log}"
    );
    let lower = log.to_lowercase();
    assert!(
        !lower.contains("backtrace") && !log.contains("rust_begin_unwind") && !log.contains("/src/"),
        "a backtrace in the log:\n{log}"
    );
    let grown_mib = after.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 40,
        "RSS grew {grown_mib} MiB ({before} KiB → {after} KiB) over three INTERNALs"
    );
    println!("RSS {before} KiB before, {after} KiB after three INTERNALs");
}

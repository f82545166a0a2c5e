//! The soak (issue #10): the suite as separate `tiejun serve` processes on
//! PostgreSQL, behind the gateway, under `tiejun bench mixed` (the same
//! blend as the benchmark) for `TIEJUN_SOAK`: `1` for the default ten
//! minutes, or a bound (`2m` in CI); unset, the test says SKIPPED. Resident memory of every
//! process is sampled every second: after the first fifth of the run (the
//! warm-up), none may grow by 10% or more. At the end: no failed call, no
//! lead with two owners, no event parked, and the figures are printed.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::{BIN, Processes, SECRET};
use sqlx::Connection as _;
use tiejun_platform::testing::{Durability, PgCluster, postgres_required};

fn rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

async fn scalar(url: &str, sql: &'static str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_mixed_load_keeps_memory_flat_and_every_invariant() {
    let Some(length) = std::env::var("TIEJUN_SOAK").ok() else {
        eprintln!("SKIPPED: set TIEJUN_SOAK=2m (CI) or 10m to run the soak");
        return;
    };
    // The flag alone (`TIEJUN_SOAK=1`) means the default ten minutes.
    let length = match length.trim() {
        "" | "1" | "on" => Duration::from_secs(600),
        bound => humantime::parse_duration(bound).expect("TIEJUN_SOAK is 1 or a duration such as 2m"),
    };
    let cluster = match PgCluster::dedicated(Durability::Fast) {
        Ok(cluster) => cluster,
        Err(err) if !postgres_required() => {
            eprintln!("SKIPPED: no PostgreSQL ({err:#})");
            return;
        }
        Err(err) => panic!("PostgreSQL required: {err:#}"),
    };
    let suite = Processes::start(&cluster, "soak", &[], &[]).await;
    let urls = suite.urls.clone();

    let report_path = suite.dir.path().join("mixed.json");
    let mut load = tokio::process::Command::new(BIN)
        .args([
            "bench",
            "mixed",
            "--target",
            &suite.url("gateway"),
            "--concurrency",
            "8",
            "--warmup",
            "0s",
            "--duration",
            &humantime::format_duration(length).to_string(),
            "--json",
        ])
        .env("TIEJUN_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(std::fs::File::create(&report_path).expect("report file"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tiejun bench mixed");

    // One sample a second of every server's resident memory.
    let mut samples: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let status = loop {
        tokio::select! {
            status = load.wait() => break status.expect("bench mixed ran"),
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                for (name, p) in suite.processes() {
                    if let Some(kb) = p.pid().and_then(rss_kb) {
                        samples.entry(*name).or_default().push(kb);
                    }
                }
            }
        }
    };
    assert!(
        status.success(),
        "bench mixed failed; logs in {}",
        suite.dir.path().display()
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report")).expect("json report");
    let ok = report["ok"].as_u64().expect("ok count");
    let errors: u64 = report["errors"]
        .as_object()
        .map(|m| m.values().filter_map(serde_json::Value::as_u64).sum())
        .unwrap_or(0);
    assert!(ok > 0, "the load made calls");

    let mut growth = Vec::new();
    for (name, kb) in &samples {
        let after_warmup = kb.len() / 5;
        let settled = &kb[after_warmup..];
        let baseline = *settled.first().expect("samples after warm-up");
        let peak = *settled.iter().max().expect("samples");
        let grew = peak as f64 / baseline as f64 - 1.0;
        growth.push(format!(
            "{name}: {:.1} MB after warm-up, peak {:.1} MB ({:+.1}%)",
            baseline as f64 / 1024.0,
            peak as f64 / 1024.0,
            grew * 100.0
        ));
        assert!(grew < 0.10, "{name} grew {:.1}% after warm-up: {kb:?}", grew * 100.0);
    }
    assert_eq!(errors, 0, "failed calls: {}", report["errors"]);
    assert_eq!(
        scalar(
            &urls["leads"],
            "SELECT count(*) FROM (SELECT lead_id FROM assignments WHERE ended_at IS NULL \
             GROUP BY lead_id HAVING count(*) > 1) d"
        )
        .await,
        0,
        "no lead has two owners"
    );
    for svc in ["leads", "billing", "training"] {
        assert_eq!(
            scalar(&urls[svc], "SELECT count(*) FROM outbox WHERE state = 'PARKED'").await,
            0,
            "no event parked in {svc}"
        );
    }
    eprintln!(
        "soak {}: {ok} calls ({:.0}/s), {errors} failed; {}",
        humantime::format_duration(length),
        report["rate_per_second"].as_f64().unwrap_or(0.0),
        growth.join("; ")
    );
}

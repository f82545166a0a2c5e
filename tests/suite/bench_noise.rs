//! The benchmark suite's honesty rules (`tests/bench/table.py --noise`): a
//! round of the compared runs whose figures cannot be true is called noise,
//! so run-suite runs it again and never reports it as a met goal — a proxy
//! faster than direct (added p50 or p99 below zero), or a direct p99 stall
//! the proxied runs of the same round did not see. A believable round is not.

use std::{path::Path, process::Command};

/// Writes the three fixed-rate runs of round 1 with these (p50, p99) in ms.
fn round(dir: &Path, billing: (f64, f64), gateway: (f64, f64), nginx: (f64, f64)) {
    for (via, (p50, p99)) in [("billing", billing), ("gateway", gateway), ("nginx", nginx)] {
        let run = serde_json::json!({
            "rate_per_second": 1000.0,
            "latency": { "p50_ms": p50, "p99_ms": p99 },
        });
        std::fs::write(dir.join(format!("entitlement-{via}-rate-r1.json")), run.to_string()).expect("write run");
    }
}

/// `Some(why)` when table.py calls round 1 noise, `None` when it is believable.
fn verdict(dir: &Path) -> Option<String> {
    let table = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/table.py");
    let out = Command::new("python3")
        .arg(&table)
        .arg("--noise")
        .arg(dir)
        .arg("1")
        .output()
        .expect("python3 runs table.py");
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match out.status.code() {
        Some(0) => {
            assert!(said.is_empty(), "a believable round says nothing: {said}");
            None
        }
        Some(1) => {
            assert!(!said.is_empty(), "noise says why");
            Some(said)
        }
        other => panic!(
            "table.py --noise exited {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn a_round_that_cannot_be_true_is_noise_and_a_believable_one_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();

    round(d, (0.18, 0.35), (0.40, 0.70), (0.30, 0.64));
    assert_eq!(verdict(d), None, "proxies slower than direct, tails alike");

    round(d, (0.18, 0.35), (0.17, 0.70), (0.30, 0.64));
    let why = verdict(d).expect("the gateway below direct at p50");
    assert!(why.contains("gateway p50"), "{why}");

    round(d, (0.18, 0.35), (0.40, 0.70), (0.30, 0.30));
    let why = verdict(d).expect("nginx below direct at p99");
    assert!(why.contains("nginx p99"), "{why}");

    round(d, (0.10, 6.0), (0.40, 6.5), (0.30, 6.2));
    let why = verdict(d).expect("a stall on the direct run alone: 60× its p50, the proxies 16× and 21×");
    assert!(why.contains("direct p99"), "{why}");

    round(d, (0.18, 9.0), (0.20, 9.5), (0.19, 9.2));
    assert_eq!(
        verdict(d),
        None,
        "every run of the round had the same long tail: the machine, not one run"
    );
}

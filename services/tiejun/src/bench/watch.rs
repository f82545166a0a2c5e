//! The processes a run is told to watch (`--watch name=pid`): their CPU time
//! and resident memory, read from Linux's `/proc` before and after the
//! measured part, so a figure like "CPU per 1,000 calls" compares the
//! gateway with nginx, or a service with the bare echo, in the same run.

use std::{fmt, str::FromStr};

use serde::Serialize;

/// Clock ticks a second in `/proc/<pid>/stat`: `USER_HZ`, fixed at 100 by
/// the Linux ABI on every architecture we run on.
const TICKS_PER_SECOND: f64 = 100.0;

/// A process to watch, named for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// How the report names it (`gateway`, `nginx`, `billing`).
    pub name: String,
    /// Its process id.
    pub pid: u32,
}

impl FromStr for Watched {
    type Err = String;

    /// `name=pid`, or a bare pid named after itself.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, pid) = s.split_once('=').unwrap_or((s, s));
        let pid = pid
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: expected NAME=PID with a numeric pid"))?;
        Ok(Self {
            name: name.trim().to_owned(),
            pid,
        })
    }
}

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// User plus system CPU time so far, in seconds (threads that ended included).
    pub cpu_seconds: f64,
    /// Resident memory now, in kB.
    pub rss_kb: u64,
    /// The most resident memory it ever had, in kB.
    pub peak_rss_kb: u64,
}

impl Sample {
    /// Reads `pid` from `/proc`.
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        Ok(Self {
            cpu_seconds: cpu_seconds(&stat)?,
            rss_kb: status_kb(&status, "VmRSS:").unwrap_or(0),
            peak_rss_kb: status_kb(&status, "VmHWM:").unwrap_or(0),
        })
    }
}

/// utime + stime from a `/proc/<pid>/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields count from the last `)`.
fn cpu_seconds(stat: &str) -> anyhow::Result<f64> {
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc stat line"))?;
    // After the name: state is field 3, so utime (14) and stime (15) are the
    // 12th and 13th from here (0-based 11 and 12).
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc stat line"))?
            .parse()?)
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / TICKS_PER_SECOND)
}

fn status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// What one watched process did during the measured part.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessFigures {
    /// The name given with `--watch`.
    pub name: String,
    /// Its pid.
    pub pid: u32,
    /// CPU time spent during the measured part, in seconds.
    pub cpu_seconds: f64,
    /// CPU milliseconds per 1,000 successful calls.
    pub cpu_ms_per_1000_calls: f64,
    /// Resident memory before the measured part (after warm-up), in MB.
    pub rss_mb_before: f64,
    /// Resident memory after it, in MB.
    pub rss_mb_after: f64,
    /// The process's peak resident memory so far, in MB.
    pub peak_rss_mb: f64,
}

impl ProcessFigures {
    /// From the readings before and after `calls` successful calls.
    pub fn between(watched: &Watched, before: Sample, after: Sample, calls: u64) -> Self {
        let cpu = (after.cpu_seconds - before.cpu_seconds).max(0.0);
        let mb = |kb: u64| kb as f64 / 1024.0;
        Self {
            name: watched.name.clone(),
            pid: watched.pid,
            cpu_seconds: cpu,
            cpu_ms_per_1000_calls: if calls == 0 {
                0.0
            } else {
                cpu * 1000.0 * 1000.0 / calls as f64
            },
            rss_mb_before: mb(before.rss_kb),
            rss_mb_after: mb(after.rss_kb),
            peak_rss_mb: mb(after.peak_rss_kb),
        }
    }
}

impl fmt::Display for ProcessFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (pid {}): cpu {:.2} s, {:.1} ms per 1,000 calls; rss {:.1} → {:.1} MB, peak {:.1} MB",
            self.name,
            self.pid,
            self.cpu_seconds,
            self.cpu_ms_per_1000_calls,
            self.rss_mb_before,
            self.rss_mb_after,
            self.peak_rss_mb
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_time_past_a_command_name_with_spaces_and_parens() {
        let line = "4242 (tiejun (serve) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 5 0 1 0 0";
        assert_eq!(cpu_seconds(line).expect("parses"), 3.0);
    }

    #[test]
    fn parses_name_equals_pid_and_refuses_a_name_alone() {
        assert_eq!(
            "nginx=17".parse::<Watched>(),
            Ok(Watched {
                name: "nginx".into(),
                pid: 17
            })
        );
        assert!("nginx".parse::<Watched>().is_err());
    }

    #[test]
    fn reads_this_process() {
        let sample = Sample::of(std::process::id()).expect("own /proc entry");
        assert!(sample.rss_kb > 0 && sample.peak_rss_kb >= sample.rss_kb);
    }

    #[test]
    fn cpu_per_thousand_calls_is_scaled_from_the_difference() {
        let w = Watched {
            name: "g".into(),
            pid: 1,
        };
        let before = Sample {
            cpu_seconds: 1.0,
            rss_kb: 1024,
            peak_rss_kb: 2048,
        };
        let after = Sample {
            cpu_seconds: 3.0,
            rss_kb: 2048,
            peak_rss_kb: 4096,
        };
        let f = ProcessFigures::between(&w, before, after, 10_000);
        assert_eq!(f.cpu_ms_per_1000_calls, 200.0);
        assert_eq!((f.rss_mb_before, f.rss_mb_after, f.peak_rss_mb), (1.0, 2.0, 4.0));
    }
}

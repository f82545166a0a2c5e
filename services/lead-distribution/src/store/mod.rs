//! Storage, written once for SQLite and PostgreSQL: every query runs on
//! either backend through `on_tx!` / `on_pool!`, and the invariants (one owner,
//! no duplicate phone or company, quota range, append-only history) are the
//! database's constraints, not only this code's checks.

pub mod days;
pub mod distribution;
pub mod events;
pub mod history;
pub mod holding;
pub mod jobs;
pub mod leads;
pub mod reports;
pub mod reps;
pub mod sweep;

/// The stored name of a proto enum value: `LEAD_STATE_POOL` → `POOL`.
pub fn short_name<'a>(full: &'a str, prefix: &str) -> &'a str {
    full.strip_prefix(prefix).unwrap_or(full)
}

//! Storage, written once for SQLite and PostgreSQL: SQL and nothing else.
//! Every query runs on either backend through `on_tx!` / `on_pool!`, and the
//! few that differ say so (`locked!`: PostgreSQL's row-locking clauses; the
//! claim's one statement). Which rows a write locks, and in which order, is
//! the use cases' (`crate::app`); the invariants (one owner, no duplicate
//! phone or company, the quota range, the claim limit, the private-pool cap,
//! the append-only history) are the database's constraints, not only this
//! code's checks.

pub mod claim;
pub mod constraints;
pub mod days;
pub mod distribution;
pub mod feed;
pub mod history;
pub mod leads;
pub mod private_pools;
pub mod reports;
pub mod reps;
pub mod runs;
pub mod sweep;
pub mod transitions;

//! Storage, written once for SQLite and PostgreSQL (`on_tx!` / `on_pool!`).
//! Seats never exceed capacity (a CHECK, and a conditional update under the
//! session's row lock); one active enrollment per learner and session (a
//! partial unique index); waitlist order is a per-session counter.

pub mod assignments;
pub mod catalog;
pub mod completion;
pub mod constraints;
pub mod enrollments;
pub mod sessions;

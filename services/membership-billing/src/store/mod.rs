//! Storage, written once for SQLite and PostgreSQL (`on_tx!` / `on_pool!`).
//! The free-forever rule is also the database's: triggers refuse turning a
//! FREE feature PAID or removing it.

pub mod accounts;
pub mod catalog;
pub mod constraints;
pub mod renewals;
pub mod reports;
pub mod subscriptions;

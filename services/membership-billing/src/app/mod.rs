//! The use cases of membership billing, one module each. A use case takes
//! the transaction (or the database, for a read), the clock's now, who acts
//! where it matters, and validated input, and returns rows. The gRPC
//! handlers decode, authorise, call one use case inside
//! `idempotency::transact` and encode; the renewal job and the event
//! consumer call the same functions, so a rule runs the same way whoever
//! triggers it.
//!
//! SQLite has one writer at a time (`BEGIN IMMEDIATE`); on PostgreSQL an
//! invoice is locked (`FOR UPDATE`) before a payment is counted against it,
//! and the renewal cycle runs under its job lock.

pub mod accounts;
pub mod catalog;
pub mod entitlements;
pub mod renewals;
pub mod subscriptions;

//! End-to-end tests of the foundation: real servers on port 0, real gRPC
//! clients, both databases.

mod auth;
mod authz;
mod bad_input;
mod bench_noise;
mod billing;
mod constraints;
mod corrupt_rows;
mod deploy;
mod drain;
mod events;
mod gateway;
mod gateway_balance;
mod gateway_edge;
mod gateway_web;
mod idempotency;
mod journey;
mod leads;
mod migrations;
mod python_client;
mod readiness;
mod reflection;
mod scope_matrix;
mod scopes;
mod shedding;
mod slow_clients;
mod timestamps;
mod training;

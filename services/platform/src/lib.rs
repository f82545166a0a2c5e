//! What every tiejun service shares (DESIGN §3): configuration, telemetry,
//! authentication and authorisation, the server bootstrap, the database,
//! the clock, errors, PII masking and idempotency keys.

pub mod auth;
pub mod calls;
pub mod clock;
pub mod config;
pub mod constraint;
pub mod db;
pub mod deadline;
pub mod error;
pub mod events;
pub mod files;
pub mod id;
pub mod idempotency;
pub mod inbox;
pub mod layer;
pub mod metrics;
pub mod outbox;
pub mod paging;
pub mod pii;
pub mod relay;
pub mod server;
pub mod shutdown;
pub mod stored;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};
/// One test per backend from an `async fn(db: TestDatabase)`: the tests
/// `<body>::sqlite` and `<body>::postgres`.
#[cfg(feature = "testing")]
pub use tiejun_platform_macros::both_backends;
/// The one place a handler's answer becomes tonic's: put on the `impl` block
/// of a service's RPC handlers, it implements the named tonic trait by them
/// (how a handler is written: `tiejun-platform-macros`).
pub use tiejun_platform_macros::grpc_service;

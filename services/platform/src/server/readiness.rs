//! When a server may say SERVING: for a service, once its database answers
//! and its migrations ran; afterwards it follows the database by one rule:
//!
//! **SERVING while the last check of the database succeeded.** A check is
//! `SELECT 1` every [`CHECK_EVERY`], given [`CHECK_WITHIN`]; the first check
//! that fails or takes longer makes the service NOT_SERVING, the first that
//! succeeds makes it SERVING again. An outage shows within
//! `CHECK_EVERY + CHECK_WITHIN` (2 s), a recovery within `CHECK_EVERY`.
//!
//! Every replica shares its service's database, so they all go NOT_SERVING
//! together. That is deliberate: every RPC reads or writes the database, so
//! no replica could answer one better than another. Kubernetes takes them
//! out of the Service; the gateway keeps the endpoints it last knew and
//! keeps trying the least loaded, so callers get the service's UNAVAILABLE
//! at once rather than no answer. Liveness does not follow the database
//! (see `deploy/k8s`), so nothing is restarted for an outage it cannot fix.
//!
//! Shutdown wins over everything.

use std::{collections::BTreeMap, time::Duration};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;

use super::Health;
use crate::db::{Database, DbCell, Migrations, PoolSettings};

/// How often a ready server checks that its database still answers.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long one check may take before it counts as failed (a database
/// behind a dead network answers nothing rather than refusing).
pub const CHECK_WITHIN: Duration = Duration::from_secs(1);
/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How a server becomes ready.
#[derive(Debug)]
pub enum Readiness {
    /// Ready at once (the gateway, the echo server).
    Immediate,
    /// Ready once `url` is reachable and migrated; the pool lands in `cell`.
    Database {
        /// The database URL (never logged: it may hold a password).
        url: String,
        /// Pool settings.
        pool: PoolSettings,
        /// The service's migrations.
        migrations: &'static Migrations,
        /// Where handlers find the pool.
        cell: DbCell,
    },
    /// Follows a watched map of service name → up (the gateway: a routed
    /// service is SERVING while its backend has a healthy endpoint); `""`
    /// is SERVING while every entry is up.
    Follow(watch::Receiver<BTreeMap<String, bool>>),
}

impl Readiness {
    /// Drives health until shutdown; returns the database it opened, if any.
    pub(super) async fn run(self, health: Health, shutdown: CancellationToken) -> Option<Database> {
        match self {
            Readiness::Immediate => {
                health.set_all(ServingStatus::Serving).await;
                None
            }
            Readiness::Database {
                url,
                pool,
                migrations,
                cell,
            } => {
                let db = open(&url, &pool, migrations, &shutdown).await?;
                cell.set(db.clone());
                follow(&db, &health, &shutdown).await;
                Some(db)
            }
            Readiness::Follow(mut statuses) => loop {
                let current = statuses.borrow_and_update().clone();
                health.set_each(&current).await;
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    changed = statuses.changed() => if changed.is_err() { return None },
                }
            },
        }
    }
}

async fn open(
    url: &str,
    pool: &PoolSettings,
    migrations: &Migrations,
    shutdown: &CancellationToken,
) -> Option<Database> {
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = async {
            let db = Database::connect(url, pool).await?;
            db.migrate(migrations).await?;
            anyhow::Ok(db)
        };
        match attempt.await {
            Ok(db) => {
                tracing::info!(backend = db.backend().as_str(), "database ready");
                return Some(db);
            }
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), retry_in = ?backoff, "database not ready")
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn follow(db: &Database, health: &Health, shutdown: &CancellationToken) {
    let mut serving = None;
    loop {
        let up = matches!(tokio::time::timeout(CHECK_WITHIN, db.ping()).await, Ok(Ok(())));
        if serving != Some(up) {
            if !up {
                tracing::warn!("database unreachable; NOT_SERVING");
            }
            let status = if up {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_all(status).await;
            serving = Some(up);
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}

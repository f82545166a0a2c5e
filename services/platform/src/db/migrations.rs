//! A service's schema: its own migrations, per backend, and the platform's
//! tables every service has (idempotency keys, the outbox's delivery and the
//! inbox), written once here and applied at the version each holds in that
//! service's numbering.
//!
//! sqlx records each applied migration by version with the checksum of its
//! SQL, and refuses to start when a recorded one changes. So a shared set is
//! placed by the service at a fixed version (its place in the history every
//! deployed database of that service already has) and its text never changes;
//! a change is a new migration. `tests/suite/migrations.rs` pins every
//! checksum of every service.

use std::borrow::Cow;

use sqlx::{
    SqlSafeStr as _,
    migrate::{Migration, MigrationType, Migrator},
};

use super::Backend;
use crate::constraint::Constraint;

/// The schema of one service: its migration sets, one per backend, the
/// platform's shared sets at the versions this service gives them, and what
/// each constraint they create means to a caller.
#[derive(Debug)]
pub struct Migrations {
    /// The service's own PostgreSQL migrations.
    pub postgres: Migrator,
    /// The service's own SQLite migrations.
    pub sqlite: Migrator,
    /// The platform's sets and the version each holds in this service's
    /// history (fixed once released).
    pub shared: &'static [(i64, Shared)],
    /// Every unique, CHECK and foreign-key constraint the migrations create,
    /// beyond [`crate::constraint::SHARED`].
    pub constraints: &'static [Constraint],
}

/// A table set every service has, written once in the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    /// `idempotency_keys` ([`crate::idempotency`]).
    IdempotencyKeys,
    /// The outbox's delivery state and the `inbox` of applied events.
    EventDelivery,
    /// The traceparent of the replay that last put an outbox event back.
    EventReplayTrace,
}

impl Shared {
    /// The description sqlx records (as it would from a file's name).
    fn description(self) -> &'static str {
        match self {
            Self::IdempotencyKeys => "idempotency keys",
            Self::EventDelivery => "event delivery",
            Self::EventReplayTrace => "event replay trace",
        }
    }

    /// The SQL on `backend`.
    fn sql(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (Self::IdempotencyKeys, Backend::Postgres) => {
                include_str!("../../migrations/postgres/idempotency_keys.sql")
            }
            (Self::IdempotencyKeys, Backend::Sqlite) => include_str!("../../migrations/sqlite/idempotency_keys.sql"),
            (Self::EventDelivery, Backend::Postgres) => include_str!("../../migrations/postgres/event_delivery.sql"),
            (Self::EventDelivery, Backend::Sqlite) => include_str!("../../migrations/sqlite/event_delivery.sql"),
            (Self::EventReplayTrace, _) => include_str!("../../migrations/event_replay_trace.sql"),
        }
    }
}

impl Migrations {
    /// Every migration of this service on `backend`, in version order: its
    /// own and the shared sets at their places. Fails when a version is
    /// given twice.
    pub fn migrator(&self, backend: Backend) -> anyhow::Result<Migrator> {
        let own = match backend {
            Backend::Postgres => &self.postgres,
            Backend::Sqlite => &self.sqlite,
        };
        let mut all: Vec<Migration> = own.iter().cloned().collect();
        for &(version, set) in self.shared {
            if all.iter().any(|m| m.version == version) {
                anyhow::bail!(
                    "migration {version} is given twice: the shared {:?} and another",
                    set.description()
                );
            }
            all.push(Migration::new(
                version,
                Cow::Borrowed(set.description()),
                MigrationType::Simple,
                set.sql(backend).into_sql_str(),
                false,
            ));
        }
        Ok(Migrator::with_migrations(all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASH: Migrations = Migrations {
        postgres: Migrator::DEFAULT,
        sqlite: Migrator::DEFAULT,
        shared: &[(1, Shared::IdempotencyKeys), (1, Shared::EventDelivery)],
        constraints: &[],
    };

    #[test]
    fn shared_sets_take_their_places_in_version_order() {
        let schema = Migrations {
            shared: &[(3, Shared::EventReplayTrace), (1, Shared::IdempotencyKeys)],
            ..CLASH
        };
        let migrator = schema.migrator(Backend::Sqlite).expect("no clash");
        let versions: Vec<i64> = migrator.iter().map(|m| m.version).collect();
        assert_eq!(versions, [1, 3]);
        let first = migrator.iter().next().expect("one");
        assert_eq!(first.description, "idempotency keys");
        assert!(first.sql.as_str().contains("CREATE TABLE idempotency_keys"));
    }

    #[test]
    fn a_shared_set_on_a_version_already_taken_is_refused() {
        let own = Migration::new(
            1,
            Cow::Borrowed("own"),
            MigrationType::Simple,
            "SELECT 1".into_sql_str(),
            false,
        );
        let schema = Migrations {
            sqlite: Migrator::with_migrations(vec![own]),
            shared: &[(1, Shared::IdempotencyKeys)],
            ..CLASH
        };
        let error = schema
            .migrator(Backend::Sqlite)
            .expect_err("version 1 is the service's");
        assert!(error.to_string().contains("migration 1"), "{error}");
        let error = CLASH.migrator(Backend::Postgres).expect_err("two shared sets at 1");
        assert!(error.to_string().contains("migration 1"), "{error}");
    }
}

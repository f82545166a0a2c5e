//! What each database constraint means to a caller, by name, in one table
//! per service (`Migrations::constraints`) plus [`SHARED`] for the tables
//! every service has.
//!
//! A handler checks its rules before it writes; the schema holds the same
//! rules again so that no race and no missed check stores a bad row. When
//! the database refuses a write anyway, the refusal becomes the precise
//! error its constraint stands for instead of `INTERNAL`:
//!
//! | meaning | code |
//! | --- | --- |
//! | [`Meaning::Duplicate`] | `ALREADY_EXISTS` + `ResourceInfo` |
//! | [`Meaning::Rule`] | `FAILED_PRECONDITION` + `ErrorInfo` |
//! | [`Meaning::Field`] | `INVALID_ARGUMENT` + `BadRequest` |
//! | [`Meaning::Race`] | `ABORTED`: another call changed the same rows; a retry gets the real answer |
//! | [`Meaning::Invariant`] | `INTERNAL`: a value only the server writes; only a bug breaks it |
//!
//! PostgreSQL names the constraint; SQLite names a named CHECK, reports an
//! unnamed CHECK by its expression and a unique key by its columns
//! (`table.a, table.b`), and names no foreign key at all — so every foreign
//! key means [`Meaning::Race`] (the handler found the referenced row in
//! the same transaction; only a concurrent removal breaks it). A test
//! reads every constraint of every migrated schema on both backends and
//! fails on one this table does not know.

use std::sync::RwLock;

use crate::error::{Error, FieldViolation};

/// Which kind of constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A primary key, unique constraint or unique index.
    Unique,
    /// A CHECK.
    Check,
    /// A foreign key.
    ForeignKey,
}

/// What a violation tells the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// The caller asked for something that exists: this resource type.
    Duplicate(&'static str),
    /// A business rule the database holds too.
    Rule {
        /// `ErrorInfo.reason`, the one the handler's own check uses.
        reason: &'static str,
        /// What the caller is told.
        message: &'static str,
    },
    /// A bound on a value the caller sent.
    Field {
        /// The request field, in proto path form.
        field: &'static str,
        /// The bound.
        rule: &'static str,
    },
    /// A concurrent call changed the same rows first.
    Race,
    /// Holds by construction: the server alone writes these values.
    Invariant,
}

impl Meaning {
    /// A bound on the request's `field`, told as `rule`.
    pub const fn field(field: &'static str, rule: &'static str) -> Self {
        Self::Field { field, rule }
    }

    /// A business rule: `ErrorInfo.reason` `reason`, the caller told `message`.
    pub const fn rule(reason: &'static str, message: &'static str) -> Self {
        Self::Rule { reason, message }
    }
}

/// One constraint of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraint {
    /// Its kind.
    pub kind: Kind,
    /// Its name, as PostgreSQL reports it (and SQLite, for a named CHECK).
    pub name: &'static str,
    /// How SQLite reports it: the name of a named CHECK, the expression of
    /// an unnamed one, the columns of a unique key; empty for a foreign key.
    pub sqlite: &'static str,
    /// What a violation means.
    pub meaning: Meaning,
}

impl Constraint {
    /// A unique key whose columns SQLite reports as `sqlite`.
    pub const fn unique(name: &'static str, sqlite: &'static str, meaning: Meaning) -> Self {
        Self {
            kind: Kind::Unique,
            name,
            sqlite,
            meaning,
        }
    }

    /// A CHECK written with `CONSTRAINT name` on both backends.
    pub const fn named_check(name: &'static str, meaning: Meaning) -> Self {
        Self {
            kind: Kind::Check,
            name,
            sqlite: name,
            meaning,
        }
    }

    /// An unnamed CHECK: PostgreSQL's generated `name`, SQLite's `expression`.
    pub const fn check(name: &'static str, expression: &'static str, meaning: Meaning) -> Self {
        Self {
            kind: Kind::Check,
            name,
            sqlite: expression,
            meaning,
        }
    }

    /// A foreign key (always [`Meaning::Race`]; see the module doc).
    pub const fn foreign_key(name: &'static str) -> Self {
        Self {
            kind: Kind::ForeignKey,
            name,
            sqlite: "",
            meaning: Meaning::Race,
        }
    }

    /// The error a violation of this constraint answers.
    pub fn error(&self) -> Error {
        match self.meaning {
            Meaning::Duplicate(resource) => Error::AlreadyExists {
                resource,
                existing_id: String::new(),
                message: format!("a {resource} with the same key exists"),
            },
            Meaning::Rule { reason, message } => Error::precondition(reason, message),
            Meaning::Field { field, rule } => Error::InvalidArgument(vec![FieldViolation::new(field, rule)]),
            Meaning::Race => Error::Aborted("a concurrent call changed the same rows; retry".into()),
            Meaning::Invariant => Error::internal(format!("database invariant {} violated", self.name)),
        }
    }
}

/// The constraints of the tables every service has: idempotency keys, the
/// outbox, the inbox and sqlx's own migration table.
pub const SHARED: &[Constraint] = &[
    Constraint::unique("_sqlx_migrations_pkey", "_sqlx_migrations.version", Meaning::Invariant),
    // Two calls with one key at once: the loser's retry replays the winner.
    Constraint::unique(
        "idempotency_keys_pkey",
        "idempotency_keys.scope, idempotency_keys.key",
        Meaning::Race,
    ),
    // One event delivered twice at once: the loser's retry finds it applied.
    Constraint::unique("inbox_pkey", "inbox.event_id", Meaning::Race),
    Constraint::unique("outbox_pkey", "outbox.seq", Meaning::Invariant),
    Constraint::unique("outbox_event_id_key", "outbox.event_id", Meaning::Invariant),
    Constraint::check("outbox_attempts_check", "attempts >= 0", Meaning::Invariant),
    Constraint::check(
        "outbox_state_check",
        "state IN ('PENDING', 'DELIVERED', 'PARKED')",
        Meaning::Invariant,
    ),
];

static REGISTERED: RwLock<Vec<&'static [Constraint]>> = RwLock::new(Vec::new());

/// Makes `table` known to every conversion of a database error in this
/// process (several services may share one process; their tables agree
/// where names meet, which a test checks). Registering twice is harmless.
pub fn register(table: &'static [Constraint]) {
    let mut tables = REGISTERED.write().unwrap_or_else(|p| p.into_inner());
    for t in [SHARED, table] {
        if !tables.iter().any(|known| std::ptr::eq(*known, t)) {
            tables.push(t);
        }
    }
}

/// The registered constraint `err` violated, if it is a constraint
/// violation and the constraint is known.
pub fn violated(err: &dyn sqlx::error::DatabaseError) -> Option<Constraint> {
    use sqlx::error::ErrorKind as E;
    let kind = match err.kind() {
        E::UniqueViolation => Kind::Unique,
        E::CheckViolation => Kind::Check,
        E::ForeignKeyViolation => Kind::ForeignKey,
        _ => return None,
    };
    let tables = REGISTERED.read().unwrap_or_else(|p| p.into_inner());
    let mut known = tables.iter().flat_map(|t| t.iter()).filter(|c| c.kind == kind);
    if let Some(name) = err.constraint() {
        return known.find(|c| c.name == name).copied();
    }
    // SQLite: the message carries the form.
    let form = match kind {
        Kind::ForeignKey => return known.next().copied(),
        Kind::Unique => err.message().strip_prefix("UNIQUE constraint failed: "),
        Kind::Check => err.message().strip_prefix("CHECK constraint failed: "),
    }?;
    known.find(|c| c.sqlite == form.trim()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn each_meaning_answers_its_code() {
        let cases = [
            (Meaning::Duplicate("rep"), Code::AlreadyExists),
            (Meaning::rule("PRIVATE_POOL_FULL", "full"), Code::FailedPrecondition),
            (Meaning::field("lead.score", "0 to 100"), Code::InvalidArgument),
            (Meaning::Race, Code::Aborted),
            (Meaning::Invariant, Code::Internal),
        ];
        for (meaning, code) in cases {
            let c = Constraint::named_check("x", meaning);
            assert_eq!(c.error().code(), code, "{meaning:?}");
        }
    }
}

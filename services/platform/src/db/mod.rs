//! One URL opens either backend: `sqlite://path` (WAL, created if missing) or
//! `postgres://…`; each service brings a migration set per backend
//! ([`Migrations`]), beside the platform's shared tables.

use std::{str::FromStr as _, sync::Arc, time::Duration};

use anyhow::Context as _;
use sqlx::{
    postgres::{PgPool, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous},
};
use tokio::sync::OnceCell;

use crate::error::Error;

mod migrations;

pub use migrations::{Migrations, Shared};

/// Which engine a [`Database`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (the default of `tiejun up`).
    Sqlite,
    /// PostgreSQL (production).
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!("unsupported database URL (expected sqlite://PATH or postgres://…)")
        }
    }

    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Pool settings shared by both backends.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Connections at most.
    pub max_connections: u32,
    /// How long a query waits for a connection before UNAVAILABLE.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// An open pool on either backend.
#[derive(Debug, Clone)]
pub enum Database {
    /// SQLite.
    Sqlite(SqliteDb),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// An SQLite pool and the queue its writers wait in.
///
/// Writers take an async mutex before `BEGIN IMMEDIATE`, so in this process
/// they queue in order instead of sleeping in SQLite's busy handler (which
/// backs off up to 100 ms a try and made tail latency seconds long under
/// load). Other processes sharing the file still wait on SQLite's own lock.
#[derive(Debug, Clone)]
pub struct SqliteDb {
    /// The pool.
    pub pool: SqlitePool,
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl Database {
    /// Creates the PostgreSQL database `url` names when it does not exist
    /// (connecting to the server's `postgres` database with the same
    /// credentials; the role needs CREATEDB). Idempotent, and safe when two
    /// replicas' migrations race: the loser finds the database there. A SQLite
    /// file is created when it is opened; nothing to do.
    pub async fn create_if_missing(url: &str) -> anyhow::Result<bool> {
        use sqlx::migrate::MigrateDatabase as _;
        if Backend::of_url(url)? != Backend::Postgres {
            return Ok(false);
        }
        if sqlx::Postgres::database_exists(url)
            .await
            .context("asking the server whether the database exists")?
        {
            return Ok(false);
        }
        match sqlx::Postgres::create_database(url).await {
            Ok(()) => Ok(true),
            // 42P04 duplicate_database: another replica created it first.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context("creating the missing database")),
        }
    }

    /// Opens `url` (without touching the schema). SQLite files are created if
    /// missing, but not their directory.
    pub async fn connect(url: &str, settings: &PoolSettings) -> anyhow::Result<Self> {
        match Backend::of_url(url)? {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url).context("parsing the SQLite URL")?;
                // Contact data: the file is the owner's alone from its first
                // byte (SQLite gives its -wal and -shm the file's own mode).
                crate::files::private_file(options.get_filename())?;
                let options = options
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_with(options)
                    .await
                    .context("opening the SQLite database")?;
                Ok(Self::Sqlite(SqliteDb {
                    pool,
                    writer: Arc::default(),
                }))
            }
            Backend::Postgres => {
                // No ping before each acquire: it is a round trip per
                // transaction, and a connection the server dropped fails its
                // first statement as UNAVAILABLE instead (and leaves the pool).
                let pool = PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .test_before_acquire(false)
                    .connect(url)
                    .await
                    .context("connecting to PostgreSQL")?;
                Ok(Self::Postgres(pool))
            }
        }
    }

    /// Runs the backend's migrations (idempotent; PostgreSQL takes an advisory
    /// lock so replicas starting together migrate once).
    pub async fn migrate(&self, migrations: &Migrations) -> anyhow::Result<()> {
        crate::constraint::register(migrations.constraints);
        let migrator = migrations.migrator(self.backend())?;
        match self {
            Self::Sqlite(db) => migrator.run(&db.pool).await.context("SQLite migrations")?,
            Self::Postgres(pool) => migrator.run(pool).await.context("PostgreSQL migrations")?,
        }
        Ok(())
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(db) => sqlx::query("SELECT 1").execute(&db.pool).await.map(drop),
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(..) => Backend::Postgres,
        }
    }

    /// Connections open in the pool, and how many of them are idle.
    pub fn pool_connections(&self) -> (u32, usize) {
        match self {
            Self::Postgres(pool) => (pool.size(), pool.num_idle()),
            Self::Sqlite(db) => (db.pool.size(), db.pool.num_idle()),
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(db) => db.pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// Starts an SQLite write transaction with `BEGIN IMMEDIATE`, so writers
/// queue on the database lock up front instead of failing on upgrade.
pub async fn begin_immediate(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, Error> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// A write transaction on either backend: PostgreSQL `BEGIN` (row locks do
/// the rest) or SQLite `BEGIN IMMEDIATE` (writers queue on the database lock).
///
/// Store code is written once for both backends with [`on_tx!`](crate::on_tx)
/// and [`on_pool!`](crate::on_pool): sqlx binds `$1…$n` on SQLite as on
/// PostgreSQL, so one SQL text serves both wherever the dialects agree, and
/// the few places that differ (`FOR UPDATE SKIP LOCKED`) say so explicitly.
///
/// Each statement is a span of the call that ran it (`telemetry::statements`).
#[derive(Debug)]
pub enum Tx {
    /// PostgreSQL.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    /// SQLite, holding this process's writer turn until it ends.
    Sqlite(
        sqlx::Transaction<'static, sqlx::Sqlite>,
        tokio::sync::OwnedMutexGuard<()>,
    ),
}

impl Tx {
    /// Commits.
    pub async fn commit(self) -> Result<(), Error> {
        match self {
            Self::Postgres(tx) => tx.commit().await?,
            Self::Sqlite(tx, _turn) => tx.commit().await?,
        }
        Ok(())
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(..) => Backend::Postgres,
            Self::Sqlite(..) => Backend::Sqlite,
        }
    }

    /// Waits for the job lock `key`, held until this transaction ends, so
    /// replicas sharing a PostgreSQL database run a job one at a time. On
    /// SQLite `BEGIN IMMEDIATE` already serialises writers: nothing to do.
    pub async fn job_lock(&mut self, key: JobKey) -> Result<(), Error> {
        if let Self::Postgres(tx) = self {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key as i64)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

/// Where one use case's writes run: inside a write transaction, or, for a
/// use case PostgreSQL runs as a single statement, straight on the pool in
/// autocommit: one round trip instead of three (BEGIN, it, COMMIT). A use
/// case given `Autocommit` that needs more than one statement (SQLite's
/// way) opens its own transaction.
#[derive(Debug)]
pub enum Writer<'a> {
    /// The caller's transaction.
    Tx(&'a mut Tx),
    /// No transaction yet.
    Autocommit(&'a Database),
}

impl Database {
    /// Starts a write transaction. A DEBUG event (target
    /// [`TRANSACTION_TARGET`]) marks each, for what counts them: sqlx reports
    /// `BEGIN` and `COMMIT` differently on each backend.
    pub async fn begin(&self) -> Result<Tx, Error> {
        tracing::debug!(target: TRANSACTION_TARGET, backend = self.backend().as_str(), "transaction");
        Ok(match self {
            Self::Postgres(pool) => Tx::Postgres(pool.begin().await?),
            Self::Sqlite(db) => {
                let turn = db.writer.clone().lock_owned().await;
                Tx::Sqlite(begin_immediate(&db.pool).await?, turn)
            }
        })
    }
}

/// The target of the event [`Database::begin`] logs.
pub const TRANSACTION_TARGET: &str = "tiejun::db::transaction";

/// Runs `$body` with `$conn` bound to the transaction's connection, whichever
/// the backend: `on_tx!(tx, |c| sqlx::query("…").execute(&mut *c).await)`.
/// The body is compiled once per backend.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Postgres(tx) => {
                let $conn: &mut sqlx::PgConnection = &mut *tx;
                $body
            }
            $crate::db::Tx::Sqlite(tx, _) => {
                let $conn: &mut sqlx::SqliteConnection = &mut *tx;
                $body
            }
        }
    };
}

/// Runs one statement that returns no rows in the transaction `$tx`,
/// whichever the backend; the number of rows it changed:
/// `execute!(tx, sqlx::query("UPDATE … WHERE id = $1").bind(id))?`.
/// The query is built once per backend, as in [`on_tx!`].
#[macro_export]
macro_rules! execute {
    ($tx:expr, $query:expr) => {
        $crate::on_tx!($tx, |c| $query.execute(c).await.map(|done| done.rows_affected()))
    };
}

/// One SQL text for both backends where they differ only by PostgreSQL's
/// row-locking clause (SQLite's `BEGIN IMMEDIATE` already holds the write
/// lock): `locked!(tx, "SELECT … FROM reps WHERE person_id = $1", "FOR SHARE")`,
/// or with the clause in the middle, `locked!(tx, "… IN (SELECT …", "FOR UPDATE SKIP LOCKED", ")")`.
/// Every part must be a literal (or a macro that expands to one).
#[macro_export]
macro_rules! locked {
    ($tx:expr, $before:expr, $clause:literal) => {
        $crate::locked!($tx, $before, $clause, "")
    };
    ($tx:expr, $before:expr, $clause:literal, $after:expr) => {
        match $tx.backend() {
            $crate::db::Backend::Postgres => concat!($before, " ", $clause, $after),
            $crate::db::Backend::Sqlite => concat!($before, $after),
        }
    };
}

/// Runs `$body` with `$pool` bound to the database's pool (for reads outside a
/// transaction): `on_pool!(db, |p| sqlx::query("…").fetch_all(p).await)`.
///
/// The body runs as an async block whose `?` converts into the platform
/// [`Error`](crate::error::Error); the macro then yields the body's own
/// value, so callers read as if the body were inline, and the calling
/// function's error type must convert from the platform error.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Database::Postgres($pool) => (async { Ok::<_, $crate::error::Error>($body) }).await?,
            $crate::db::Database::Sqlite(db) => {
                let $pool = &db.pool;
                (async { Ok::<_, $crate::error::Error>($body) }).await?
            }
        }
    };
}

/// [`on_pool!`](crate::on_pool) without the `?`: the body is
/// inlined as is. For tests and tools that check the database from outside a
/// call; service code reads with `on_pool!`.
#[macro_export]
macro_rules! on_pool_raw {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Database::Postgres($pool) => $body,
            $crate::db::Database::Sqlite(db) => {
                let $pool = &db.pool;
                $body
            }
        }
    };
}

/// The database a service uses once it is ready. Handlers that run before
/// then answer UNAVAILABLE instead of waiting.
#[derive(Debug, Clone, Default)]
pub struct DbCell(Arc<OnceCell<Database>>);

impl DbCell {
    /// An empty cell.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills the cell (once; later calls are ignored).
    pub fn set(&self, db: Database) {
        let _ = self.0.set(db);
    }

    /// The database, or UNAVAILABLE while it is not ready.
    pub fn get(&self) -> Result<&Database, Error> {
        self.0
            .get()
            .ok_or_else(|| Error::Unavailable("database not ready".into()))
    }
}

/// Every PostgreSQL advisory lock key of the suite. Transaction and
/// session locks share one key space per database, so the keys live in one
/// place: a second job given an existing value does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum JobKey {
    /// lead-distribution: the daily distribution.
    Distribution = 0x7469_656a_756e_0001,
    /// lead-distribution: the deadline sweep.
    Sweep = 0x7469_656a_756e_0002,
    /// lead-distribution: numbering the reps' feed events.
    Feed = 0x7469_656a_756e_0003,
    /// membership-billing: the renewal cycle.
    Renewal = 0x7469_656a_756e_0101,
    /// Every service: the outbox relay's leader.
    Relay = 0x7469_656a_756e_f001,
}

/// The right to run a job alone among replicas sharing a database: on
/// PostgreSQL a session advisory lock on a connection taken out of the pool
/// (closing it, or losing it, releases the lock); on SQLite one process owns
/// the file, so it always leads.
#[derive(Debug)]
pub struct Leadership(Option<sqlx::PgConnection>);

impl Database {
    /// Takes the lead for `key` if no other replica has it.
    pub async fn try_lead(&self, key: JobKey) -> Result<Option<Leadership>, Error> {
        let Self::Postgres(pool) = self else {
            return Ok(Some(Leadership(None)));
        };
        let mut conn = pool.acquire().await?.detach();
        let (won,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(key as i64)
            .fetch_one(&mut conn)
            .await?;
        Ok(won.then_some(Leadership(Some(conn))))
    }
}

impl Leadership {
    /// True while the lock's connection still answers.
    pub async fn still_held(&mut self) -> bool {
        match &mut self.0 {
            None => true,
            Some(conn) => sqlx::query("SELECT 1").execute(conn).await.is_ok(),
        }
    }
}

//! Test support (feature `testing`): a throwaway PostgreSQL cluster per test
//! process, a fresh database per test, and one way to run a test body against
//! both backends.
//!
//! Without PostgreSQL binaries the PostgreSQL cases print that they were
//! skipped, and **fail** when `TIEJUN_TEST_POSTGRES=require` (CI sets it).

mod postgres;

use tempfile::TempDir;

pub use postgres::{Durability, PgCluster};

use crate::db::Backend;

/// A fresh, empty database for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// Which backend.
    pub backend: Backend,
    /// Its URL.
    pub url: String,
    _dir: Option<TempDir>,
}

impl TestDatabase {
    /// A new SQLite file in a temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        Self {
            backend: Backend::Sqlite,
            url,
            _dir: Some(dir),
        }
    }

    /// A new database on this process's throwaway cluster, or `None` (after
    /// printing why) when PostgreSQL is not installed and not required.
    pub async fn postgres() -> Option<Self> {
        let cluster = match PgCluster::shared() {
            Ok(cluster) => cluster,
            Err(why) => {
                if postgres_required() {
                    panic!("TIEJUN_TEST_POSTGRES=require but PostgreSQL is unavailable: {why}");
                }
                eprintln!("SKIPPED (PostgreSQL unavailable: {why}; set TIEJUN_TEST_POSTGRES=require to fail instead)");
                return None;
            }
        };
        let url = cluster.create_database().await.expect("creating a test database");
        Some(Self {
            backend: Backend::Postgres,
            url,
            _dir: None,
        })
    }

    /// The database of `backend` (see [`TestDatabase::postgres`] for `None`).
    pub async fn of(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
        }
    }
}

/// True when `TIEJUN_TEST_POSTGRES=require`.
pub fn postgres_required() -> bool {
    std::env::var("TIEJUN_TEST_POSTGRES").is_ok_and(|v| v == "require")
}

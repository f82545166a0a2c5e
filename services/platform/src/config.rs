//! Settings shared by every service, as clap argument groups: each flag has a
//! `TIEJUN_*` (or standard) environment fallback. The README's configuration
//! table lists them all, with their rules. A value that breaks a rule stops
//! the process at start with one line naming the flag and the rule (clap's,
//! for a value checked while parsing; ours, for a secret or a URL, which are
//! never echoed).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context as _;

use crate::{
    auth::{JwtKeys, MIN_SECRET_LEN},
    clock::SharedClock,
    db::{Backend, PoolSettings},
};

/// How a gRPC server listens, limits and drains.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "TIEJUN_LISTEN", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,
    /// Largest request or response message, in bytes.
    #[arg(long, env = "TIEJUN_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..))]
    pub max_message_bytes: usize,
    /// Calls handled at once by this process; more are shed with RESOURCE_EXHAUSTED.
    /// At least 4: one principal holds at most a quarter.
    #[arg(long, env = "TIEJUN_CONCURRENCY_LIMIT", default_value_t = 1024,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(4..))]
    pub concurrency_limit: usize,
    /// Streams per HTTP/2 connection.
    #[arg(long, env = "TIEJUN_MAX_CONCURRENT_STREAMS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,
    /// Largest header block of one call, in bytes (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE).
    /// A call over it is refused alone; one over four times it ends the connection
    /// (the HTTP/2 library's abuse guard).
    /// At least 32 KiB, so that a token over the 16 KiB limit reaches the
    /// check that refuses it alone.
    #[arg(long, env = "TIEJUN_MAX_HEADER_BYTES", default_value_t = DEFAULT_MAX_HEADER_BYTES,
          value_parser = clap::value_parser!(u32).range(32 * 1024..))]
    pub max_header_bytes: u32,
    /// The deadline of a unary or client-streaming call that carries none, and
    /// the longest any request may take to arrive whole.
    #[arg(long, env = "TIEJUN_DEFAULT_DEADLINE", default_value = "15s", value_parser = positive_duration)]
    pub default_deadline: Duration,
    /// After SIGTERM: keep serving (health NOT_SERVING) this long before closing listeners.
    #[arg(long, env = "TIEJUN_DRAIN_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub drain_delay: Duration,
    /// After SIGTERM: the most time in-flight calls get to finish.
    #[arg(long, env = "TIEJUN_DRAIN_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,
}

/// A duration above zero (`500ms`, `15s`, `5m`): the parser of every
/// interval, timeout and deadline flag.
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be more than zero".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// The default header budget of a call: room for any real token (at most
/// [`crate::auth::MAX_TOKEN_BYTES`]) and far more, so an oversized token is
/// refused for its own call rather than ending the connection.
pub const DEFAULT_MAX_HEADER_BYTES: u32 = 128 * 1024;

impl ServerArgs {
    /// Defaults with another listen address (tests and `tiejun up`).
    pub fn listening_on(listen: SocketAddr) -> Self {
        Self {
            listen,
            max_message_bytes: 4 * 1024 * 1024,
            concurrency_limit: 1024,
            max_concurrent_streams: 256,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            default_deadline: Duration::from_secs(15),
            drain_delay: Duration::ZERO,
            drain_timeout: Duration::from_secs(20),
        }
    }
}

/// Where a service keeps its data.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Pool size.
    #[arg(long, env = "TIEJUN_DB_MAX_CONNECTIONS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_connections: u32,
    /// How long a call waits for a pooled connection.
    #[arg(long, env = "TIEJUN_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = positive_duration)]
    pub db_acquire_timeout: Duration,
}

impl DatabaseArgs {
    /// Defaults for `url`.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            database_url: url.into(),
            db_max_connections: 10,
            db_acquire_timeout: Duration::from_secs(5),
        }
    }

    /// Checks the URL names a backend, without echoing it (it may hold a
    /// password).
    pub fn check(&self) -> anyhow::Result<()> {
        Backend::of_url(&self.database_url)
            .map(drop)
            .context("--database-url (DATABASE_URL)")
    }

    /// The pool settings.
    pub fn pool(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.db_max_connections,
            acquire_timeout: self.db_acquire_timeout,
        }
    }
}

/// Where the JWT secret comes from. It is never printed.
#[derive(Clone, clap::Args)]
pub struct AuthArgs {
    /// The HS256 secret (prefer the environment or a file: flags show in `ps`).
    #[arg(
        long,
        env = "TIEJUN_JWT_SECRET",
        hide_env_values = true,
        conflicts_with = "jwt_secret_file"
    )]
    pub jwt_secret: Option<String>,
    /// A file holding the secret (a mounted Kubernetes Secret).
    #[arg(long, env = "TIEJUN_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
}

impl std::fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthArgs")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("jwt_secret_file", &self.jwt_secret_file)
            .finish()
    }
}

impl AuthArgs {
    /// The keys, from the flag, the environment or the file.
    pub fn keys(&self) -> anyhow::Result<JwtKeys> {
        let secret = match (&self.jwt_secret, &self.jwt_secret_file) {
            (Some(secret), _) => secret.trim().to_owned(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the JWT secret file {}", path.display()))?
                .trim()
                .to_owned(),
            (None, None) => {
                anyhow::bail!("no JWT secret: set --jwt-secret (TIEJUN_JWT_SECRET) or --jwt-secret-file")
            }
        };
        // The secret itself is never echoed: only its length.
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_LEN,
            "{}: the JWT secret must be at least {MIN_SECRET_LEN} bytes (this one has {})",
            match &self.jwt_secret_file {
                Some(path) if self.jwt_secret.is_none() => format!("--jwt-secret-file {}", path.display()),
                _ => "--jwt-secret (TIEJUN_JWT_SECRET)".to_owned(),
            },
            secret.len()
        );
        JwtKeys::from_secret(secret.as_bytes())
    }
}

/// Facts about the organisation the rules read.
#[derive(Debug, Clone, clap::Args)]
pub struct OrganisationArgs {
    /// Headquarters, the city AutoEnroll falls back to: every spelling its
    /// sessions use, comma-separated.
    #[arg(
        long = "headquarters",
        env = "TIEJUN_HEADQUARTERS",
        default_value = "Hangzhou,杭州",
        value_delimiter = ','
    )]
    pub headquarters: Vec<String>,
}

impl Default for OrganisationArgs {
    /// Headquarters in Hangzhou.
    fn default() -> Self {
        Self {
            headquarters: vec!["Hangzhou".into(), "杭州".into()],
        }
    }
}

/// The service's background jobs (schedulers, sweeps).
#[derive(Debug, Clone, clap::Args)]
pub struct JobArgs {
    /// Run the background jobs (tests turn them off and drive time by hand).
    #[arg(long = "jobs", env = "TIEJUN_JOBS", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// How often the jobs look for work.
    #[arg(long = "job-interval", env = "TIEJUN_JOB_INTERVAL", default_value = "30s", value_parser = positive_duration)]
    pub interval: Duration,
}

impl JobArgs {
    /// Jobs on, every 30 s.
    pub fn enabled() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(30),
        }
    }

    /// Jobs off.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            interval: Duration::from_secs(30),
        }
    }
}

/// Everything a storage-backed service needs to start: `tiejun serve`,
/// `tiejun up`, the tests and the benches all build one of these.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Listening, limits, drain.
    pub server: ServerArgs,
    /// The database.
    pub database: DatabaseArgs,
    /// The JWT keys.
    pub keys: JwtKeys,
    /// The clock every rule reads.
    pub clock: SharedClock,
    /// Background jobs.
    pub jobs: JobArgs,
    /// Where this service's events go.
    pub events: crate::events::EventArgs,
    /// The organisation.
    pub organisation: OrganisationArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        auth: AuthArgs,
    }

    #[test]
    fn flags_parse_with_defaults() {
        let cli = Cli::try_parse_from([
            "x",
            "--listen",
            "127.0.0.1:9000",
            "--database-url",
            "sqlite://a.db",
            "--drain-timeout",
            "3s",
        ])
        .expect("parses");
        assert_eq!(cli.server.listen.port(), 9000);
        assert_eq!(cli.server.drain_timeout, Duration::from_secs(3));
        assert_eq!(cli.server.max_message_bytes, 4 * 1024 * 1024);
        assert_eq!(cli.db.pool().max_connections, 10);
    }

    #[test]
    fn secret_is_read_from_a_file_and_never_debug_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "a-secret-of-sufficient-length\n").expect("write");
        let cli = Cli::try_parse_from([
            "x",
            "--database-url",
            "sqlite://a.db",
            "--jwt-secret-file",
            path.to_str().expect("utf8"),
        ])
        .expect("parses");
        assert!(cli.auth.keys().is_ok());
        let cli = Cli::try_parse_from([
            "x",
            "--database-url",
            "sqlite://a.db",
            "--jwt-secret",
            "hunter2hunter2hunter2",
        ])
        .expect("parses");
        assert!(!format!("{cli:?}").contains("hunter2"));
    }
}

//! One throwaway PostgreSQL cluster per test process: found on PATH or under
//! `/usr/lib/postgresql/*/bin`, initialised in a temporary directory (as the
//! `postgres` user when running as root), and stopped by a small watcher
//! process once the test process exits.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

use anyhow::{Context as _, bail};

/// A running throwaway cluster.
#[derive(Debug)]
pub struct PgCluster {
    port: u16,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    options: String,
    root: bool,
}

static SHARED: OnceLock<Result<PgCluster, String>> = OnceLock::new();

impl PgCluster {
    /// The cluster of this test process, started on first use.
    pub fn shared() -> Result<&'static PgCluster, String> {
        SHARED
            .get_or_init(|| Self::start(Durability::Fast).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The URL of the cluster's `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a fresh database and returns its URL.
    pub async fn create_database(&self) -> anyhow::Result<String> {
        use sqlx::Connection as _;
        let name = format!("t_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&self.admin_url()).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(format!("postgres://postgres@127.0.0.1:{}/{name}", self.port))
    }

    /// A cluster of the caller's own, for tests that stop and restart the
    /// database; stopped when the test process exits.
    pub fn dedicated(durability: Durability) -> anyhow::Result<Self> {
        Self::start(durability)
    }

    /// Stops the cluster at once, as a crash would (`pg_ctl -m immediate`):
    /// every client connection breaks.
    pub fn kill(&self) -> anyhow::Result<()> {
        run(self
            .as_pg(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]))
        .context("pg_ctl stop")
    }

    /// Starts it again on the same port and data (crash recovery runs).
    pub fn start_again(&self) -> anyhow::Result<()> {
        run(self
            .as_pg(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-o", &self.options, "start"]))
        .context("pg_ctl start")
    }

    fn as_pg(&self, program: &Path) -> Command {
        if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn start(durability: Durability) -> anyhow::Result<Self> {
        let bin = find_bin_dir().context("no initdb on PATH or under /usr/lib/postgresql/*/bin")?;
        let root = is_root();
        let dir = tempfile::Builder::new().prefix("tiejun-pg-").tempdir()?.keep();
        let data = dir.join("data");
        let port = free_port()?;
        if root {
            run(Command::new("chmod").arg("755").arg(&dir))?;
            run(Command::new("chown").arg("postgres:postgres").arg(&dir))?;
        }
        let as_pg = |program: &Path| -> Command {
            if root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            }
        };
        run(as_pg(&bin.join("initdb")).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]))
        .context("initdb")?;
        // fsync off is safe for a database process crash (the page cache
        // survives it); asynchronous commit is not, so a durable cluster
        // keeps synchronous_commit on.
        let commit = match durability {
            Durability::Fast => "-c synchronous_commit=off -c full_page_writes=off",
            Durability::SurvivesCrash => "-c synchronous_commit=on",
        };
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off {commit} -c max_connections=300",
            dir.display()
        );
        let cluster = Self {
            port,
            bin,
            data,
            log: dir.join("log"),
            options,
            root,
        };
        cluster.start_again()?;
        spawn_watcher(&cluster.bin, &dir, &cluster.data, root)?;
        Ok(cluster)
    }
}

/// What a cluster promises about acknowledged commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Fast: asynchronous commit; a database crash may lose the last commits.
    Fast,
    /// Every acknowledged commit survives a crash of the database process.
    SurvivesCrash,
}

/// A shell that waits for this process to end, then stops the cluster and
/// removes its directory (Rust runs no destructors for statics).
fn spawn_watcher(bin: &Path, dir: &Path, data: &Path, root: bool) -> anyhow::Result<()> {
    let stop = format!(
        "{}{} -D '{}' -m immediate -w stop",
        if root { "runuser -u postgres -- " } else { "" },
        bin.join("pg_ctl").display(),
        data.display()
    );
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the cluster watcher")?;
    Ok(())
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.is_file() {
                // Debian links /usr/local/bin tools to the versioned directory.
                let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
                return real.parent().map(Path::to_path_buf);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

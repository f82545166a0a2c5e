//! `tiejun bench`: measured, not guessed. Every scenario seeds what it needs
//! through the public RPCs, then times its calls and reports latency
//! percentiles (hdrhistogram), the achieved rate and errors by gRPC code, as
//! text or `--json`. `echo`, `entitlement` and `mixed` drive any endpoint
//! (`--target`: a service, the gateway, nginx) at a fixed rate or flat out,
//! and report the CPU time and memory of the processes named by `--watch`;
//! `distribute`, `claim` and `enroll` start the service in this process on
//! the given database (a fresh SQLite file by default). The whole suite,
//! side by side with nginx and pgbench, is `tests/bench/run-suite`.

mod drive;
mod echo;
mod entitlement;
mod gateway;
mod leads;
mod load;
mod mixed;
mod report;
mod service;
mod training;
mod watch;

use std::path::PathBuf;

pub use report::Report;

/// `tiejun bench <scenario>`.
#[derive(Debug, clap::Subcommand)]
pub enum Scenario {
    /// One distribution run of L leads over R reps.
    Distribute(DistributeArgs),
    /// Self-claims from the pool by R reps, N at a time.
    Claim(ClaimArgs),
    /// An enrolment storm: L learners at once into one session of S seats.
    Enroll(EnrollArgs),
    /// The bare tonic echo (the framework's limit), at --target or started here.
    Echo(drive::DriveArgs),
    /// Serve the bare tonic echo until SIGTERM, for `echo --target` and nginx.
    EchoServer(echo::EchoServerArgs),
    /// CheckEntitlement (the hot path), at --target or on a billing service started here.
    Entitlement(drive::DriveArgs),
    /// A realistic blend of the suite's calls through a gateway (--target, or a suite started here).
    Mixed(drive::DriveArgs),
    /// CheckEntitlement direct and through the gateway, at a fixed rate and flat out.
    Gateway(GatewayArgs),
}

/// Which service a scenario measures: one at `--target`, or one started in
/// this process on `--database-url` (a fresh SQLite file by default).
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// The endpoint to measure, `http://host:port`: a service, the gateway, or
    /// nginx in front of one. Without it, the scenario starts its own server
    /// in this process. Seeding uses ids fresh to this run.
    #[arg(long = "target")]
    pub endpoint: Option<String>,
    /// The secret the --target verifies tokens with (to seed and call it).
    #[command(flatten)]
    pub auth: tiejun_platform::config::AuthArgs,
    /// The database of a server started here (default: a new SQLite file under --work-dir).
    #[arg(long, env = "TIEJUN_BENCH_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where the default SQLite file goes (default: a new temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Target {
    /// The keys to sign tokens for `--target` with.
    pub fn target_keys(&self) -> anyhow::Result<tiejun_platform::auth::JwtKeys> {
        use anyhow::Context as _;
        self.auth
            .keys()
            .context("--target needs the JWT secret the target verifies tokens with (TIEJUN_JWT_SECRET)")
    }

    /// A channel to `endpoint`.
    pub async fn channel_to(endpoint: &str) -> anyhow::Result<tonic::transport::Channel> {
        use anyhow::Context as _;
        tonic::transport::Channel::from_shared(endpoint.to_owned())
            .with_context(|| format!("--target {endpoint:?} is not a URL"))?
            .connect()
            .await
            .with_context(|| format!("connecting to {endpoint}"))
    }
}

/// `tiejun bench distribute`.
#[derive(Debug, clap::Args)]
pub struct DistributeArgs {
    /// Leads in the pool.
    #[arg(long, default_value_t = 40_000)]
    pub leads: usize,
    /// ACTIVE reps.
    #[arg(long, default_value_t = 1_000)]
    pub reps: usize,
    /// Quota of each rep (30-50).
    #[arg(long, default_value_t = 40)]
    pub quota: i32,
    /// Where the service keeps its data.
    #[command(flatten)]
    pub target: Target,
}

/// `tiejun bench claim`.
#[derive(Debug, clap::Args)]
pub struct ClaimArgs {
    /// Reps claiming (each claims its 10 a day).
    #[arg(long, default_value_t = 1_000)]
    pub reps: usize,
    /// Claims in flight at once (closed loop: each worker claims for its reps
    /// in turn, one claim after another).
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Instead: start this many claims a second on schedule (open loop), the
    /// reps taking turns, until every rep has claimed its 10.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Claims by reps of their own, the same way, before the measured ones:
    /// the service's connections open and its statements are prepared, as
    /// they are in a service that has been up a while.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: std::time::Duration,
    /// Where the service keeps its data.
    #[command(flatten)]
    pub target: Target,
}

/// `tiejun bench enroll`.
#[derive(Debug, clap::Args)]
pub struct EnrollArgs {
    /// Learners enrolling at once.
    #[arg(long, default_value_t = 1_000)]
    pub learners: usize,
    /// Seats in the session.
    #[arg(long, default_value_t = 100)]
    pub seats: i32,
    /// Where the service keeps its data.
    #[command(flatten)]
    pub target: Target,
}

/// `tiejun bench gateway`.
#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// The fixed rate, calls a second.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u32,
    /// Calls in flight at once in the flat-out runs.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// How long each of the four measured runs lasts.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: std::time::Duration,
    /// Unmeasured calls before each run.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: std::time::Duration,
    /// Where the service keeps its data.
    #[command(flatten)]
    pub target: Target,
}

/// Runs a scenario and prints its report.
pub async fn run(scenario: Scenario) -> anyhow::Result<()> {
    let (report, json) = match scenario {
        Scenario::Distribute(args) => (leads::distribute(&args).await?, args.target.json),
        Scenario::Claim(args) => (leads::claim(&args).await?, args.target.json),
        Scenario::Enroll(args) => (training::enroll(&args).await?, args.target.json),
        Scenario::Echo(args) => (echo::run(&args).await?, args.store.json),
        Scenario::EchoServer(args) => return echo::run_server(&args).await,
        Scenario::Entitlement(args) => (entitlement::run(&args).await?, args.store.json),
        Scenario::Mixed(args) => (mixed::run(&args).await?, args.store.json),
        Scenario::Gateway(args) => (gateway::run(&args).await?, args.target.json),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

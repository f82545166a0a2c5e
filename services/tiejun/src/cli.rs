//! The command line of `tiejun`. Every flag has an environment fallback; the
//! README's configuration table lists them.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use tiejun_platform::{
    auth::Role,
    config::{AuthArgs, DatabaseArgs, JobArgs, ServerArgs},
};

/// tiejun: lead distribution, membership billing and training for a direct-sales organisation.
#[derive(Debug, clap::Parser)]
#[command(name = "tiejun", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Start the gateway and all three services in one process, on SQLite.
    Up(UpArgs),
    /// Run one component, as a Kubernetes Deployment does.
    Serve {
        /// Which component.
        #[command(subcommand)]
        target: ServeTarget,
    },
    /// Apply a service's database migrations and exit.
    Migrate {
        /// Which service's schema.
        #[arg(value_enum)]
        service: ServiceName,
        /// The database.
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Mint a token for an operator or a client; prints the token alone.
    Token(TokenArgs),
    /// Operator tools for lead-distribution.
    Leads {
        /// What to do.
        #[command(subcommand)]
        command: LeadsCommand,
    },
    /// Measure a scenario (see the README's Performance section).
    Bench {
        /// Which scenario.
        #[command(subcommand)]
        scenario: crate::bench::Scenario,
    },
}

/// A service with a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceName {
    /// lead-distribution.
    Leads,
    /// membership-billing.
    Billing,
    /// training-enrollment.
    Training,
}

impl ServiceName {
    /// Every service, in port order.
    pub const ALL: [ServiceName; 3] = [ServiceName::Leads, ServiceName::Billing, ServiceName::Training];

    /// The name used in logs, files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Leads => "leads",
            ServiceName::Billing => "billing",
            ServiceName::Training => "training",
        }
    }
}

/// `tiejun up`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Where the SQLite files and the generated JWT secret live.
    #[arg(long, env = "TIEJUN_DATA_DIR", default_value = "./tiejun-data")]
    pub data_dir: PathBuf,
    /// The gateway's port; the services take the next three (0: any free ports).
    #[arg(long, env = "TIEJUN_PORT", default_value_t = 50051)]
    pub port: u16,
    /// The address to listen on.
    #[arg(long, env = "TIEJUN_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Load the demo data set.
    #[arg(long)]
    pub demo: bool,
    /// Browser origins the gateway allows across origins (CORS), e.g. a
    /// front end's dev server `http://localhost:5173`; none by default.
    #[arg(long = "cors-allow-origin", env = "TIEJUN_CORS_ALLOW_ORIGINS", value_delimiter = ',')]
    pub cors_allow_origins: Vec<String>,
}

impl UpArgs {
    /// The suite in `data_dir` on loopback, on any free ports, without demo
    /// data or CORS: what a test or an in-process benchmark starts.
    pub fn local(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            port: 0,
            host: std::net::Ipv4Addr::LOCALHOST.into(),
            demo: false,
            cors_allow_origins: Vec::new(),
        }
    }
}

/// `tiejun serve <component>`.
#[derive(Debug, clap::Subcommand)]
pub enum ServeTarget {
    /// The gateway.
    Gateway(GatewayArgs),
    /// lead-distribution.
    Leads(ServiceArgs),
    /// membership-billing.
    Billing(ServiceArgs),
    /// training-enrollment.
    Training(ServiceArgs),
}

/// `tiejun serve leads|billing|training`.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// Listening, limits, drain.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The JWT secret.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Background jobs.
    #[command(flatten)]
    pub jobs: JobArgs,
    /// Where this service's events go.
    #[command(flatten)]
    pub events: tiejun_platform::events::EventArgs,
    /// The organisation (headquarters).
    #[command(flatten)]
    pub organisation: tiejun_platform::config::OrganisationArgs,
    /// Where `/metrics` (Prometheus text) is served.
    #[arg(long, env = "TIEJUN_METRICS_LISTEN", default_value = "0.0.0.0:9464")]
    pub metrics_listen: std::net::SocketAddr,
}

/// `tiejun serve gateway`.
#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// Listening, limits, drain.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The JWT secret.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// lead-distribution: comma-separated `http://host:port`, or `dns://name:port`.
    #[arg(long, env = "TIEJUN_LEADS_URLS", value_delimiter = ',', required = true)]
    pub leads: Vec<String>,
    /// membership-billing: comma-separated `http://host:port`, or `dns://name:port`.
    #[arg(long, env = "TIEJUN_BILLING_URLS", value_delimiter = ',', required = true)]
    pub billing: Vec<String>,
    /// training-enrollment: comma-separated `http://host:port`, or `dns://name:port`.
    #[arg(long, env = "TIEJUN_TRAINING_URLS", value_delimiter = ',', required = true)]
    pub training: Vec<String>,
    /// Rate limits, deadlines, retries, probes.
    #[command(flatten)]
    pub tuning: tiejun_gateway::GatewayTuning,
    /// Where `/metrics` (Prometheus text) is served.
    #[arg(long, env = "TIEJUN_METRICS_LISTEN", default_value = "0.0.0.0:9464")]
    pub metrics_listen: std::net::SocketAddr,
}

/// `tiejun leads …`.
#[derive(Debug, clap::Subcommand)]
pub enum LeadsCommand {
    /// Import a spreadsheet export (CSV with a header row) into the lead pool.
    Import(ImportArgs),
}

/// `tiejun leads import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The CSV file: a header row (company_name, contact_name, phone, city;
    /// optional email, industry, source, score; or their Chinese headings),
    /// then one lead a row.
    pub file: PathBuf,
    /// The gateway (or lead-distribution itself).
    #[arg(long, env = "TIEJUN_TARGET", default_value = "http://127.0.0.1:50051")]
    pub target: String,
    /// A token with the admin or operator role. Without one, an operator
    /// token is minted from the secret (--data-dir's, TIEJUN_JWT_SECRET, or
    /// ./tiejun-data's).
    #[arg(long, env = "TIEJUN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The data directory whose secret mints the token (`tiejun up`'s).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Or the secret itself.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Where refused rows are written (default: beside FILE, `NAME.rejects.csv`).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// How the file's bytes are text.
    #[arg(long, value_enum, default_value_t = crate::import::text::TextEncoding::Auto)]
    pub encoding: crate::import::text::TextEncoding,
    /// Rows per ImportLeads call.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
}

/// `tiejun token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// Read the secret that `tiejun up` generated in this directory
    /// (default when no secret is given: ./tiejun-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Or give the secret.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// The token's subject (who the caller is).
    #[arg(long)]
    pub sub: String,
    /// A role (repeat for several).
    #[arg(long = "role", required = true)]
    pub roles: Vec<Role>,
    /// Scope: the rep the token acts as.
    #[arg(long)]
    pub rep_id: Option<String>,
    /// Scope: the billing account the token acts for.
    #[arg(long)]
    pub account_id: Option<String>,
    /// Scope: the learner the token acts as.
    #[arg(long)]
    pub learner_id: Option<String>,
    /// Scope: the one team a sales manager manages.
    #[arg(long)]
    pub team: Option<String>,
    /// Lifetime, e.g. 30m, 12h, 7d.
    #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
}

//! The service under test: at `--target`, or started in this process as
//! `tiejun serve` would.

use std::time::Instant;

use tiejun_platform::{
    auth::{JwtKeys, Role, TokenSpec},
    clock,
    config::{DatabaseArgs, JobArgs, ServerArgs, ServiceSettings},
    db::Backend,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};

use super::Target;

/// Which service to measure.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    /// lead-distribution.
    Leads,
    /// training-enrollment.
    Training,
    /// membership-billing.
    Billing,
}

/// `message` with a bearer token.
pub fn authed<T>(message: T, token: &str) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

/// The service under test.
pub struct Service {
    /// A channel to it.
    pub channel: Channel,
    /// Where it listens (in this process; None at a --target).
    pub addr: Option<std::net::SocketAddr>,
    keys: JwtKeys,
    /// `sqlite`, `postgres`, or `remote` at a --target.
    pub backend: &'static str,
    /// Added to the ids a scenario seeds: empty on a fresh database started
    /// here, unique to the run at a --target, whose database may hold an
    /// earlier run's rows.
    pub run: String,
    /// Where this run's phone numbers start, for the same reason.
    pub phone_base: u64,
    local: Option<(CancellationToken, tokio::task::JoinHandle<anyhow::Result<()>>)>,
    _dir: Option<tempfile::TempDir>,
}

impl Service {
    /// Connects to `target.endpoint`, or starts `which` on `target`'s
    /// database and waits until it is ready.
    pub async fn start(target: &Target, which: Which) -> anyhow::Result<Self> {
        if let Some(endpoint) = &target.endpoint {
            return Ok(Self {
                channel: Target::channel_to(endpoint).await?,
                addr: None,
                keys: target.target_keys()?,
                backend: "remote",
                run: format!("_{}", super::drive::run_suffix()),
                phone_base: rand::random_range(0..90_000_000),
                local: None,
                _dir: None,
            });
        }
        let (url, dir) = match &target.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let dir = match &target.work_dir {
                    Some(parent) => tempfile::tempdir_in(parent)?,
                    None => tempfile::tempdir()?,
                };
                (format!("sqlite://{}", dir.path().join("bench.db").display()), Some(dir))
            }
        };
        let backend = Backend::of_url(&url)?;
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
        let keys = JwtKeys::from_secret(hex::encode(secret).as_bytes())?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // The pool as `tiejun serve` sizes it by default: on two cores, 60
        // connections measured 60 backends contending (flat-out claims
        // 2,166-2,706/s against 3,396-3,906/s with 8-16).
        let database = DatabaseArgs::for_url(url);
        let settings = ServiceSettings {
            server: ServerArgs::listening_on(addr),
            database,
            keys: keys.clone(),
            clock: clock::system(),
            jobs: JobArgs::disabled(),
            events: tiejun_platform::events::EventArgs::none(),
            organisation: Default::default(),
        };
        let stop = CancellationToken::new();
        let task = match which {
            Which::Leads => tokio::spawn(tiejun_leads::run(settings, listener, stop.clone())),
            Which::Training => tokio::spawn(tiejun_training::run(settings, listener, stop.clone())),
            Which::Billing => tokio::spawn(tiejun_billing::run(settings, listener, stop.clone())),
        };
        let started = Instant::now();
        while !crate::suite::is_serving(addr).await {
            anyhow::ensure!(started.elapsed().as_secs() < 60, "the service did not become ready");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let channel = Channel::from_shared(format!("http://{addr}"))?.connect().await?;
        Ok(Self {
            channel,
            addr: Some(addr),
            keys,
            backend: backend.as_str(),
            run: String::new(),
            phone_base: 0,
            local: Some((stop, task)),
            _dir: dir,
        })
    }

    /// The keys its tokens are signed with.
    pub fn keys(&self) -> &JwtKeys {
        &self.keys
    }

    /// A token for `roles`, scoped to `rep` if given.
    pub fn token(&self, roles: &[Role], rep: Option<&str>) -> anyhow::Result<String> {
        let mut spec = TokenSpec::new("bench", roles, std::time::Duration::from_secs(3600));
        spec.rep_id = rep.map(str::to_owned);
        self.keys.mint(&spec)
    }

    /// Drains and stops the service if it runs here.
    pub async fn stop(self) -> anyhow::Result<()> {
        if let Some((stop, task)) = self.local {
            stop.cancel();
            task.await??;
        }
        Ok(())
    }
}

//! The three services wired by events, each on its own database of one
//! backend, behind a gateway, on one manual clock: the customer journey end
//! to end. Services can be stopped and restarted on their address.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tiejun_gateway::{BackendSpec, SystemResolver};
use tiejun_platform::{
    clock::ManualClock,
    config::{DatabaseArgs, JobArgs, ServerArgs, ServiceSettings},
    events::EventArgs,
    testing::TestDatabase,
};
use tokio::net::TcpListener;
use tonic::transport::Channel;

use crate::{Running, Svc, keys, leads::monday_morning, spawn_on, wait_serving};

/// Event delivery tuned for tests: quick rounds, quick retries, few attempts.
pub fn fast_events() -> EventArgs {
    EventArgs {
        relay_interval: Duration::from_millis(50),
        event_retry_min: Duration::from_millis(50),
        event_retry_max: Duration::from_millis(200),
        event_max_attempts: 4,
        ..EventArgs::none()
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct Connected {
    /// The gateway in front of the three.
    pub gateway: Running,
    /// The clock every service reads.
    pub clock: ManualClock,
    /// Leads, billing, training (in [`Svc::ALL`] order); `None` while stopped.
    servers: Vec<Option<Running>>,
    addrs: Vec<SocketAddr>,
    dbs: Vec<TestDatabase>,
    events: EventArgs,
}

fn index(svc: Svc) -> usize {
    Svc::ALL
        .iter()
        .position(|s| *s == svc)
        .expect("every service is in ALL")
}

impl Connected {
    /// Starts the suite on `first` and two more databases of its backend.
    pub async fn start(first: TestDatabase) -> Self {
        Self::start_with(first, fast_events()).await
    }

    /// Like [`Connected::start`], with event delivery settings `events`
    /// (their `events_to` is filled in).
    pub async fn start_with(first: TestDatabase, mut events: EventArgs) -> Self {
        let backend = first.backend;
        let mut dbs = vec![first];
        for _ in 1..3 {
            dbs.push(
                TestDatabase::of(backend)
                    .await
                    .expect("the first database's backend is available"),
            );
        }
        let mut listeners = Vec::new();
        for _ in Svc::ALL {
            listeners.push(TcpListener::bind("127.0.0.1:0").await.expect("bind"));
        }
        let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().expect("addr")).collect();
        events.events_to = Svc::ALL
            .iter()
            .zip(&addrs)
            .map(|(svc, addr)| format!("{}=http://{addr}", name(*svc)))
            .collect();
        let clock = ManualClock::new(monday_morning());
        let servers: Vec<Option<Running>> = Svc::ALL
            .into_iter()
            .zip(listeners)
            .map(|(svc, listener)| Some(spawn(svc, listener, &dbs[index(svc)].url, &clock, &events)))
            .collect();
        for addr in &addrs {
            assert!(
                wait_serving(*addr, Duration::from_secs(30)).await,
                "{addr} never SERVING"
            );
        }
        let backends = Svc::ALL
            .iter()
            .zip(&addrs)
            .map(|(svc, addr)| BackendSpec::parse(package(*svc), &[format!("http://{addr}")]).expect("endpoint"))
            .collect();
        let gateway = crate::gateway::start(
            backends,
            crate::gateway::fast_tuning(),
            Arc::new(SystemResolver),
            |_| {},
        )
        .await;
        assert!(wait_serving(gateway.addr, Duration::from_secs(30)).await);
        Self {
            gateway,
            clock,
            servers,
            addrs,
            dbs,
            events,
        }
    }

    /// A channel to the gateway.
    pub async fn channel(&self) -> Channel {
        self.gateway.channel().await
    }

    /// Where `svc` listens.
    pub fn addr(&self, svc: Svc) -> SocketAddr {
        self.addrs[index(svc)]
    }

    /// A channel to `svc` directly.
    pub async fn direct(&self, svc: Svc) -> Channel {
        crate::channel(self.addrs[index(svc)]).await
    }

    /// The database URL of `svc`.
    pub fn database_url(&self, svc: Svc) -> &str {
        &self.dbs[index(svc)].url
    }

    /// Stops `svc` (graceful, as on SIGTERM) and waits until it is down.
    pub async fn stop(&mut self, svc: Svc) {
        if let Some(running) = self.servers[index(svc)].take() {
            running.shutdown.cancel();
            running.join().await.expect("stopped cleanly");
        }
    }

    /// Starts `svc` again on its address and waits until it is SERVING.
    pub async fn restart(&mut self, svc: Svc) {
        let addr = self.addrs[index(svc)];
        let listener = TcpListener::bind(addr).await.expect("rebinding the same address");
        let running = spawn(svc, listener, &self.dbs[index(svc)].url, &self.clock, &self.events);
        self.servers[index(svc)] = Some(running);
        assert!(
            wait_serving(addr, Duration::from_secs(30)).await,
            "{svc:?} never SERVING again"
        );
    }
}

fn spawn(svc: Svc, listener: TcpListener, url: &str, clock: &ManualClock, events: &EventArgs) -> Running {
    let addr = listener.local_addr().expect("addr");
    let settings = ServiceSettings {
        server: ServerArgs::listening_on(addr),
        database: DatabaseArgs::for_url(url),
        keys: keys(),
        clock: Arc::new(clock.clone()),
        jobs: JobArgs::disabled(),
        events: events.clone(),
        organisation: Default::default(),
    };
    spawn_on(svc, settings, listener)
}

fn name(svc: Svc) -> &'static str {
    match svc {
        Svc::Leads => "leads",
        Svc::Billing => "billing",
        Svc::Training => "training",
    }
}

fn package(svc: Svc) -> &'static str {
    match svc {
        Svc::Leads => "tiejun.leads.v1",
        Svc::Billing => "tiejun.billing.v1",
        Svc::Training => "tiejun.training.v1",
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for up to `within`.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The employee onboarding programme (one track), created through the gateway.
pub async fn onboarding_programme(suite: &Connected) {
    let program = tiejun_proto::training::v1::Program {
        program_id: "employee_onboarding".into(),
        name: "Onboarding".into(),
        audience: tiejun_proto::training::v1::Audience::Employee as i32,
        mandatory: true,
        tracks: vec![tiejun_proto::training::v1::Track::CultureValues as i32],
        employee_onboarding: true,
        ..Default::default()
    };
    tiejun_proto::training::v1::program_service_client::ProgramServiceClient::new(suite.channel().await)
        .create_program(crate::authed(
            tiejun_proto::training::v1::CreateProgramRequest { program: Some(program) },
            &crate::training::trainer(),
        ))
        .await
        .expect("programme");
}

/// A count from the database at `url`.
pub async fn count(url: &str, sql: &'static str) -> i64 {
    let db = tiejun_platform::db::Database::connect(url, &tiejun_platform::db::PoolSettings::default())
        .await
        .expect("connect");
    let n = tiejun_platform::on_pool_raw!(&db, |p| sqlx::query_scalar(sql).fetch_one(p).await.expect("count"));
    db.close().await;
    n
}

/// Waits until training has applied `n` RepHired events, then checks each
/// was applied exactly once.
pub async fn applied_once(suite: &Connected, n: i64) {
    let url = suite.database_url(Svc::Training).to_owned();
    let seen = eventually(Duration::from_secs(20), || {
        let url = url.clone();
        async move {
            let done = count(&url, "SELECT count(*) FROM assignments WHERE source = 'REP_HIRED'").await;
            (done >= n).then_some(done)
        }
    })
    .await;
    assert_eq!(seen, Some(n), "every event applied");
    assert_eq!(count(&url, "SELECT count(*) FROM inbox").await, n, "and recorded once");
    // The consumer commits before the producer's relay hears back and marks
    // the event delivered: the outbox empties a moment after the effect.
    let outbox =
        tiejun_proto::leads::v1::outbox_service_client::OutboxServiceClient::new(suite.direct(Svc::Leads).await);
    let ask = || {
        let mut outbox = outbox.clone();
        async move {
            outbox
                .get_outbox_status(crate::authed(
                    tiejun_proto::leads::v1::GetOutboxStatusRequest {},
                    &crate::token(&[tiejun_platform::auth::Role::Admin]),
                ))
                .await
                .expect("status")
                .into_inner()
                .status
                .expect("status")
        }
    };
    let drained = eventually(Duration::from_secs(10), || {
        let status = ask();
        async move {
            let status = status.await;
            ((status.pending, status.parked) == (0, 0)).then_some(status)
        }
    })
    .await;
    if drained.is_none() {
        panic!("the outbox does not drain: {:?}", ask().await);
    }
}

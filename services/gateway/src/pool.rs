//! One backend's endpoints and the choice among them, made per request:
//! power of two choices on calls in flight, skipping endpoints that are down.
//!
//! Each endpoint has its own HTTP/2 connection, so balancing per request
//! spreads calls over every pod instead of pinning a client's connection to
//! one of them. Every gateway worker has pools of its own (`crate::worker`),
//! so its calls, counts and ejections are that worker's.

use std::{
    sync::{
        Arc, RwLock,
        atomic::{AtomicU8, AtomicUsize, Ordering},
    },
    time::Duration,
};

use http::Uri;
use rand::Rng as _;
use tonic::transport::{Channel, Endpoint as TonicEndpoint};

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// How the gateway connects to an endpoint.
#[derive(Debug, Clone, Copy)]
pub struct ConnectSettings {
    /// The longest a TCP connect may take before the endpoint counts as down.
    pub connect_timeout: Duration,
}

/// One address of a backend.
#[derive(Debug)]
pub struct Endpoint {
    uri: Uri,
    channel: Channel,
    /// A connection of its own for health probes: when callers fill the
    /// data connection's streams (a backend allows 256 each), a probe
    /// waiting behind them would eject a healthy endpoint.
    probes: Channel,
    in_flight: AtomicUsize,
    state: AtomicU8,
}

impl Endpoint {
    fn new(uri: Uri, settings: ConnectSettings) -> Self {
        let connection = || {
            TonicEndpoint::from(uri.clone())
                .connect_timeout(settings.connect_timeout)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_timeout(Duration::from_secs(10))
                .connect_lazy()
        };
        let (channel, probes) = (connection(), connection());
        Self {
            uri,
            channel,
            probes,
            in_flight: AtomicUsize::new(0),
            state: AtomicU8::new(UNKNOWN),
        }
    }

    /// Its address.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// A handle on its connection.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A handle on the connection its health probes use.
    pub fn probe_channel(&self) -> Channel {
        self.probes.clone()
    }

    /// Calls sent to it and not finished (streams count until they end).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// True once a health probe said SERVING, until something says otherwise.
    pub fn is_up(&self) -> bool {
        self.state.load(Ordering::Relaxed) == UP
    }

    /// Records what a probe or a failed call found; returns true when this
    /// changes the endpoint's state.
    pub fn mark(&self, up: bool) -> bool {
        let new = if up { UP } else { DOWN };
        self.state.swap(new, Ordering::Relaxed) != new
    }

    /// Counts a call until the returned guard is dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    fn eligible(&self) -> bool {
        self.state.load(Ordering::Relaxed) != DOWN
    }
}

/// A call in flight on an endpoint; dropping it ends the count.
#[derive(Debug)]
pub struct InFlight(Arc<Endpoint>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The endpoints of one backend.
#[derive(Debug)]
pub struct Pool {
    package: String,
    connect: ConnectSettings,
    endpoints: RwLock<Arc<[Arc<Endpoint>]>>,
}

impl Pool {
    /// A pool for `package`, starting with `uris`.
    pub fn new(package: &str, uris: &[Uri], connect: ConnectSettings) -> Self {
        let pool = Self {
            package: package.to_owned(),
            connect,
            endpoints: RwLock::new(Arc::from(Vec::new())),
        };
        pool.set_endpoints(uris);
        pool
    }

    /// The proto package this pool serves.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The current endpoints.
    pub fn endpoints(&self) -> Arc<[Arc<Endpoint>]> {
        self.endpoints.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the endpoint set, keeping the connection and state of every
    /// address still present. Calls in flight on a removed endpoint finish on
    /// their own connection. Returns true when the set changed.
    pub fn set_endpoints(&self, uris: &[Uri]) -> bool {
        let current = self.endpoints();
        let same = current.len() == uris.len() && uris.iter().all(|u| current.iter().any(|e| e.uri == *u));
        if same {
            return false;
        }
        let next: Vec<Arc<Endpoint>> = uris
            .iter()
            .map(|uri| {
                current
                    .iter()
                    .find(|e| e.uri == *uri)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Endpoint::new(uri.clone(), self.connect)))
            })
            .collect();
        *self.endpoints.write().unwrap_or_else(|e| e.into_inner()) = Arc::from(next);
        true
    }

    /// True while at least one endpoint answered its last probe SERVING.
    pub fn any_up(&self) -> bool {
        self.endpoints().iter().any(|e| e.is_up())
    }

    /// The endpoint for the next call: of two picked at random, the one with
    /// fewer calls in flight; endpoints known to be down are skipped. `None`
    /// when every endpoint is down.
    pub fn pick(&self) -> Option<Arc<Endpoint>> {
        let endpoints = self.endpoints();
        let n = endpoints.len();
        if n == 0 {
            return None;
        }
        let mut rng = rand::rng();
        let a = rng.random_range(0..n);
        let b = if n > 1 { (a + rng.random_range(1..n)) % n } else { a };
        let (ea, eb) = (&endpoints[a], &endpoints[b]);
        match (ea.eligible(), eb.eligible()) {
            (true, true) if eb.in_flight() < ea.in_flight() => Some(eb.clone()),
            (true, _) => Some(ea.clone()),
            (false, true) => Some(eb.clone()),
            (false, false) => endpoints
                .iter()
                .filter(|e| e.eligible())
                .min_by_key(|e| e.in_flight())
                // Every endpoint ejected: a probe that timed out on a busy
                // machine ejects a healthy one, so try the least loaded
                // anyway. A dead endpoint refuses the connection at once
                // (UNAVAILABLE, as before); a live one answers.
                .or_else(|| endpoints.iter().min_by_key(|e| e.in_flight()))
                .cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: u16) -> Pool {
        let uris: Vec<Uri> = (0..n)
            .map(|i| format!("http://127.0.0.1:{}", 40_000 + i).parse().expect("uri"))
            .collect();
        Pool::new(
            "tiejun.bench.v1",
            &uris,
            ConnectSettings {
                connect_timeout: Duration::from_secs(1),
            },
        )
    }

    #[tokio::test]
    async fn picks_spread_evenly_and_prefer_the_less_loaded() {
        let pool = pool(3);
        let mut counts = [0usize; 3];
        for _ in 0..3000 {
            let e = pool.pick().expect("an endpoint");
            let i = pool
                .endpoints()
                .iter()
                .position(|x| Arc::ptr_eq(x, &e))
                .expect("member");
            counts[i] += 1;
        }
        assert!(counts.iter().all(|c| (850..=1150).contains(c)), "{counts:?}");

        // Two of three busy: the idle one wins every pick that sees it.
        let endpoints = pool.endpoints();
        let _busy: Vec<_> = (0..5)
            .flat_map(|_| [endpoints[0].start(), endpoints[1].start()])
            .collect();
        let idle = (0..300)
            .filter(|_| Arc::ptr_eq(&pool.pick().expect("endpoint"), &endpoints[2]))
            .count();
        assert!(idle >= 150, "the idle endpoint got {idle} of 300 (expected about 200)");
    }

    #[tokio::test]
    async fn endpoints_marked_down_are_skipped_until_marked_up() {
        let pool = pool(2);
        let endpoints = pool.endpoints();
        assert!(endpoints[0].mark(false));
        for _ in 0..100 {
            assert!(Arc::ptr_eq(&pool.pick().expect("endpoint"), &endpoints[1]));
        }
        endpoints[1].mark(false);
        let _busy = endpoints[1].start();
        assert!(
            Arc::ptr_eq(
                &pool.pick().expect("every endpoint down: still one to try"),
                &endpoints[0]
            ),
            "the least loaded of the ejected"
        );
        assert!(!pool.any_up());
        endpoints[0].mark(true);
        assert!(pool.any_up());
        assert!(Arc::ptr_eq(&pool.pick().expect("endpoint"), &endpoints[0]));
    }

    #[tokio::test]
    async fn a_new_endpoint_set_keeps_the_endpoints_still_present() {
        let pool = pool(2);
        let before = pool.endpoints();
        before[1].mark(true);
        let kept = before[1].uri().clone();
        let added: Uri = "http://127.0.0.1:41000".parse().expect("uri");
        assert!(pool.set_endpoints(&[kept.clone(), added.clone()]));
        let after = pool.endpoints();
        assert!(Arc::ptr_eq(&after[0], &before[1]), "state and connection kept");
        assert_eq!(after[1].uri(), &added);
        assert!(!pool.set_endpoints(&[added, kept]), "same set in another order");
    }
}

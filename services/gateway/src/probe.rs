//! Keeps a backend's endpoints current: re-resolves a `dns://` target and
//! asks every endpoint's grpc.health.v1 whether it is SERVING. An endpoint
//! that fails a probe (or a call, see `forward`) is ejected; the next probe
//! that finds it SERVING brings it back. The result feeds the gateway's own
//! health ([`Statuses`]): a backend is up for a worker while one of its
//! endpoints is, and up for the process while it is up for every worker.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::{
    pool::{Endpoint, Pool},
    target::{SharedResolver, Target, uri_of},
};

/// How often endpoints are probed and names re-resolved.
#[derive(Debug, Clone, Copy)]
pub struct ProbeSettings {
    /// Between two health probes of every endpoint.
    pub probe_interval: Duration,
    /// Between two lookups of a `dns://` name.
    pub dns_refresh: Duration,
}

/// The health the gateway process reports, by service name, whichever
/// worker a caller's connection is dealt to: a name is up while every
/// worker has a healthy endpoint for its backend, so SERVING means that any
/// worker can route the call. Each worker probes on its own, so for one
/// probe interval their views may differ; the process then says NOT_SERVING.
/// Every name starts down, so `""` is not SERVING before every worker has
/// found every backend up.
#[derive(Debug)]
pub struct Statuses {
    /// Each worker's view, by name.
    workers: Mutex<Vec<BTreeMap<String, bool>>>,
    /// The process's view, which every worker's health server follows.
    process: watch::Sender<BTreeMap<String, bool>>,
}

impl Statuses {
    /// `names` down for each of `workers`.
    pub fn new(workers: usize, names: &[String]) -> Self {
        let down: BTreeMap<String, bool> = names.iter().map(|name| (name.clone(), false)).collect();
        Self {
            workers: Mutex::new(vec![down.clone(); workers]),
            process: watch::channel(down).0,
        }
    }

    /// The process's view, changing as the workers report.
    pub fn watch(&self) -> watch::Receiver<BTreeMap<String, bool>> {
        self.process.subscribe()
    }

    /// Records what worker `worker` found for `names`.
    fn report(&self, worker: usize, names: &[String], up: bool) {
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        for name in names {
            workers[worker].insert(name.clone(), up);
        }
        self.process.send_if_modified(|process| {
            let mut changed = false;
            for name in names {
                let up = workers.iter().all(|view| view.get(name) == Some(&true));
                changed |= process.insert(name.clone(), up) != Some(up);
            }
            changed
        });
    }
}

/// One worker's report on one backend: its package and services.
#[derive(Debug, Clone)]
pub struct Report {
    /// Where it goes.
    pub statuses: Arc<Statuses>,
    /// The worker reporting.
    pub worker: usize,
    /// The names it covers.
    pub names: Vec<String>,
}

/// Watches one backend until `shutdown`: `report`'s names are up for this
/// worker while any endpoint is.
pub async fn watch_backend(
    pool: Arc<Pool>,
    target: Target,
    resolver: SharedResolver,
    settings: ProbeSettings,
    report: Report,
    shutdown: CancellationToken,
) {
    let mut next_lookup = tokio::time::Instant::now();
    loop {
        if let Target::Dns { host, port } = &target
            && tokio::time::Instant::now() >= next_lookup
        {
            resolve(&pool, resolver.as_ref(), host, *port).await;
            next_lookup = tokio::time::Instant::now() + settings.dns_refresh;
        }
        // A probe answers in well under a millisecond on an idle machine;
        // the floor keeps a busy one (two cores, a thousand streams opening)
        // from ejecting a healthy endpoint.
        let timeout = settings
            .probe_interval
            .clamp(Duration::from_millis(500), Duration::from_secs(2));
        let endpoints = pool.endpoints();
        futures::future::join_all(endpoints.iter().map(|e| probe(pool.package(), e, timeout))).await;
        report.statuses.report(report.worker, &report.names, pool.any_up());
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(settings.probe_interval) => {}
        }
    }
}

async fn resolve(pool: &Pool, resolver: &dyn crate::target::Resolve, host: &str, port: u16) {
    match resolver.resolve(host, port).await {
        Ok(addrs) if !addrs.is_empty() => {
            let mut uris: Vec<_> = addrs.into_iter().map(uri_of).collect();
            uris.sort_by_key(ToString::to_string);
            uris.dedup();
            if pool.set_endpoints(&uris) {
                tracing::info!(backend = pool.package(), %host, endpoints = uris.len(), "endpoints changed");
            }
        }
        // Keep the last known endpoints: a resolver hiccup must not empty a backend.
        Ok(_) => tracing::warn!(backend = pool.package(), %host, "name resolved to no address; keeping the last set"),
        Err(err) => {
            tracing::warn!(backend = pool.package(), %host, error = %err, "lookup failed; keeping the last set")
        }
    }
}

async fn probe(package: &str, endpoint: &Arc<Endpoint>, timeout: Duration) {
    let mut client = HealthClient::new(endpoint.probe_channel());
    let request = HealthCheckRequest { service: String::new() };
    let up = matches!(
        tokio::time::timeout(timeout, client.check(request)).await,
        Ok(Ok(response)) if response.get_ref().status() == ServingStatus::Serving
    );
    if endpoint.mark(up) {
        if up {
            tracing::info!(backend = package, endpoint = %endpoint.uri(), "endpoint up");
        } else {
            tracing::warn!(backend = package, endpoint = %endpoint.uri(), "endpoint down; ejected");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_name_is_up_for_the_process_once_every_worker_found_it_up() {
        let all = names(&["a", "a.S", "b"]);
        let statuses = Statuses::new(2, &all);
        let view = statuses.watch();
        assert!(
            view.borrow().values().all(|up| !up),
            "every name starts down: {:?}",
            *view.borrow()
        );
        assert_eq!(view.borrow().len(), 3, "every name is known from the start");

        statuses.report(0, &names(&["a", "a.S"]), true);
        assert_eq!(view.borrow().get("a"), Some(&false), "one worker of two");
        statuses.report(1, &names(&["a", "a.S"]), true);
        assert_eq!(view.borrow().get("a"), Some(&true));
        assert_eq!(view.borrow().get("a.S"), Some(&true));
        assert_eq!(view.borrow().get("b"), Some(&false), "never reported up");

        statuses.report(1, &names(&["a", "a.S"]), false);
        assert_eq!(
            view.borrow().get("a"),
            Some(&false),
            "down as soon as one worker finds it down"
        );
    }
}

//! Keeps a backend's endpoints current: re-resolves a `dns://` target and
//! asks every endpoint's grpc.health.v1 whether it is SERVING. An endpoint
//! that fails a probe (or a call, see `forward`) is ejected; the next probe
//! that finds it SERVING brings it back. The result feeds the gateway's own
//! health: a backend is up while one of its endpoints is.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

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

/// Health statuses the gateway reports, by service name.
pub type Statuses = watch::Sender<BTreeMap<String, bool>>;

/// Watches one backend until `shutdown`: `names` (its package and services)
/// are reported up in `statuses` while any endpoint is.
pub async fn watch_backend(
    pool: Arc<Pool>,
    target: Target,
    resolver: SharedResolver,
    settings: ProbeSettings,
    statuses: Statuses,
    names: Vec<String>,
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
        let up = pool.any_up();
        statuses.send_if_modified(|map| {
            let mut changed = false;
            for name in &names {
                changed |= map.insert(name.clone(), up) != Some(up);
            }
            changed
        });
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

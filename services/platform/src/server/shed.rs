//! Limits on calls in progress, answered at once with RESOURCE_EXHAUSTED
//! and a `RetryInfo` delay instead of queueing (load shedding):
//!
//! - [`Shed`]: the whole process (`--concurrency-limit`); health checks
//!   are never shed, so a probe answers however busy the server is;
//! - [`ShareOfCalls`]: one caller (a token's subject) holds at most a share of
//!   that, so one token cannot take every place while others wait.
//!
//! A place is held until the handler returns its response head, which for a
//! unary call is the whole call, and for any call includes waiting for its
//! request (bounded by the call's deadline, `crate::deadline`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::Request;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    auth::Principal,
    error::Error,
    layer::{AroundLayer, Gate, Gated, gate},
};

/// One caller (a token's subject) may hold at most this fraction of the
/// calls in progress (`--concurrency-limit`); one connection at most
/// `--max-concurrent-streams` of them.
const SHARE_OF_CALLS: usize = 4;

/// How long a shed client is told to wait.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// True for the health service's paths, which are never shed.
fn is_health(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
}

fn shed(message: String) -> tonic::Status {
    Error::ResourceExhausted {
        message,
        retry_after: RETRY_AFTER,
    }
    .into()
}

/// Both limits of one process, made once: a server's own, or shared by
/// every worker of the gateway so that `--concurrency-limit` stays the
/// process's however many threads accept its calls.
#[derive(Debug, Clone)]
pub struct CallLimits {
    pub(super) shed: AroundLayer<Gated<Shed>>,
    pub(super) share: AroundLayer<Gated<ShareOfCalls>>,
}

impl CallLimits {
    /// At most `concurrency_limit` calls at once in the process, a quarter
    /// of them per caller.
    pub fn new(concurrency_limit: usize) -> Self {
        Self {
            shed: gate(Shed::new(concurrency_limit)),
            share: gate(ShareOfCalls::new(concurrency_limit / SHARE_OF_CALLS)),
        }
    }
}

/// The process-wide limit (see the module documentation).
#[derive(Debug, Clone)]
pub struct Shed {
    permits: Arc<Semaphore>,
}

impl Shed {
    /// At most `limit` calls at once in this process.
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit.max(1))),
        }
    }
}

impl Gate for Shed {
    type Held = Option<OwnedSemaphorePermit>;

    fn admit<B>(&self, req: &mut Request<B>) -> Result<Self::Held, tonic::Status> {
        if is_health(req.uri().path()) {
            return Ok(None);
        }
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => Err(shed("server overloaded; retry later".into())),
        }
    }
}

/// The per-caller limit (see the module documentation).
#[derive(Debug, Clone)]
pub struct ShareOfCalls {
    share: Arc<Share>,
}

/// Places in use per caller.
#[derive(Debug)]
struct Share {
    limit: usize,
    held: Mutex<HashMap<String, usize>>,
}

impl ShareOfCalls {
    /// At most `limit` calls at once per caller.
    pub fn new(limit: usize) -> Self {
        Self {
            share: Arc::new(Share {
                limit: limit.max(1),
                held: Mutex::default(),
            }),
        }
    }
}

/// One place of one caller, given back when dropped.
pub struct Place {
    share: Arc<Share>,
    caller: String,
}

impl Share {
    fn take(self: &Arc<Self>, caller: &str) -> Option<Place> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = held.entry(caller.to_owned()).or_default();
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Place {
            share: self.clone(),
            caller: caller.to_owned(),
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut held = self
            .share
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.caller) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.caller);
            }
        }
    }
}

impl Gate for ShareOfCalls {
    type Held = Option<Place>;

    fn admit<B>(&self, req: &mut Request<B>) -> Result<Self::Held, tonic::Status> {
        // Health and reflection carry no principal: they are not a caller's.
        let Some(principal) = req.extensions().get::<Principal>() else {
            return Ok(None);
        };
        match self.share.take(&principal.subject) {
            Some(place) => Ok(Some(place)),
            None => Err(shed(format!(
                "{} has {} calls in progress, its most at once; retry later",
                crate::error::clip_for_echo(&principal.subject),
                self.share.limit
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_holds_at_most_its_share_and_gets_places_back() {
        let share = ShareOfCalls::new(2).share;
        let (a, b) = (share.take("a"), share.take("a"));
        assert!(a.is_some() && b.is_some());
        assert!(share.take("a").is_none(), "a third place for a");
        assert!(share.take("b").is_some(), "another caller is not held up");
        drop(a);
        assert!(share.take("a").is_some(), "a place comes back");
    }
}

//! The entitlement cache: CheckEntitlement is the hot path other services
//! call. Answers are kept per (account, feature) for at most one second and
//! never past the entitlement's own end; every billing write that can change
//! an answer clears the cache on this replica, so a replica answers from
//! fresh data at once and other replicas within a second.

use std::time::Duration;

use moka::sync::Cache;
use tiejun_proto::billing::v1::CheckEntitlementResponse;

/// How long an answer may be reused (the cross-replica staleness bound).
const TTL: Duration = Duration::from_secs(1);

/// Cached answers, by account and feature.
#[derive(Clone)]
pub struct EntitlementCache(Cache<(String, String), CheckEntitlementResponse>);

impl std::fmt::Debug for EntitlementCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntitlementCache")
            .field("entries", &self.0.entry_count())
            .finish()
    }
}

impl Default for EntitlementCache {
    fn default() -> Self {
        Self(Cache::builder().max_capacity(200_000).time_to_live(TTL).build())
    }
}

impl EntitlementCache {
    /// A cached answer still valid at `now_seconds`.
    pub fn get(&self, account: &str, feature: &str, now_seconds: i64) -> Option<CheckEntitlementResponse> {
        let key = (account.to_owned(), feature.to_owned());
        self.0
            .get(&key)
            .filter(|r| r.valid_until.as_ref().is_none_or(|until| until.seconds > now_seconds))
    }

    /// Keeps an answer.
    pub fn put(&self, account: &str, feature: &str, answer: CheckEntitlementResponse) {
        self.0.insert((account.to_owned(), feature.to_owned()), answer);
    }

    /// Forgets everything (after a write that can change an answer).
    pub fn clear(&self) {
        self.0.invalidate_all();
    }
}

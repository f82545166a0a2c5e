//! The domain counters of lead-distribution (beside the RPC metrics every
//! server records): leads assigned by rule, reclaimed, converted.

use std::sync::LazyLock;

use opentelemetry::{KeyValue, metrics::Counter};
use tiejun_platform::metrics::domain_counter;

static ASSIGNED: LazyLock<Counter<u64>> = LazyLock::new(|| {
    domain_counter(
        "leads",
        "tiejun.leads.assigned",
        "{lead}",
        "Leads handed to a rep, by rule",
    )
});
static RECLAIMED: LazyLock<Counter<u64>> = LazyLock::new(|| {
    domain_counter(
        "leads",
        "tiejun.leads.reclaimed",
        "{lead}",
        "Leads taken back at a deadline",
    )
});
static CONVERTED: LazyLock<Counter<u64>> = LazyLock::new(|| {
    domain_counter(
        "leads",
        "tiejun.leads.converted",
        "{lead}",
        "Leads converted to customers",
    )
});

/// `n` leads assigned by `rule` (DISTRIBUTION, SELF_CLAIM…).
pub(crate) fn assigned(n: i32, rule: &'static str) {
    ASSIGNED.add(u64::try_from(n).unwrap_or(0), &[KeyValue::new("rule", rule)]);
}

/// `n` leads reclaimed by the deadline sweep.
pub(crate) fn reclaimed(n: i32) {
    RECLAIMED.add(u64::try_from(n).unwrap_or(0), &[]);
}

/// One lead converted.
pub(crate) fn converted() {
    CONVERTED.add(1, &[]);
}

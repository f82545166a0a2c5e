//! The renewal counter of membership-billing (beside the RPC metrics every
//! server records, and the entitlement checks): what each renewal cycle did,
//! counted after its commit, whether the job or `RunRenewalCycle` ran it.

use std::sync::LazyLock;

use opentelemetry::{KeyValue, metrics::Counter};
use tiejun_platform::metrics::domain_counter;

use crate::domain::renewal::CycleOutcome;

static RENEWALS: LazyLock<Counter<u64>> = LazyLock::new(|| {
    domain_counter(
        "billing",
        "tiejun.billing.renewals",
        "{subscription}",
        "Renewal cycle outcomes: notices issued, renewed, past due, expired, canceled",
    )
});

/// Counts one committed cycle's outcome.
pub(crate) fn renewal_cycle(out: &CycleOutcome) {
    for (outcome, n) in [
        ("notice", out.notices),
        ("renewed", out.renewed),
        ("past_due", out.past_due),
        ("expired", out.expired),
        ("canceled", out.canceled),
    ] {
        if let Ok(n @ 1..) = u64::try_from(n) {
            RENEWALS.add(n, &[KeyValue::new("outcome", outcome)]);
        }
    }
}

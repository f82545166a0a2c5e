//! The background job: the renewal cycle on every tick (notices 45 days
//! ahead, period ends, grace ends). Replicas sharing a PostgreSQL database
//! take turns on the cycle's job lock.

use tiejun_platform::{config::JobArgs, shutdown::every};
use tokio_util::sync::CancellationToken;

use crate::{domain::renewal::CycleOutcome, grpc::Billing};

/// Runs the renewal cycle every `args.interval` until `shutdown`.
pub async fn run(billing: Billing, args: JobArgs, shutdown: CancellationToken) {
    if !args.enabled {
        return;
    }
    let billing = &billing;
    every(args.interval, &shutdown, || async move {
        match billing.renewal_cycle().await {
            Ok(out) if out != CycleOutcome::default() => {
                tracing::info!(
                    notices = out.notices,
                    renewed = out.renewed,
                    past_due = out.past_due,
                    expired = out.expired,
                    "renewal cycle"
                );
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "renewal cycle failed; retrying next tick"),
        }
    })
    .await;
}

//! The renewal cycle (notices 45 days ahead, period ends, grace ends), as
//! the RPC and the background job run it: one transaction, its counts
//! recorded as metrics.

use chrono::{DateTime, Utc};
use tiejun_platform::{db::Database, error::Error};

use crate::store::renewals::{self, CycleOutcome};

/// Runs one cycle at `now`.
pub async fn cycle(db: &Database, now: DateTime<Utc>) -> Result<CycleOutcome, Error> {
    let mut tx = db.begin().await?;
    let out = renewals::run_cycle(&mut tx, now).await?;
    tx.commit().await?;
    crate::metrics::renewal_cycle(&out);
    Ok(out)
}

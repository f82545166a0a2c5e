//! The background jobs: the daily distribution at 08:00 business time (once
//! a day: the first tick after 08:00 with no scheduled run yet) and the
//! deadline sweep on every tick. Replicas sharing a PostgreSQL database take
//! turns on a job lock, so each runs on one replica at a time.

use chrono::{NaiveTime, Timelike as _};
use tiejun_platform::{
    clock::{self, DEFAULT_ZONE},
    config::JobArgs,
    error::Error,
};
use tokio_util::sync::CancellationToken;

use crate::{grpc::Leads, store};

/// When the daily distribution runs, in business time.
pub const DISTRIBUTION_AT: NaiveTime = match NaiveTime::from_hms_opt(8, 0, 0) {
    Some(t) => t,
    None => panic!("08:00 is a valid time"),
};

/// Runs the jobs every `args.interval` until `shutdown`.
pub async fn run(leads: Leads, args: JobArgs, shutdown: CancellationToken) {
    if !args.enabled {
        return;
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(args.interval) => {}
        }
        if let Err(err) = tick(&leads).await {
            tracing::warn!(error = %err, "background job failed; retrying next tick");
        }
    }
}

async fn tick(leads: &Leads) -> Result<(), Error> {
    let Ok(db) = leads.db().get() else { return Ok(()) };
    let now = leads.now();
    let local = now.with_timezone(&DEFAULT_ZONE);
    let day = clock::business_day(now, DEFAULT_ZONE);
    if local.time().num_seconds_from_midnight() >= DISTRIBUTION_AT.num_seconds_from_midnight() {
        let mut tx = db.begin().await?;
        if let Some(run) = store::distribution::run_scheduled(&mut tx, day, now).await? {
            tx.commit().await?;
            crate::metrics::assigned(run.leads_assigned, "DISTRIBUTION");
            tracing::info!(run_id = %run.run_id, assigned = run.leads_assigned, "scheduled distribution ran");
        }
    }
    let mut tx = db.begin().await?;
    let sweep = store::sweep::run(&mut tx, now, day, leads.instance()).await?;
    tx.commit().await?;
    crate::metrics::reclaimed(sweep.leads_reclaimed);
    if sweep.leads_reclaimed > 0 || sweep.warnings_sent > 0 {
        tracing::info!(
            reclaimed = sweep.leads_reclaimed,
            warned = sweep.warnings_sent,
            "deadline sweep"
        );
    }
    Ok(())
}

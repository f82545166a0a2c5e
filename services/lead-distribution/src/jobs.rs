//! The background jobs: the daily distribution at 08:00 business time (once
//! a day: the first tick after 08:00 with no scheduled run yet) and the
//! deadline sweep on every tick, each the same use case the RPCs run.
//! Replicas sharing a PostgreSQL database take turns on the jobs' locks, so
//! each runs on one replica at a time.
//!
//! Beside them, on every replica whether or not the jobs are enabled, the
//! feed's numbering ([`number_feed`]): the reps' feed events are visible to
//! `WatchRepEvents` once numbered, so it must run wherever watchers might.

use chrono::Timelike as _;
use tiejun_platform::{clock::DEFAULT_ZONE, config::JobArgs, error::Error, shutdown::every};
use tokio_util::sync::CancellationToken;

use crate::{
    app::{self, SYSTEM},
    domain::rules::DISTRIBUTION_AT,
    grpc::Leads,
    store::feed,
};

/// Runs the jobs every `args.interval` until `shutdown`.
pub async fn run(leads: Leads, args: JobArgs, shutdown: CancellationToken) {
    if !args.enabled {
        return;
    }
    let leads = &leads;
    every(args.interval, &shutdown, || async move {
        if let Err(err) = tick(leads).await {
            tracing::warn!(error = %err, "background job failed; retrying next tick");
        }
    })
    .await;
}

/// How often the feed's numbering looks for committed, unnumbered events.
const NUMBER_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Numbers the feed's new events every [`NUMBER_EVERY`] until `shutdown`
/// (`store::feed::number`).
pub async fn number_feed(leads: Leads, shutdown: CancellationToken) {
    let leads = &leads;
    every(NUMBER_EVERY, &shutdown, || async move {
        if let Err(err) = number_waiting(leads).await {
            tracing::warn!(error = %err, "numbering the reps' feed failed; retrying");
        }
    })
    .await;
}

async fn number_waiting(leads: &Leads) -> Result<(), Error> {
    let Ok(db) = leads.db().get() else { return Ok(()) };
    while feed::unnumbered(db).await? {
        let mut tx = db.begin().await?;
        feed::number(&mut tx).await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn tick(leads: &Leads) -> Result<(), Error> {
    let Ok(db) = leads.db().get() else { return Ok(()) };
    let now = leads.now();
    let local = now.with_timezone(&DEFAULT_ZONE);
    if local.time().num_seconds_from_midnight() >= DISTRIBUTION_AT.num_seconds_from_midnight() {
        let mut tx = db.begin().await?;
        if let Some(run) = app::distribute::scheduled(&mut tx, now).await? {
            tx.commit().await?;
            tracing::info!(run_id = %run.run_id, assigned = run.leads_assigned, "scheduled distribution ran");
        }
    }
    let mut tx = db.begin().await?;
    let sweep = app::sweep::run(&mut tx, now, SYSTEM, leads.instance()).await?;
    tx.commit().await?;
    if sweep.leads_reclaimed > 0 || sweep.warnings_sent > 0 {
        tracing::info!(
            reclaimed = sweep.leads_reclaimed,
            handed_over = sweep.leads_reassigned,
            same_city = sweep.leads_same_city,
            warned = sweep.warnings_sent,
            "deadline sweep"
        );
    }
    Ok(())
}

//! The renewal cycle, as the RPC and the background job run it: one
//! transaction under the renewal job lock (replicas take turns on
//! PostgreSQL; SQLite serialises writers), its counts recorded as metrics.
//! In order: notices 45 days ahead (a renewal invoice at the quoted price, a
//! renewal record, RenewalDue), period ends, and grace ends, each step as
//! `domain::renewal` decides it.

use crate::domain::ids::InvoiceId;
use chrono::{DateTime, Utc};
use tiejun_platform::{
    clock::to_proto,
    db::{Database, JobKey, Tx},
    error::Error,
    outbox,
};
use tiejun_proto::{
    billing::v1::{InvoiceStatus, RenewalOutcome, SubscriptionState},
    events::v1::{RenewalDue, event_envelope::Payload},
};

use crate::{
    domain::{
        account, period,
        renewal::{self, CycleOutcome, NOTICE, Step},
    },
    store::{
        accounts::{self, AccountRow},
        catalog,
        renewals::{self, Notice, RenewalRow},
        subscriptions::SubscriptionRow,
    },
};

/// Runs one cycle at `now`, committed, and counts it.
pub async fn cycle(db: &Database, now: DateTime<Utc>) -> Result<CycleOutcome, Error> {
    let mut tx = db.begin().await?;
    let out = run(&mut tx, now).await?;
    tx.commit().await?;
    crate::metrics::renewal_cycle(&out);
    Ok(out)
}

/// One cycle in `tx`.
async fn run(tx: &mut Tx, now: DateTime<Utc>) -> Result<CycleOutcome, Error> {
    tx.job_lock(JobKey::Renewal).await?;
    let mut out = CycleOutcome::default();
    for s in renewals::due_for_notice(tx, now + NOTICE).await? {
        if notify(tx, &s, now).await? {
            out.notices += 1;
        }
    }
    for s in renewals::ended(tx, now).await? {
        let (found, paid) = renewal_of(tx, &s).await?;
        match renewal::at_period_end(paid, s.cancel_at_period_end, s.period_end) {
            Step::Renew => {
                roll(tx, &s, found.as_ref()).await?;
                out.renewed += 1;
            }
            Step::Cancel => {
                renewals::set_state(tx, &s.subscription_id, SubscriptionState::Canceled, None).await?;
                renewals::settle(tx, &s, RenewalOutcome::Churned, "cancelled").await?;
                out.canceled += 1;
            }
            Step::PastDue { grace_ends_at } => {
                renewals::set_state(tx, &s.subscription_id, SubscriptionState::PastDue, grace_ends_at).await?;
                out.past_due += 1;
            }
            Step::Expire | Step::Wait => {}
        }
    }
    for s in renewals::settling(tx, now).await? {
        let (found, paid) = renewal_of(tx, &s).await?;
        match renewal::in_grace(paid, s.grace_ends_at, now) {
            Step::Renew => {
                roll(tx, &s, found.as_ref()).await?;
                out.renewed += 1;
            }
            Step::Expire => {
                renewals::set_state(tx, &s.subscription_id, SubscriptionState::Expired, s.grace_ends_at).await?;
                if let Some(r) = &found {
                    renewals::void(tx, &r.invoice_id).await?;
                }
                renewals::settle(tx, &s, RenewalOutcome::Churned, "not paid by the end of grace").await?;
                out.expired += 1;
            }
            Step::Cancel | Step::PastDue { .. } | Step::Wait => {}
        }
    }
    Ok(out)
}

/// The renewal record of the subscription's current term, and whether its
/// invoice is paid.
async fn renewal_of(tx: &mut Tx, s: &SubscriptionRow) -> Result<(Option<RenewalRow>, bool), Error> {
    let found = renewals::renewal(tx, &s.subscription_id, s.period_index).await?;
    let paid = found
        .as_ref()
        .is_some_and(|(_, status)| status.0 == InvoiceStatus::Paid);
    Ok((found.map(|(r, _)| r), paid))
}

async fn account_of(tx: &mut Tx, s: &SubscriptionRow) -> Result<AccountRow, Error> {
    accounts::get_in(tx, &s.account_id)
        .await?
        .ok_or_else(|| Error::missing(&s.account_id))
}

/// The subscription's next term, `[start, end)`, in its account's zone.
fn next_term(s: &SubscriptionRow, account: &AccountRow) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    Ok(period::instants(
        renewals::anchor(s)?,
        s.period_months as u32,
        (s.period_index + 1) as u32,
        account::zone(&account.account_id, &account.details.time_zone)?,
    ))
}

/// Issues the notice of the subscription's next term at the quoted plan's
/// current price, and RenewalDue for the rep. False when another cycle
/// issued it first.
async fn notify(tx: &mut Tx, s: &SubscriptionRow, now: DateTime<Utc>) -> Result<bool, Error> {
    let plan = renewal::quoted_plan(&s.plan_id, s.pending_plan_id.as_ref());
    let quote = catalog::latest_in(tx, plan)
        .await?
        .ok_or_else(|| Error::missing(plan))?;
    let account = account_of(tx, s).await?;
    let invoice_id = InvoiceId::mint();
    let notice = Notice {
        subscription: s,
        invoice_id: &invoice_id,
        price_minor: quote.price_minor,
        currency: &quote.currency,
        version: quote.version,
        next: next_term(s, &account)?,
        now,
    };
    if !renewals::issue(tx, &notice).await? {
        return Ok(false);
    }
    let event = RenewalDue {
        subscription_id: s.subscription_id.to_string(),
        account_id: s.account_id.to_string(),
        sold_by_person_id: s.sold_by_person_id.clone().unwrap_or_default().into(),
        company_name: account.details.company_name,
        contact_name: account.details.contact_name,
        phone: account.details.phone,
        city: account.details.city,
        period_end: s.period_end.map(to_proto),
        quoted_amount_minor: quote.price_minor,
        currency: quote.currency,
    };
    outbox::append(tx, "billing", &s.account_id, Payload::RenewalDue(event), now).await?;
    Ok(true)
}

/// Rolls the subscription into its next term at the renewal's quote.
async fn roll(tx: &mut Tx, s: &SubscriptionRow, found: Option<&RenewalRow>) -> Result<(), Error> {
    let r = found.ok_or_else(|| Error::internal(format!("renewing {} without its record", s.subscription_id)))?;
    let account = account_of(tx, s).await?;
    let next = next_term(s, &account)?;
    renewals::roll(tx, s, r, next).await
}

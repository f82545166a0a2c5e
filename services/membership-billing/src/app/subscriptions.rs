//! The purchase path: Subscribe → PENDING_PAYMENT with an open invoice →
//! payments counted against it (never twice, never more than is due) →
//! ACTIVE on full payment, the first period anchored on that day in the
//! account's zone; an account's first paid period makes it a customer and
//! emits CustomerActivated. Then plan changes (upgrade now with proration,
//! downgrade at the period end) and cancellation at the period end.

use crate::domain::ids::{AccountId, InvoiceId, PaymentId, PersonId, PlanId, SubscriptionId};
use chrono::{DateTime, Utc};
use tiejun_platform::{
    auth::{Principal, Role},
    db::Tx,
    error::Error,
    outbox,
    stored::Named,
};
use tiejun_proto::{
    billing::v1::{InvoiceKind, InvoiceStatus, SubscriptionState},
    events::v1::{CustomerActivated, event_envelope::Payload},
};

use crate::{
    domain::{
        account,
        invoice::{self, Open},
        money::Price,
        period,
        proration::{self, Direction},
    },
    store::{
        accounts, catalog,
        subscriptions::{self, InvoiceRow, PaymentRow, SubscriptionRow},
    },
};

/// True when `principal` acts as a rep and not as billing staff: a rep
/// sells, and subscribes, only for themselves.
pub fn acting_rep(principal: &Principal) -> bool {
    principal.has_any(&[Role::SalesRep]) && !principal.has_any(&[Role::Admin, Role::BillingAdmin])
}

/// A subscription to make.
#[derive(Debug, Clone, Copy)]
pub struct NewSubscription<'a> {
    /// The account.
    pub account_id: &'a AccountId,
    /// The plan (its latest version is sold).
    pub plan_id: &'a PlanId,
    /// The rep credited; `None`: the rep who sold the account.
    pub sold_by: Option<&'a PersonId>,
}

/// Subscribes an account to a plan: PENDING_PAYMENT with its initial
/// invoice. A rep subscribes only the accounts they sold.
pub async fn subscribe(
    tx: &mut Tx,
    now: DateTime<Utc>,
    principal: &Principal,
    new: &NewSubscription<'_>,
) -> Result<(SubscriptionRow, InvoiceRow), Error> {
    let account = accounts::get_in(tx, new.account_id)
        .await?
        .ok_or_else(|| Error::missing(new.account_id))?;
    if acting_rep(principal) && account.sold_by_person_id.as_deref() != principal.rep_id.as_deref() {
        return Err(Error::PermissionDenied(
            "a rep subscribes only the accounts they sold".into(),
        ));
    }
    let plan = catalog::latest_in(tx, new.plan_id)
        .await?
        .ok_or_else(|| Error::missing(new.plan_id))?;
    let s = SubscriptionRow {
        subscription_id: SubscriptionId::mint(),
        account_id: account.account_id,
        plan_id: plan.plan_id,
        plan_version: plan.version,
        price_minor: plan.price_minor,
        currency: plan.currency,
        period_months: period::months(plan.period.0),
        state: Named(SubscriptionState::PendingPayment),
        anchor_date: None,
        period_index: 0,
        period_start: None,
        period_end: None,
        sold_by_person_id: new.sold_by.cloned().or(account.sold_by_person_id),
        cancel_at_period_end: false,
        grace_ends_at: None,
        created_at: now,
        pending_plan_id: None,
    };
    let inv = open_invoice(&s, InvoiceKind::Initial, s.price_minor, now);
    subscriptions::create(tx, &s, &inv).await?;
    Ok((s, inv))
}

/// A new OPEN invoice of `kind` for `amount_minor` on `s`, due after the
/// payment terms.
fn open_invoice(s: &SubscriptionRow, kind: InvoiceKind, amount_minor: i64, now: DateTime<Utc>) -> InvoiceRow {
    InvoiceRow {
        invoice_id: InvoiceId::mint(),
        subscription_id: s.subscription_id.clone(),
        account_id: s.account_id.clone(),
        kind: Named(kind),
        status: Named(InvoiceStatus::Open),
        amount_minor,
        paid_minor: 0,
        currency: s.currency.clone(),
        period_index: s.period_index,
        period_start: None,
        period_end: None,
        issued_at: now,
        due_at: invoice::due_at(now),
    }
}

/// A payment received.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    /// The invoice it pays.
    pub invoice_id: &'a InvoiceId,
    /// How much.
    pub price: Price,
    /// bank_transfer, card, alipay…
    pub method: &'a str,
    /// The payer's reference.
    pub external_reference: &'a str,
    /// When it was received (checked against the clock's skew).
    pub received_at: DateTime<Utc>,
    /// The key it is counted once under.
    pub idempotency_key: &'a str,
}

/// What a counted payment left.
#[derive(Debug, Clone)]
pub struct Paid {
    /// The payment.
    pub payment: PaymentRow,
    /// Its invoice, after it.
    pub invoice: InvoiceRow,
    /// The invoice's subscription, after it.
    pub subscription: Option<SubscriptionRow>,
}

/// Counts a payment against its invoice; the payment that settles a first
/// invoice activates the subscription.
pub async fn record_payment(tx: &mut Tx, now: DateTime<Utc>, p: &NewPayment<'_>) -> Result<Paid, Error> {
    let inv = subscriptions::lock_invoice(tx, p.invoice_id)
        .await?
        .ok_or_else(|| Error::missing(p.invoice_id))?;
    let open = Open {
        kind: inv.kind.0,
        status: inv.status.0,
        currency: &inv.currency,
        amount_minor: inv.amount_minor,
        paid_minor: inv.paid_minor,
    };
    let counted = invoice::count(&open, &p.price)?;
    let payment = PaymentRow {
        payment_id: PaymentId::mint(),
        invoice_id: inv.invoice_id.clone(),
        amount_minor: p.price.amount_minor,
        currency: p.price.currency.clone(),
        method: p.method.to_owned(),
        external_reference: p.external_reference.to_owned(),
        received_at: p.received_at,
    };
    subscriptions::pay(tx, &payment, p.idempotency_key, now).await?;
    if counted.activates {
        activate(tx, &inv.subscription_id, now).await?;
    }
    let invoice = subscriptions::lock_invoice(tx, p.invoice_id)
        .await?
        .ok_or_else(|| Error::missing(p.invoice_id))?;
    let subscription = subscriptions::subscription_in(tx, &invoice.subscription_id).await?;
    Ok(Paid {
        payment,
        invoice,
        subscription,
    })
}

/// Starts the first period: anchored on today in the account's zone. The
/// account's first paid period emits CustomerActivated.
async fn activate(tx: &mut Tx, subscription_id: &SubscriptionId, now: DateTime<Utc>) -> Result<(), Error> {
    let sub = subscriptions::subscription_in(tx, subscription_id)
        .await?
        .ok_or_else(|| Error::missing(subscription_id))?;
    let account = accounts::get_in(tx, &sub.account_id)
        .await?
        .ok_or_else(|| Error::missing(&sub.account_id))?;
    let zone = account::zone(&account.account_id, &account.details.time_zone)?;
    let anchor = period::anchor(now, zone);
    let (start, end) = period::instants(anchor, sub.period_months as u32, 0, zone);
    subscriptions::activate(tx, subscription_id, &anchor.to_string(), start, end).await?;
    if subscriptions::first_paid(tx, &account.account_id, now).await? {
        let event = CustomerActivated {
            account_id: account.account_id.to_string(),
            contact_person_id: account.contact_person_id.into(),
            contact_name: account.details.contact_name,
            city: account.details.city,
            plan_id: sub.plan_id.into(),
            activated_at: Some(tiejun_platform::clock::to_proto(now)),
        };
        outbox::append(
            tx,
            "billing",
            &account.account_id,
            Payload::CustomerActivated(event),
            now,
        )
        .await?;
    }
    Ok(())
}

/// The subscription `id`, read in `tx`.
async fn subscription(tx: &mut Tx, id: &SubscriptionId) -> Result<SubscriptionRow, Error> {
    subscriptions::subscription_in(tx, id)
        .await?
        .ok_or_else(|| Error::missing(id))
}

/// Only an ACTIVE subscription changes plan or is cancelled.
fn ensure_active(sub: &SubscriptionRow) -> Result<(), Error> {
    if sub.state != SubscriptionState::Active {
        return Err(Error::precondition(
            "SUBSCRIPTION_NOT_ACTIVE",
            format!("only an ACTIVE subscription changes; this one is {}", sub.state),
        ));
    }
    Ok(())
}

/// Moves an ACTIVE subscription to `plan_id`: a dearer plan now, with a
/// proration invoice for the days left; any other at the period end.
pub async fn change_plan(
    tx: &mut Tx,
    now: DateTime<Utc>,
    id: &SubscriptionId,
    plan_id: &PlanId,
) -> Result<(SubscriptionRow, Option<InvoiceRow>), Error> {
    let target = catalog::latest_in(tx, plan_id)
        .await?
        .ok_or_else(|| Error::missing(plan_id))?;
    let sub = subscription(tx, id).await?;
    ensure_active(&sub)?;
    if target.plan_id == sub.plan_id {
        return Err(Error::precondition(
            "SAME_PLAN",
            "the subscription is already on this plan",
        ));
    }
    if target.currency != sub.currency {
        return Err(Error::invalid(
            "plan_id",
            "the plans are priced in different currencies",
        ));
    }
    let mut proration = None;
    match proration::direction(sub.price_minor, target.price_minor) {
        Direction::UpgradeNow => {
            let account = accounts::get_in(tx, &sub.account_id)
                .await?
                .ok_or_else(|| Error::missing(&sub.account_id))?;
            let zone = account::zone(&account.account_id, &account.details.time_zone)?;
            let (Some(start), Some(end)) = (sub.period_start, sub.period_end) else {
                return Err(Error::internal(format!(
                    "corrupt row: active subscription {id} without a period"
                )));
            };
            let local = |t: DateTime<Utc>| t.with_timezone(&zone).date_naive();
            let charge = proration::upgrade_charge(
                sub.price_minor,
                target.price_minor,
                local(start),
                local(end),
                local(now),
            );
            subscriptions::switch_plan(tx, id, &target.plan_id, target.version, target.price_minor).await?;
            if charge > 0 {
                let mut inv = open_invoice(&sub, InvoiceKind::Proration, charge, now);
                inv.period_start = Some(now);
                inv.period_end = Some(end);
                subscriptions::proration_invoice(tx, &inv).await?;
                proration = Some(inv);
            }
        }
        Direction::DowngradeAtPeriodEnd => {
            // The renewal is quoted on the new plan.
            subscriptions::at_period_end(tx, id, Some(&target.plan_id), sub.cancel_at_period_end).await?;
        }
    }
    Ok((subscription(tx, id).await?, proration))
}

/// Cancels an ACTIVE subscription at its period end: entitlements last
/// until then. Only the account (or staff) cancels.
pub async fn cancel(tx: &mut Tx, principal: &Principal, id: &SubscriptionId) -> Result<SubscriptionRow, Error> {
    let sub = subscription(tx, id).await?;
    principal.may_act_for_account(&sub.account_id)?;
    ensure_active(&sub)?;
    subscriptions::at_period_end(tx, id, sub.pending_plan_id.as_ref(), true).await?;
    subscription(tx, id).await
}

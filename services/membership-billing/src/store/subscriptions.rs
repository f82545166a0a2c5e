//! Subscriptions, invoices and payments.

use crate::domain::ids::{AccountId, InvoiceId, PaymentId, PersonId, PlanId, SubscriptionId};
use chrono::{DateTime, Utc};
use tiejun_platform::stored::Named;
use tiejun_platform::{
    db::{Database, Tx},
    error::{Error, on_duplicate},
    execute, locked, on_pool, on_tx,
};
use tiejun_proto::billing::v1::{InvoiceKind, InvoiceStatus, SubscriptionState};

/// A row of `subscriptions`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionRow {
    /// Id.
    pub subscription_id: SubscriptionId,
    /// Account.
    pub account_id: AccountId,
    /// Plan.
    pub plan_id: PlanId,
    /// Plan version sold.
    pub plan_version: i32,
    /// Price of the current period.
    pub price_minor: i64,
    /// Currency.
    pub currency: String,
    /// Months per period.
    pub period_months: i32,
    /// State.
    pub state: Named<SubscriptionState>,
    /// Anchor date (YYYY-MM-DD), once active.
    pub anchor_date: Option<String>,
    /// Current period (0-based).
    pub period_index: i32,
    /// Current period start.
    pub period_start: Option<DateTime<Utc>>,
    /// Current period end (exclusive).
    pub period_end: Option<DateTime<Utc>>,
    /// The rep credited.
    pub sold_by_person_id: Option<PersonId>,
    /// Cancelled at period end.
    pub cancel_at_period_end: bool,
    /// Grace end (PAST_DUE).
    pub grace_ends_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// A downgrade waiting for the period end.
    pub pending_plan_id: Option<PlanId>,
}

/// A row of `invoices`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceRow {
    /// Id.
    pub invoice_id: InvoiceId,
    /// Subscription.
    pub subscription_id: SubscriptionId,
    /// Account.
    pub account_id: AccountId,
    /// Kind.
    pub kind: Named<InvoiceKind>,
    /// Status.
    pub status: Named<InvoiceStatus>,
    /// Due.
    pub amount_minor: i64,
    /// Paid so far.
    pub paid_minor: i64,
    /// Currency.
    pub currency: String,
    /// Period it pays for.
    pub period_index: i32,
    /// Period start.
    pub period_start: Option<DateTime<Utc>>,
    /// Period end.
    pub period_end: Option<DateTime<Utc>>,
    /// Issued.
    pub issued_at: DateTime<Utc>,
    /// Due by.
    pub due_at: DateTime<Utc>,
}

/// A row of `payments`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentRow {
    /// Id.
    pub payment_id: PaymentId,
    /// Invoice.
    pub invoice_id: InvoiceId,
    /// Amount.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Method.
    pub method: String,
    /// External reference.
    pub external_reference: String,
    /// Received.
    pub received_at: DateTime<Utc>,
}

/// The columns of [`SubscriptionRow`], for every query that reads one.
pub const SUB: &str = "subscription_id, account_id, plan_id, plan_version, price_minor, currency, period_months, state, \
                   anchor_date, period_index, period_start, period_end, sold_by_person_id, cancel_at_period_end, \
                   grace_ends_at, created_at, pending_plan_id";
/// The columns of [`InvoiceRow`], as a literal (for `concat!` and `locked!`).
macro_rules! inv_columns {
    () => {
        "invoice_id, subscription_id, account_id, kind, status, amount_minor, paid_minor, currency, \
                   period_index, period_start, period_end, issued_at, due_at"
    };
}

/// The columns of [`InvoiceRow`], for every query that reads one.
pub const INV: &str = inv_columns!();

/// Creates a PENDING_PAYMENT subscription with its initial invoice; a live
/// one for the same account and plan is ALREADY_EXISTS.
pub async fn create(tx: &mut Tx, s: &SubscriptionRow, invoice: &InvoiceRow) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO subscriptions (subscription_id, account_id, plan_id, plan_version, price_minor, currency, \
             period_months, state, sold_by_person_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING_PAYMENT', $8, $9)"
        )
        .bind(&s.subscription_id)
        .bind(&s.account_id)
        .bind(&s.plan_id)
        .bind(s.plan_version)
        .bind(s.price_minor)
        .bind(&s.currency)
        .bind(s.period_months)
        .bind(&s.sold_by_person_id)
        .bind(s.created_at)
    )
    .map_err(|err| {
        on_duplicate(
            err,
            format!("{}/{}", s.account_id, s.plan_id),
            "the account already has a live subscription to this plan",
        )
    })?;
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO invoices (invoice_id, subscription_id, account_id, kind, status, amount_minor, currency, \
             period_index, issued_at, due_at) VALUES ($1, $2, $3, $4, 'OPEN', $5, $6, $7, $8, $9)"
        )
        .bind(&invoice.invoice_id)
        .bind(&invoice.subscription_id)
        .bind(&invoice.account_id)
        .bind(invoice.kind)
        .bind(invoice.amount_minor)
        .bind(&invoice.currency)
        .bind(invoice.period_index)
        .bind(invoice.issued_at)
        .bind(invoice.due_at)
    )?;
    Ok(())
}

/// One subscription inside a transaction.
pub async fn subscription_in(tx: &mut Tx, id: &SubscriptionId) -> Result<Option<SubscriptionRow>, Error> {
    let sql = format!("SELECT {SUB} FROM subscriptions WHERE subscription_id = $1");
    Ok(on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?))
}

/// One subscription.
pub async fn subscription(db: &Database, id: &SubscriptionId) -> Result<Option<SubscriptionRow>, Error> {
    let sql = format!("SELECT {SUB} FROM subscriptions WHERE subscription_id = $1");
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await?))
}

/// One invoice inside a transaction, locked on PostgreSQL.
pub async fn lock_invoice(tx: &mut Tx, id: &InvoiceId) -> Result<Option<InvoiceRow>, Error> {
    let sql = locked!(
        tx,
        concat!("SELECT ", inv_columns!(), " FROM invoices WHERE invoice_id = $1"),
        "FOR UPDATE"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql).bind(id).fetch_optional(c).await?))
}

/// One invoice.
pub async fn invoice(db: &Database, id: &InvoiceId) -> Result<Option<InvoiceRow>, Error> {
    let sql = format!("SELECT {INV} FROM invoices WHERE invoice_id = $1");
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await?))
}

/// A payment's invoice, for the replies.
pub async fn payments(db: &Database, invoice_id: &InvoiceId) -> Result<Vec<PaymentRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT payment_id, invoice_id, amount_minor, currency, method, external_reference, received_at FROM payments \
         WHERE invoice_id = $1 ORDER BY received_at, payment_id"
    )
    .bind(invoice_id)
    .fetch_all(p)
    .await?))
}

/// Records a payment and adds it to its invoice (the CHECK refuses overpayment).
pub async fn pay(tx: &mut Tx, p: &PaymentRow, key: &str, now: DateTime<Utc>) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO payments (payment_id, invoice_id, amount_minor, currency, method, external_reference, \
             received_at, idempotency_key, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
        .bind(&p.payment_id)
        .bind(&p.invoice_id)
        .bind(p.amount_minor)
        .bind(&p.currency)
        .bind(&p.method)
        .bind(&p.external_reference)
        .bind(p.received_at)
        .bind(key)
        .bind(now)
    )?;
    execute!(
        tx,
        sqlx::query(
            "UPDATE invoices SET paid_minor = paid_minor + $2, \
             status = CASE WHEN paid_minor + $2 = amount_minor THEN 'PAID' ELSE status END \
             WHERE invoice_id = $1"
        )
        .bind(&p.invoice_id)
        .bind(p.amount_minor)
    )?;
    Ok(())
}

/// Starts the first period of a PENDING_PAYMENT subscription.
pub async fn activate(
    tx: &mut Tx,
    id: &SubscriptionId,
    anchor: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), Error> {
    let n = execute!(
        tx,
        sqlx::query(
            "UPDATE subscriptions SET state = 'ACTIVE', anchor_date = $2, period_index = 0, \
             period_start = $3, period_end = $4 \
             WHERE subscription_id = $1 AND state = 'PENDING_PAYMENT'"
        )
        .bind(id)
        .bind(anchor)
        .bind(start)
        .bind(end)
    )?;
    if n == 1 {
        Ok(())
    } else {
        Err(Error::Aborted("the subscription changed concurrently; retry".into()))
    }
}

/// Marks an account a customer from `at` if it was not yet; true when it became one now.
pub async fn first_paid(tx: &mut Tx, account_id: &AccountId, at: DateTime<Utc>) -> Result<bool, Error> {
    let n = execute!(
        tx,
        sqlx::query("UPDATE accounts SET first_paid_at = $2 WHERE account_id = $1 AND first_paid_at IS NULL")
            .bind(account_id)
            .bind(at)
    )?;
    Ok(n == 1)
}

/// The live subscription that entitles the account to a PAID feature right
/// now, if any: its state (PAST_DUE: in grace) and until when.
pub async fn paid_entitlement(
    db: &Database,
    account_id: &AccountId,
    feature: &str,
    now: DateTime<Utc>,
) -> Result<Option<(SubscriptionState, DateTime<Utc>)>, Error> {
    type Live = (Named<SubscriptionState>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let row: Option<Live> = on_pool!(db, |p| sqlx::query_as(
        "SELECT s.state, s.period_end, s.grace_ends_at FROM subscriptions s JOIN plan_features f \
         ON f.plan_id = s.plan_id AND f.version = s.plan_version \
         WHERE s.account_id = $1 AND f.feature_key = $2 AND ( \
           (s.state IN ('ACTIVE', 'CANCELED') AND s.period_start <= $3 AND s.period_end > $3) \
           OR (s.state = 'PAST_DUE' AND s.grace_ends_at > $3)) \
         ORDER BY s.period_end DESC LIMIT 1"
    )
    .bind(account_id)
    .bind(feature)
    .bind(now)
    .fetch_optional(p)
    .await?);
    Ok(row.and_then(|(state, end, grace)| match state.0 {
        SubscriptionState::PastDue => grace.map(|g| (state.0, g)),
        _ => end.map(|e| (state.0, e)),
    }))
}

/// Moves an ACTIVE subscription to another plan now (an upgrade).
pub async fn switch_plan(
    tx: &mut Tx,
    id: &SubscriptionId,
    plan_id: &PlanId,
    version: i32,
    price_minor: i64,
) -> Result<(), Error> {
    let n = execute!(
        tx,
        sqlx::query(
            "UPDATE subscriptions SET plan_id = $2, plan_version = $3, price_minor = $4, pending_plan_id = NULL \
             WHERE subscription_id = $1 AND state = 'ACTIVE'"
        )
        .bind(id)
        .bind(plan_id)
        .bind(version)
        .bind(price_minor)
    )
    .map_err(|e| on_duplicate(e, plan_id, "the account already has this plan"))?;
    if n == 1 {
        Ok(())
    } else {
        Err(Error::precondition(
            "SUBSCRIPTION_NOT_ACTIVE",
            "only an ACTIVE subscription changes plan",
        ))
    }
}

/// Schedules (or clears) a downgrade for the period end, or a cancellation.
pub async fn at_period_end(
    tx: &mut Tx,
    id: &SubscriptionId,
    pending_plan_id: Option<&PlanId>,
    cancel: bool,
) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "UPDATE subscriptions SET pending_plan_id = $2, cancel_at_period_end = $3 WHERE subscription_id = $1"
        )
        .bind(id)
        .bind(pending_plan_id)
        .bind(cancel)
    )?;
    Ok(())
}

/// Issues a proration invoice for an upgrade.
pub async fn proration_invoice(tx: &mut Tx, inv: &InvoiceRow) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO invoices (invoice_id, subscription_id, account_id, kind, status, amount_minor, currency, \
             period_index, period_start, period_end, issued_at, due_at) \
             VALUES ($1, $2, $3, 'PRORATION', 'OPEN', $4, $5, $6, $7, $8, $9, $10)"
        )
        .bind(&inv.invoice_id)
        .bind(&inv.subscription_id)
        .bind(&inv.account_id)
        .bind(inv.amount_minor)
        .bind(&inv.currency)
        .bind(inv.period_index)
        .bind(inv.period_start)
        .bind(inv.period_end)
        .bind(inv.issued_at)
        .bind(inv.due_at)
    )?;
    Ok(())
}

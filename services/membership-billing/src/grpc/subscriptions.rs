//! `SubscriptionService`, the purchase path: Subscribe → PENDING_PAYMENT with
//! an open invoice → RecordPayment (idempotent on its key, never counted
//! twice, overpayment refused) → ACTIVE on full payment, the first period
//! anchored on that day in the account's zone. An account's first paid
//! period makes it a customer and emits CustomerActivated.

use chrono::Duration;
use chrono_tz::Tz;
use tiejun_platform::{
    auth::{Principal, Role},
    clock::{self, to_proto},
    error::Error,
    idempotency, outbox,
};
use tiejun_proto::{
    billing::v1::{
        CancelSubscriptionRequest, CancelSubscriptionResponse, ChangePlanRequest, ChangePlanResponse,
        GetInvoiceRequest, GetInvoiceResponse, GetSubscriptionRequest, GetSubscriptionResponse, Invoice, InvoiceKind,
        InvoiceStatus, ListInvoicesRequest, ListInvoicesResponse, ListSubscriptionsRequest, ListSubscriptionsResponse,
        Money, Payment, RecordPaymentRequest, RecordPaymentResponse, RunRenewalCycleRequest, RunRenewalCycleResponse,
        SubscribeRequest, SubscribeResponse, Subscription, SubscriptionState,
        subscription_service_server::SubscriptionService,
    },
    events::v1::{CustomerActivated, event_envelope::Payload},
};
use tonic::{Request, Response, Status};

use super::Billing;
use crate::{
    domain::{money::Price, period, proration},
    store::{
        accounts, catalog, renewals, reports,
        subscriptions::{self, InvoiceRow, PaymentRow, SubscriptionRow},
    },
};

/// How long an invoice may stay unpaid.
const PAYMENT_TERMS: Duration = Duration::days(14);

fn money(amount_minor: i64, currency: &str) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: currency.to_owned(),
    })
}

/// A subscription as a message.
pub fn subscription(r: SubscriptionRow) -> Subscription {
    let anchor_day = r
        .anchor_date
        .as_deref()
        .and_then(|d| d.get(8..10))
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    Subscription {
        state: SubscriptionState::from_str_name(&format!("SUBSCRIPTION_STATE_{}", r.state)).unwrap_or_default() as i32,
        price: money(r.price_minor, &r.currency),
        anchor_day,
        period_start: r.period_start.map(to_proto),
        period_end: r.period_end.map(to_proto),
        sold_by_person_id: r.sold_by_person_id.unwrap_or_default(),
        cancel_at_period_end: r.cancel_at_period_end,
        grace_ends_at: r.grace_ends_at.map(to_proto),
        created_at: Some(to_proto(r.created_at)),
        subscription_id: r.subscription_id,
        account_id: r.account_id,
        plan_id: r.plan_id,
        plan_version: r.plan_version,
        pending_plan_id: r.pending_plan_id.unwrap_or_default(),
    }
}

/// An invoice as a message.
pub fn invoice(r: InvoiceRow) -> Invoice {
    Invoice {
        kind: InvoiceKind::from_str_name(&format!("INVOICE_KIND_{}", r.kind)).unwrap_or_default() as i32,
        status: InvoiceStatus::from_str_name(&format!("INVOICE_STATUS_{}", r.status)).unwrap_or_default() as i32,
        amount: money(r.amount_minor, &r.currency),
        paid: money(r.paid_minor, &r.currency),
        period_start: r.period_start.map(to_proto),
        period_end: r.period_end.map(to_proto),
        issued_at: Some(to_proto(r.issued_at)),
        due_at: Some(to_proto(r.due_at)),
        invoice_id: r.invoice_id,
        subscription_id: r.subscription_id,
        account_id: r.account_id,
    }
}

fn payment(p: PaymentRow) -> Payment {
    Payment {
        amount: money(p.amount_minor, &p.currency),
        received_at: Some(to_proto(p.received_at)),
        payment_id: p.payment_id,
        invoice_id: p.invoice_id,
        method: p.method,
        external_reference: p.external_reference,
    }
}

#[tonic::async_trait]
impl SubscriptionService for Billing {
    async fn subscribe(&self, request: Request<SubscribeRequest>) -> Result<Response<SubscribeResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let acting_rep = principal.has_any(&[Role::SalesRep]) && !principal.has_any(&[Role::Admin, Role::BillingAdmin]);
        // A rep names only themselves as the seller, checked before anything else.
        if acting_rep
            && !r.sold_by_person_id.trim().is_empty()
            && principal.rep_id.as_deref() != Some(r.sold_by_person_id.trim())
        {
            return Err(Error::PermissionDenied("a rep records only their own sales".into()).into());
        }
        let key = idempotency::Key::of(&principal.subject, "Subscribe", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let account = accounts::get(db, r.account_id.trim())
            .await?
            .ok_or_else(|| Error::not_found("account", r.account_id.trim()))?;
        if acting_rep {
            // A rep subscribes the accounts they sold.
            if account.sold_by_person_id.as_deref() != principal.rep_id.as_deref() {
                return Err(Error::PermissionDenied("a rep subscribes only the accounts they sold".into()).into());
            }
        }
        let plan = catalog::get_plan(db, r.plan_id.trim(), 0)
            .await?
            .ok_or_else(|| Error::not_found("plan", r.plan_id.trim()))?;
        let mut tx = db.begin().await?;
        if let Some(key) = &key
            && let Some(first) = key.replay(&mut tx, now).await?
        {
            return Ok(Response::new(first));
        }
        let sold_by = match r.sold_by_person_id.trim() {
            "" => account.sold_by_person_id.clone(),
            rep => Some(rep.to_owned()),
        };
        let s = SubscriptionRow {
            subscription_id: uuid::Uuid::now_v7().to_string(),
            account_id: account.account_id.clone(),
            plan_id: plan.plan_id.clone(),
            plan_version: plan.version,
            price_minor: plan.price_minor,
            currency: plan.currency.clone(),
            period_months: if plan.period == "MONTHLY" { 1 } else { 12 },
            state: "PENDING_PAYMENT".into(),
            anchor_date: None,
            period_index: 0,
            period_start: None,
            period_end: None,
            sold_by_person_id: sold_by,
            cancel_at_period_end: false,
            grace_ends_at: None,
            created_at: now,
            pending_plan_id: None,
        };
        let inv = InvoiceRow {
            invoice_id: uuid::Uuid::now_v7().to_string(),
            subscription_id: s.subscription_id.clone(),
            account_id: s.account_id.clone(),
            kind: "INITIAL".into(),
            status: "OPEN".into(),
            amount_minor: s.price_minor,
            paid_minor: 0,
            currency: s.currency.clone(),
            period_index: 0,
            period_start: None,
            period_end: None,
            issued_at: now,
            due_at: now + PAYMENT_TERMS,
        };
        subscriptions::create(&mut tx, &s, &inv).await?;
        let response = SubscribeResponse {
            subscription: Some(subscription(s)),
            invoice: Some(invoice(inv)),
        };
        if let Some(key) = &key {
            key.record(&mut tx, &response).await?;
        }
        tx.commit().await?;
        Ok(Response::new(response))
    }

    async fn get_subscription(
        &self,
        request: Request<GetSubscriptionRequest>,
    ) -> Result<Response<GetSubscriptionResponse>, Status> {
        let principal = Principal::of(&request)?;
        let id = request.get_ref().subscription_id.trim();
        let db = self.db.get()?;
        let row = subscriptions::subscription(db, id)
            .await?
            .ok_or_else(|| Error::not_found("subscription", id))?;
        principal.may_act_for_account(&row.account_id)?;
        Ok(Response::new(GetSubscriptionResponse {
            subscription: Some(subscription(row)),
        }))
    }

    async fn record_payment(
        &self,
        request: Request<RecordPaymentRequest>,
    ) -> Result<Response<RecordPaymentResponse>, Status> {
        let r = request.get_ref();
        if r.idempotency_key.trim().is_empty() {
            return Err(Error::invalid("idempotency_key", "is required: the same key never counts twice").into());
        }
        let price = Price::parse("amount", r.amount.as_ref()).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let method = r.method.trim();
        if method.is_empty() || method.len() > 40 {
            return Err(Error::invalid("method", "bank_transfer, card, alipay…").into());
        }
        // One key space for every caller: a bank's retry through another client still counts once.
        let key = idempotency::Key::of("payments", "RecordPayment", r.idempotency_key.trim(), r)?
            .ok_or_else(|| Error::invalid("idempotency_key", "is required"))?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let received_at = match clock::instant("received_at", r.received_at.as_ref())? {
            None => now,
            Some(t) if t <= now + Duration::minutes(5) => t,
            Some(_) => return Err(Error::invalid("received_at", "must not be in the future").into()),
        };
        let mut tx = db.begin().await?;
        if let Some(first) = key.replay(&mut tx, now).await? {
            return Ok(Response::new(first));
        }
        let id = r.invoice_id.trim();
        let inv = subscriptions::lock_invoice(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("invoice", id))?;
        if inv.status != "OPEN" {
            return Err(Error::precondition("INVOICE_NOT_OPEN", format!("the invoice is {}", inv.status)).into());
        }
        if price.currency != inv.currency {
            return Err(Error::invalid("amount.currency", format!("the invoice is in {}", inv.currency)).into());
        }
        let due = inv.amount_minor - inv.paid_minor;
        if price.amount_minor > due {
            return Err(Error::precondition("OVERPAYMENT", format!("only {due} minor units are still due")).into());
        }
        let p = PaymentRow {
            payment_id: uuid::Uuid::now_v7().to_string(),
            invoice_id: inv.invoice_id.clone(),
            amount_minor: price.amount_minor,
            currency: price.currency.clone(),
            method: method.to_owned(),
            external_reference: r.external_reference.trim().to_owned(),
            received_at,
        };
        subscriptions::pay(&mut tx, &p, r.idempotency_key.trim(), now).await?;
        if price.amount_minor == due && inv.kind == "INITIAL" {
            self.activate(&mut tx, &inv.subscription_id, now).await?;
        }
        let inv = subscriptions::lock_invoice(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("invoice", id))?;
        let sub = subscriptions::subscription_in(&mut tx, &inv.subscription_id).await?;
        let response = RecordPaymentResponse {
            payment: Some(payment(p)),
            invoice: Some(invoice(inv)),
            subscription: sub.map(subscription),
        };
        key.record(&mut tx, &response).await?;
        tx.commit().await?;
        self.entitlements_changed();
        Ok(Response::new(response))
    }

    async fn change_plan(&self, request: Request<ChangePlanRequest>) -> Result<Response<ChangePlanResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let key = idempotency::Key::of(&principal.subject, "ChangePlan", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let target = catalog::get_plan(db, r.plan_id.trim(), 0)
            .await?
            .ok_or_else(|| Error::not_found("plan", r.plan_id.trim()))?;
        let mut tx = db.begin().await?;
        if let Some(key) = &key
            && let Some(first) = key.replay(&mut tx, now).await?
        {
            return Ok(Response::new(first));
        }
        let id = r.subscription_id.trim();
        let sub = subscriptions::subscription_in(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("subscription", id))?;
        if sub.state != "ACTIVE" {
            return Err(
                Error::precondition("SUBSCRIPTION_NOT_ACTIVE", "only an ACTIVE subscription changes plan").into(),
            );
        }
        if target.plan_id == sub.plan_id {
            return Err(Error::precondition("SAME_PLAN", "the subscription is already on this plan").into());
        }
        if target.currency != sub.currency {
            return Err(Error::invalid("plan_id", "the plans are priced in different currencies").into());
        }
        let mut proration = None;
        if target.price_minor > sub.price_minor {
            // Upgrade now: the difference for the days left, rounded down to the minor unit.
            let account = accounts::get_in(&mut tx, &sub.account_id)
                .await?
                .ok_or_else(|| Error::not_found("account", &sub.account_id))?;
            let zone: Tz = account.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
            let (Some(start), Some(end)) = (sub.period_start, sub.period_end) else {
                return Err(Error::internal("active subscription without a period").into());
            };
            let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&zone).date_naive();
            let charge = proration::upgrade_charge(
                sub.price_minor,
                target.price_minor,
                local(start),
                local(end),
                local(now),
            );
            subscriptions::switch_plan(&mut tx, id, &target.plan_id, target.version, target.price_minor).await?;
            if charge > 0 {
                let inv = InvoiceRow {
                    invoice_id: uuid::Uuid::now_v7().to_string(),
                    subscription_id: sub.subscription_id.clone(),
                    account_id: sub.account_id.clone(),
                    kind: "PRORATION".into(),
                    status: "OPEN".into(),
                    amount_minor: charge,
                    paid_minor: 0,
                    currency: sub.currency.clone(),
                    period_index: sub.period_index,
                    period_start: Some(now),
                    period_end: Some(end),
                    issued_at: now,
                    due_at: now + PAYMENT_TERMS,
                };
                subscriptions::proration_invoice(&mut tx, &inv).await?;
                proration = Some(invoice(inv));
            }
        } else {
            // Downgrade at the period end: the renewal is quoted on the new plan.
            subscriptions::at_period_end(&mut tx, id, Some(&target.plan_id), sub.cancel_at_period_end).await?;
        }
        let sub = subscriptions::subscription_in(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("subscription", id))?;
        let response = ChangePlanResponse {
            subscription: Some(subscription(sub)),
            proration_invoice: proration,
        };
        if let Some(key) = &key {
            key.record(&mut tx, &response).await?;
        }
        tx.commit().await?;
        self.entitlements_changed();
        Ok(Response::new(response))
    }

    async fn cancel_subscription(
        &self,
        request: Request<CancelSubscriptionRequest>,
    ) -> Result<Response<CancelSubscriptionResponse>, Status> {
        let principal = Principal::of(&request)?;
        let id = request.get_ref().subscription_id.trim();
        let db = self.db.get()?;
        let mut tx = db.begin().await?;
        let sub = subscriptions::subscription_in(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("subscription", id))?;
        principal.may_act_for_account(&sub.account_id)?;
        if sub.state != "ACTIVE" {
            return Err(
                Error::precondition("SUBSCRIPTION_NOT_ACTIVE", format!("the subscription is {}", sub.state)).into(),
            );
        }
        // Cancelled at the period end: entitlements last until then.
        subscriptions::at_period_end(&mut tx, id, sub.pending_plan_id.as_deref(), true).await?;
        let sub = subscriptions::subscription_in(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("subscription", id))?;
        tx.commit().await?;
        self.entitlements_changed();
        Ok(Response::new(CancelSubscriptionResponse {
            subscription: Some(subscription(sub)),
        }))
    }

    async fn list_subscriptions(
        &self,
        request: Request<ListSubscriptionsRequest>,
    ) -> Result<Response<ListSubscriptionsResponse>, Status> {
        let r = request.get_ref();
        let page = tiejun_platform::paging::Page::parse(r.page_size, &r.page_token)?;
        let state = match SubscriptionState::try_from(r.state) {
            Ok(SubscriptionState::Unspecified) => "",
            Ok(s) => s.as_str_name().trim_start_matches("SUBSCRIPTION_STATE_"),
            Err(_) => return Err(Error::invalid("state", "unknown state").into()),
        };
        let db = self.db.get()?;
        let filter = [r.account_id.trim(), r.plan_id.trim(), state, r.sold_by_person_id.trim()];
        let mut rows = reports::subscriptions(db, filter, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(Response::new(ListSubscriptionsResponse {
            subscriptions: rows.into_iter().map(subscription).collect(),
            next_page_token,
        }))
    }

    async fn list_invoices(
        &self,
        request: Request<ListInvoicesRequest>,
    ) -> Result<Response<ListInvoicesResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let page = tiejun_platform::paging::Page::parse(r.page_size, &r.page_token)?;
        let mut account = r.account_id.trim().to_owned();
        if let Some(own) = principal.own_account()? {
            // A call admitted by its account scope lists that account's invoices only.
            if account.is_empty() {
                account = own.to_owned();
            }
            principal.may_act_for_account(&account)?;
        }
        let status = match InvoiceStatus::try_from(r.status) {
            Ok(InvoiceStatus::Unspecified) => "",
            Ok(s) => s.as_str_name().trim_start_matches("INVOICE_STATUS_"),
            Err(_) => return Err(Error::invalid("status", "unknown status").into()),
        };
        let kind = match InvoiceKind::try_from(r.kind) {
            Ok(InvoiceKind::Unspecified) => "",
            Ok(InvoiceKind::Initial) => "INITIAL",
            Ok(InvoiceKind::Renewal) => "RENEWAL",
            Ok(InvoiceKind::Proration) => "PRORATION",
            Err(_) => return Err(Error::invalid("kind", "unknown kind").into()),
        };
        let db = self.db.get()?;
        let mut rows = reports::invoices(db, [&account, r.subscription_id.trim(), status, kind], &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(Response::new(ListInvoicesResponse {
            invoices: rows.into_iter().map(invoice).collect(),
            next_page_token,
        }))
    }

    async fn run_renewal_cycle(
        &self,
        _request: Request<RunRenewalCycleRequest>,
    ) -> Result<Response<RunRenewalCycleResponse>, Status> {
        let db = self.db.get()?;
        let mut tx = db.begin().await?;
        let out = renewals::run_cycle(&mut tx, self.clock.now()).await?;
        tx.commit().await?;
        crate::metrics::renewal_cycle(&out);
        self.entitlements_changed();
        Ok(Response::new(RunRenewalCycleResponse {
            renewal_invoices_issued: out.notices,
            renewed: out.renewed,
            moved_past_due: out.past_due,
            expired: out.expired,
            canceled: out.canceled,
        }))
    }

    async fn get_invoice(&self, request: Request<GetInvoiceRequest>) -> Result<Response<GetInvoiceResponse>, Status> {
        let principal = Principal::of(&request)?;
        let id = request.get_ref().invoice_id.trim();
        let db = self.db.get()?;
        let row = subscriptions::invoice(db, id)
            .await?
            .ok_or_else(|| Error::not_found("invoice", id))?;
        principal.may_act_for_account(&row.account_id)?;
        let payments = subscriptions::payments(db, id)
            .await?
            .into_iter()
            .map(payment)
            .collect();
        Ok(Response::new(GetInvoiceResponse {
            invoice: Some(invoice(row)),
            payments,
        }))
    }
}

impl Billing {
    /// Starts the first period: anchored on today in the account's zone.
    async fn activate(
        &self,
        tx: &mut tiejun_platform::db::Tx,
        subscription_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Error> {
        let sub = subscriptions::subscription_in(tx, subscription_id)
            .await?
            .ok_or_else(|| Error::not_found("subscription", subscription_id))?;
        let account = accounts::get_in(tx, &sub.account_id)
            .await?
            .ok_or_else(|| Error::not_found("account", &sub.account_id))?;
        let zone: Tz = account.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let anchor = period::anchor(now, zone);
        let (start, end) = period::instants(anchor, sub.period_months as u32, 0, zone);
        subscriptions::activate(tx, subscription_id, &anchor.to_string(), start, end).await?;
        if subscriptions::first_paid(tx, &account.account_id, now).await? {
            let event = CustomerActivated {
                account_id: account.account_id.clone(),
                contact_person_id: account.contact_person_id.clone(),
                contact_name: account.contact_name.clone(),
                city: account.city.clone(),
                plan_id: sub.plan_id.clone(),
                activated_at: Some(to_proto(now)),
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
}

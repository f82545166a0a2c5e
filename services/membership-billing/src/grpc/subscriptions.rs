//! `SubscriptionService`: each RPC decodes its request, authorises the
//! caller, runs one use case (`crate::app::subscriptions`) in one
//! transaction, and encodes the answer. Reads call the store directly.

use crate::domain::ids::{AccountId, InvoiceId, PersonId, PlanId, SubscriptionId};
use tiejun_platform::{
    auth::Principal,
    clock,
    error::Error,
    idempotency::{self, Key},
    paging::Page,
    stored::filter,
};
use tiejun_proto::billing::v1::{
    CancelSubscriptionRequest, CancelSubscriptionResponse, ChangePlanRequest, ChangePlanResponse, GetInvoiceRequest,
    GetInvoiceResponse, GetSubscriptionRequest, GetSubscriptionResponse, InvoiceKind, InvoiceStatus,
    ListInvoicesRequest, ListInvoicesResponse, ListSubscriptionsRequest, ListSubscriptionsResponse,
    RecordPaymentRequest, RecordPaymentResponse, RunRenewalCycleRequest, RunRenewalCycleResponse, SubscribeRequest,
    SubscribeResponse, SubscriptionState, subscription_service_server::SubscriptionService,
};

use super::Billing;
use crate::{
    app::subscriptions::{self as app, NewPayment, NewSubscription},
    convert,
    domain::money::Price,
    store::{reports, subscriptions},
};

#[tiejun_platform::grpc_service(SubscriptionService)]
impl Billing {
    async fn subscribe(&self, principal: &Principal, r: &SubscribeRequest) -> Result<SubscribeResponse, Error> {
        let sold_by = Some(r.sold_by_person_id.trim())
            .filter(|s| !s.is_empty())
            .map(PersonId::from);
        // A rep names only themselves as the seller, checked before anything else.
        if app::acting_rep(principal)
            && sold_by
                .as_ref()
                .is_some_and(|s| principal.rep_id.as_deref() != Some(s.as_str()))
        {
            return Err(Error::PermissionDenied("a rep records only their own sales".into()));
        }
        let key = Key::of(&principal.subject, "Subscribe", &r.idempotency_key, r)?;
        let new = NewSubscription {
            account_id: &AccountId::required("account_id", &r.account_id)?,
            plan_id: &PlanId::required("plan_id", &r.plan_id)?,
            sold_by: sold_by.as_ref(),
        };
        let now = self.now();
        idempotency::transact(self.db.get()?, key.as_ref(), now, async |tx| {
            let (s, inv) = app::subscribe(tx, now, principal, &new).await?;
            Ok(SubscribeResponse {
                subscription: Some(convert::subscription(s)),
                invoice: Some(convert::invoice(inv)),
            })
        })
        .await
    }

    async fn get_subscription(
        &self,
        principal: &Principal,
        r: &GetSubscriptionRequest,
    ) -> Result<GetSubscriptionResponse, Error> {
        let id = SubscriptionId::required("subscription_id", &r.subscription_id)?;
        let row = subscriptions::subscription(self.db.get()?, &id)
            .await?
            .ok_or_else(|| Error::missing(&id))?;
        principal.may_act_for_account(&row.account_id)?;
        Ok(GetSubscriptionResponse {
            subscription: Some(convert::subscription(row)),
        })
    }

    async fn record_payment(&self, r: &RecordPaymentRequest) -> Result<RecordPaymentResponse, Error> {
        let idempotency_key = r.idempotency_key.trim();
        if idempotency_key.is_empty() {
            return Err(Error::invalid(
                "idempotency_key",
                "is required: the same key never counts twice",
            ));
        }
        let price = Price::parse("amount", r.amount.as_ref()).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let method = r.method.trim();
        if method.is_empty() || method.len() > 40 {
            return Err(Error::invalid("method", "bank_transfer, card, alipay…"));
        }
        // One key space for every caller: a bank's retry through another client still counts once.
        let key = Key::of("payments", "RecordPayment", idempotency_key, r)?;
        let now = self.now();
        let received_at = match clock::instant("received_at", r.received_at.as_ref())? {
            None => now,
            Some(t) => clock::not_future("received_at", t, now)?,
        };
        let payment = NewPayment {
            invoice_id: &InvoiceId::required("invoice_id", &r.invoice_id)?,
            price,
            method,
            external_reference: r.external_reference.trim(),
            received_at,
            idempotency_key,
        };
        let response = idempotency::transact(self.db.get()?, key.as_ref(), now, async |tx| {
            let paid = app::record_payment(tx, now, &payment).await?;
            Ok(RecordPaymentResponse {
                payment: Some(convert::payment(paid.payment)),
                invoice: Some(convert::invoice(paid.invoice)),
                subscription: paid.subscription.map(convert::subscription),
            })
        })
        .await?;
        self.entitlements_changed();
        Ok(response)
    }

    async fn change_plan(&self, principal: &Principal, r: &ChangePlanRequest) -> Result<ChangePlanResponse, Error> {
        let subscription = SubscriptionId::required("subscription_id", &r.subscription_id)?;
        let plan = PlanId::required("plan_id", &r.plan_id)?;
        let key = Key::of(&principal.subject, "ChangePlan", &r.idempotency_key, r)?;
        let now = self.now();
        let response = idempotency::transact(self.db.get()?, key.as_ref(), now, async |tx| {
            let (sub, proration) = app::change_plan(tx, now, &subscription, &plan).await?;
            Ok(ChangePlanResponse {
                subscription: Some(convert::subscription(sub)),
                proration_invoice: proration.map(convert::invoice),
            })
        })
        .await?;
        self.entitlements_changed();
        Ok(response)
    }

    async fn cancel_subscription(
        &self,
        principal: &Principal,
        r: &CancelSubscriptionRequest,
    ) -> Result<CancelSubscriptionResponse, Error> {
        let id = SubscriptionId::required("subscription_id", &r.subscription_id)?;
        let now = self.now();
        let response = idempotency::transact(self.db.get()?, None, now, async |tx| {
            let sub = app::cancel(tx, principal, &id).await?;
            Ok(CancelSubscriptionResponse {
                subscription: Some(convert::subscription(sub)),
            })
        })
        .await?;
        self.entitlements_changed();
        Ok(response)
    }

    async fn list_subscriptions(&self, r: &ListSubscriptionsRequest) -> Result<ListSubscriptionsResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let state = filter::<SubscriptionState>("state", r.state)?;
        let filter = [r.account_id.trim(), r.plan_id.trim(), state, r.sold_by_person_id.trim()];
        let mut rows = reports::subscriptions(self.db.get()?, filter, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(ListSubscriptionsResponse {
            subscriptions: rows.into_iter().map(convert::subscription).collect(),
            next_page_token,
        })
    }

    async fn list_invoices(
        &self,
        principal: &Principal,
        r: &ListInvoicesRequest,
    ) -> Result<ListInvoicesResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let mut account = r.account_id.trim().to_owned();
        if let Some(own) = principal.own_account()? {
            // A call admitted by its account scope lists that account's invoices only.
            if account.is_empty() {
                account = own.to_owned();
            }
            principal.may_act_for_account(&account)?;
        }
        let status = filter::<InvoiceStatus>("status", r.status)?;
        let kind = filter::<InvoiceKind>("kind", r.kind)?;
        let filter = [account.as_str(), r.subscription_id.trim(), status, kind];
        let mut rows = reports::invoices(self.db.get()?, filter, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(ListInvoicesResponse {
            invoices: rows.into_iter().map(convert::invoice).collect(),
            next_page_token,
        })
    }

    async fn run_renewal_cycle(&self, _r: &RunRenewalCycleRequest) -> Result<RunRenewalCycleResponse, Error> {
        let out = self.renewal_cycle().await?;
        Ok(RunRenewalCycleResponse {
            renewal_invoices_issued: out.notices,
            renewed: out.renewed,
            moved_past_due: out.past_due,
            expired: out.expired,
            canceled: out.canceled,
        })
    }

    async fn get_invoice(&self, principal: &Principal, r: &GetInvoiceRequest) -> Result<GetInvoiceResponse, Error> {
        let id = InvoiceId::required("invoice_id", &r.invoice_id)?;
        let db = self.db.get()?;
        let row = subscriptions::invoice(db, &id)
            .await?
            .ok_or_else(|| Error::missing(&id))?;
        principal.may_act_for_account(&row.account_id)?;
        let payments = subscriptions::payments(db, &InvoiceId::from(id)).await?;
        Ok(GetInvoiceResponse {
            invoice: Some(convert::invoice(row)),
            payments: payments.into_iter().map(convert::payment).collect(),
        })
    }
}

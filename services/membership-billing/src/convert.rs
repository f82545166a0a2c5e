//! Rows as messages: what every handler encodes, in one place. Stored enums
//! are already typed on the row ([`tiejun_platform::stored::Named`]), so
//! nothing here parses a name.

use tiejun_platform::{
    auth::{Principal, Role},
    clock::to_proto,
    pii,
};
use tiejun_proto::billing::v1::{Account, AccountKind, Feature, Invoice, Money, Payment, Plan, Renewal, Subscription};

use crate::store::{
    accounts::AccountRow,
    catalog::{FeatureRow, PlanRow},
    reports::RenewalListRow,
    subscriptions::{InvoiceRow, PaymentRow, SubscriptionRow},
};

/// Roles that see an account's contact data whole.
const REVEAL: &[Role] = &[Role::Admin, Role::BillingAdmin];

/// An amount in a currency.
pub fn money(amount_minor: i64, currency: &str) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: currency.to_owned(),
    })
}

/// An account as `principal` may see it: phone and e-mail whole to billing
/// staff and to the account itself, masked to everyone else.
pub fn account(row: AccountRow, principal: &Principal) -> Account {
    let own = principal.account_id.as_deref() == Some(row.account_id.as_str());
    let reveal = own || principal.has_any(REVEAL);
    let d = row.details;
    Account {
        kind: if row.first_paid_at.is_some() {
            AccountKind::Customer
        } else {
            AccountKind::User
        } as i32,
        phone: if reveal { d.phone } else { pii::mask_phone(&d.phone) },
        email: if reveal { d.email } else { pii::mask_email(&d.email) },
        account_id: row.account_id.into(),
        company_name: d.company_name,
        contact_name: d.contact_name,
        city: d.city,
        time_zone: d.time_zone,
        lead_id: row.lead_id.unwrap_or_default().into(),
        sold_by_person_id: row.sold_by_person_id.unwrap_or_default().into(),
        created_at: Some(to_proto(row.created_at)),
        contact_person_id: row.contact_person_id.into(),
    }
}

/// A subscription.
pub fn subscription(r: SubscriptionRow) -> Subscription {
    let anchor_day = r
        .anchor_date
        .as_deref()
        .and_then(|d| d.get(8..10))
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    Subscription {
        state: r.state.0 as i32,
        price: money(r.price_minor, &r.currency),
        anchor_day,
        period_start: r.period_start.map(to_proto),
        period_end: r.period_end.map(to_proto),
        sold_by_person_id: r.sold_by_person_id.unwrap_or_default().into(),
        cancel_at_period_end: r.cancel_at_period_end,
        grace_ends_at: r.grace_ends_at.map(to_proto),
        created_at: Some(to_proto(r.created_at)),
        subscription_id: r.subscription_id.into(),
        account_id: r.account_id.into(),
        plan_id: r.plan_id.into(),
        plan_version: r.plan_version,
        pending_plan_id: r.pending_plan_id.unwrap_or_default().into(),
    }
}

/// An invoice.
pub fn invoice(r: InvoiceRow) -> Invoice {
    Invoice {
        kind: r.kind.0 as i32,
        status: r.status.0 as i32,
        amount: money(r.amount_minor, &r.currency),
        paid: money(r.paid_minor, &r.currency),
        period_start: r.period_start.map(to_proto),
        period_end: r.period_end.map(to_proto),
        issued_at: Some(to_proto(r.issued_at)),
        due_at: Some(to_proto(r.due_at)),
        invoice_id: r.invoice_id.into(),
        subscription_id: r.subscription_id.into(),
        account_id: r.account_id.into(),
    }
}

/// A payment.
pub fn payment(p: PaymentRow) -> Payment {
    Payment {
        amount: money(p.amount_minor, &p.currency),
        received_at: Some(to_proto(p.received_at)),
        payment_id: p.payment_id.into(),
        invoice_id: p.invoice_id.into(),
        method: p.method,
        external_reference: p.external_reference,
    }
}

/// A feature.
pub fn feature(r: FeatureRow) -> Feature {
    Feature {
        tier: r.tier.0 as i32,
        feature_key: r.feature_key,
        name: r.name,
        description: r.description,
        created_at: Some(to_proto(r.created_at)),
    }
}

/// A plan version.
pub fn plan(r: PlanRow) -> Plan {
    Plan {
        period: r.period.0 as i32,
        price: money(r.price_minor, &r.currency),
        plan_id: r.plan_id.into(),
        version: r.version,
        name: r.name,
        feature_keys: r.feature_keys,
        free: false,
        created_at: Some(to_proto(r.created_at)),
    }
}

/// A renewal record.
pub fn renewal(x: RenewalListRow) -> Renewal {
    Renewal {
        outcome: x.outcome.0 as i32,
        prior_price: money(x.prior_price_minor, &x.currency),
        quoted_price: money(x.quoted_price_minor, &x.currency),
        period_end: Some(to_proto(x.period_end)),
        subscription_id: x.subscription_id.into(),
        account_id: x.account_id.into(),
        sold_by_person_id: x.sold_by_person_id.into(),
        plan_id: x.plan_id.into(),
        reason: x.reason,
        invoice_id: x.invoice_id.into(),
    }
}

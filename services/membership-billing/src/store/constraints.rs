//! What each constraint of the membership-billing schema means to a caller
//! (see `tiejun_platform::constraint`); a test checks this table against
//! every constraint of the migrated schema on both backends.

use tiejun_platform::constraint::{
    Constraint,
    Meaning::{self, Duplicate, Invariant, Race},
};

use crate::domain::catalog::FREE_FOREVER;

/// Both `plans` and `subscriptions` read `price_minor > 0` (SQLite reports
/// the expression only); a subscription copies its plan's price.
const POSITIVE_PRICE: Meaning = Meaning::field("price.amount_minor", "must be a positive number of minor units");

/// Both `invoices` and `payments` read `amount_minor > 0`; an invoice's
/// amount comes from a plan's positive price, a payment's from the caller.
const POSITIVE_AMOUNT: Meaning = Meaning::field("amount.amount_minor", "must be a positive number of minor units");

/// Every unique, CHECK and foreign-key constraint of `migrations/`.
pub const CONSTRAINTS: &[Constraint] = &[
    // the catalog
    Constraint::unique("features_pkey", "features.feature_key", Duplicate("feature")),
    Constraint::check("features_tier_check", "tier IN ('FREE', 'PAID')", Invariant),
    Constraint::unique("plans_pkey", "plans.plan_id, plans.version", Duplicate("plan")),
    Constraint::check("plans_version_check", "version >= 1", Invariant),
    Constraint::check("plans_price_minor_check", "price_minor > 0", POSITIVE_PRICE),
    Constraint::check(
        "plans_currency_check",
        "length(currency) = 3",
        Meaning::field("price.currency", "must be an ISO 4217 code such as CNY"),
    ),
    Constraint::check("plans_period_check", "period IN ('MONTHLY', 'ANNUAL')", Invariant),
    Constraint::named_check(
        "plans_free_is_implicit",
        Meaning::rule(
            FREE_FOREVER,
            "the free plan is implicit: it always holds every free feature",
        ),
    ),
    Constraint::unique(
        "plan_features_pkey",
        "plan_features.plan_id, plan_features.version, plan_features.feature_key",
        Invariant,
    ),
    Constraint::foreign_key("plan_features_plan_id_version_fkey"),
    Constraint::foreign_key("plan_features_feature_key_fkey"),
    // accounts
    Constraint::unique("accounts_pkey", "accounts.account_id", Invariant),
    Constraint::unique(
        "accounts_contact_person_id_key",
        "accounts.contact_person_id",
        Duplicate("account"),
    ),
    Constraint::unique("accounts_one_per_lead", "accounts.lead_id", Duplicate("account")),
    // subscriptions
    Constraint::unique("subscriptions_pkey", "subscriptions.subscription_id", Invariant),
    Constraint::unique(
        "subscriptions_one_live",
        "subscriptions.account_id, subscriptions.plan_id",
        Duplicate("subscription"),
    ),
    Constraint::check("subscriptions_price_minor_check", "price_minor > 0", POSITIVE_PRICE),
    Constraint::check(
        "subscriptions_period_months_check",
        "period_months IN (1, 12)",
        Invariant,
    ),
    Constraint::check(
        "subscriptions_state_check",
        "state IN ('PENDING_PAYMENT', 'ACTIVE', 'PAST_DUE', 'EXPIRED', 'CANCELED')",
        Invariant,
    ),
    Constraint::named_check("subscriptions_active_has_period", Invariant),
    Constraint::foreign_key("subscriptions_account_id_fkey"),
    Constraint::foreign_key("subscriptions_plan_id_plan_version_fkey"),
    // invoices and payments
    Constraint::unique("invoices_pkey", "invoices.invoice_id", Invariant),
    // The renewal job on two replicas: the second finds the period invoiced.
    Constraint::unique(
        "invoices_one_per_period",
        "invoices.subscription_id, invoices.period_index",
        Race,
    ),
    Constraint::check(
        "invoices_kind_check",
        "kind IN ('INITIAL', 'RENEWAL', 'PRORATION')",
        Invariant,
    ),
    Constraint::check("invoices_status_check", "status IN ('OPEN', 'PAID', 'VOID')", Invariant),
    Constraint::check("invoices_amount_minor_check", "amount_minor > 0", POSITIVE_AMOUNT),
    Constraint::named_check(
        "invoices_never_overpaid",
        Meaning::rule("OVERPAYMENT", "more than is still due"),
    ),
    Constraint::foreign_key("invoices_subscription_id_fkey"),
    Constraint::unique("payments_pkey", "payments.payment_id", Invariant),
    // One payment key sent twice at once: the retry replays the first.
    Constraint::unique("payments_idempotency_key_key", "payments.idempotency_key", Race),
    Constraint::check("payments_amount_minor_check", "amount_minor > 0", POSITIVE_AMOUNT),
    Constraint::foreign_key("payments_invoice_id_fkey"),
    // renewals
    Constraint::unique("renewals_pkey", "renewals.subscription_id, renewals.period_index", Race),
    Constraint::check(
        "renewals_outcome_check",
        "outcome IN ('PENDING', 'RENEWED', 'CHURNED')",
        Invariant,
    ),
    Constraint::foreign_key("renewals_subscription_id_fkey"),
];

//! Who may call each RPC (DESIGN §3). Methods marked "own" in the contract
//! are open to any authenticated caller here and scoped by the handler
//! (an `account_id`-scoped token sees only its account).

use tiejun_platform::auth::{
    Allowed::{self, AnyAuthenticated, Roles},
    Policy,
    Role::{Admin, BillingAdmin, Operator, SalesManager, SalesRep, Service},
};

const CATALOG_ADMIN: Allowed = Roles(&[Admin, BillingAdmin]);
const OPERATORS: Allowed = Roles(&[Admin, Operator]);
const BILLING_VIEW: Allowed = Roles(&[Admin, BillingAdmin, Operator, SalesManager]);
/// Scoped by the handler to the caller's own account unless staff.
const OWN_ACCOUNT: Allowed = AnyAuthenticated;

/// The access policy of `tiejun.billing.v1` and the event consumer.
pub fn policy() -> Policy {
    Policy::for_packages(&[crate::PACKAGE, "tiejun.events.v1"])
        .service(
            "tiejun.billing.v1.CatalogService",
            &[
                ("CreateFeature", CATALOG_ADMIN),
                ("UpdateFeature", CATALOG_ADMIN),
                ("ListFeatures", AnyAuthenticated),
                ("CreatePlan", CATALOG_ADMIN),
                ("ChangePlanPrice", CATALOG_ADMIN),
                ("GetPlan", AnyAuthenticated),
                ("ListPlans", AnyAuthenticated),
            ],
        )
        .service(
            "tiejun.billing.v1.AccountService",
            &[
                ("RegisterMember", Roles(&[Admin, BillingAdmin, Operator, Service])),
                ("CreateAccountFromLead", Roles(&[Admin, BillingAdmin, Service])),
                ("GetAccount", OWN_ACCOUNT),
                ("ListAccounts", BILLING_VIEW),
            ],
        )
        .service(
            "tiejun.billing.v1.SubscriptionService",
            &[
                ("Subscribe", Roles(&[Admin, BillingAdmin, SalesRep])),
                ("GetSubscription", OWN_ACCOUNT),
                ("ListSubscriptions", BILLING_VIEW),
                ("ChangePlan", CATALOG_ADMIN),
                ("CancelSubscription", OWN_ACCOUNT),
                ("RecordPayment", Roles(&[Admin, BillingAdmin, Service])),
                ("GetInvoice", OWN_ACCOUNT),
                ("ListInvoices", OWN_ACCOUNT),
                ("RunRenewalCycle", OPERATORS),
            ],
        )
        .service(
            "tiejun.billing.v1.EntitlementService",
            &[("CheckEntitlement", OWN_ACCOUNT), ("ListEntitlements", OWN_ACCOUNT)],
        )
        .service(
            "tiejun.billing.v1.BillingReportService",
            &[
                ("GetRenewalRate", Roles(&[Admin, BillingAdmin, SalesManager, SalesRep])),
                ("ListRenewals", Roles(&[Admin, BillingAdmin, SalesManager])),
                ("GetConversionRate", Roles(&[Admin, BillingAdmin, SalesManager])),
                ("GetAnnualRecurringRevenue", CATALOG_ADMIN),
            ],
        )
        .service(
            "tiejun.billing.v1.OutboxService",
            &[
                ("GetOutboxStatus", OPERATORS),
                ("ListParkedEvents", OPERATORS),
                ("ReplayParkedEvents", OPERATORS),
            ],
        )
        .service(
            "tiejun.events.v1.EventConsumerService",
            &[("Deliver", Roles(&[Admin, Service]))],
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rpc_served_has_a_policy() {
        let missing = super::policy().missing_rules(&crate::services());
        assert!(missing.is_empty(), "RPCs without an access policy: {missing:?}");
    }
}

//! Who may call each RPC (DESIGN §3). Methods marked "own" in the contract
//! admit their listed roles and, of any other role, only a token with an
//! `account_id` scope; the handler then holds that token to its account.

use tiejun_platform::auth::{
    Allowed::{self, AnyAuthenticated, Roles, RolesOrScope},
    Policy, Role,
    Role::{Admin, BillingAdmin, Operator, SalesManager, SalesRep, Service},
    Scope,
};

const CATALOG_ADMIN: Allowed = Roles(&[Admin, BillingAdmin]);
const OPERATORS: Allowed = Roles(&[Admin, Operator]);
const BILLING_VIEW: Allowed = Roles(&[Admin, BillingAdmin, Operator, SalesManager]);
/// These roles for any account; any other caller only with an `account_id`
/// scope, which the handler then holds to that account.
const fn own_account_or(roles: &'static [Role]) -> Allowed {
    RolesOrScope(roles, Scope::Account)
}

/// The access policy of `tiejun.billing.v1` and the event consumer.
pub fn policy() -> Policy {
    Policy::for_storage_service(crate::PACKAGE)
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
                (
                    "GetAccount",
                    own_account_or(&[Admin, BillingAdmin, Operator, SalesManager]),
                ),
                ("ListAccounts", BILLING_VIEW),
            ],
        )
        .service(
            "tiejun.billing.v1.SubscriptionService",
            &[
                ("Subscribe", Roles(&[Admin, BillingAdmin, SalesRep])),
                ("GetSubscription", own_account_or(&[Admin, BillingAdmin, Operator])),
                ("ListSubscriptions", BILLING_VIEW),
                ("ChangePlan", CATALOG_ADMIN),
                ("CancelSubscription", own_account_or(&[Admin, BillingAdmin])),
                ("RecordPayment", Roles(&[Admin, BillingAdmin, Service])),
                ("GetInvoice", own_account_or(&[Admin, BillingAdmin, Operator])),
                ("ListInvoices", own_account_or(&[Admin, BillingAdmin, Operator])),
                ("RunRenewalCycle", OPERATORS),
            ],
        )
        .service(
            "tiejun.billing.v1.EntitlementService",
            &[
                ("CheckEntitlement", own_account_or(&[Service, Admin, BillingAdmin])),
                ("ListEntitlements", own_account_or(&[Service, Admin, BillingAdmin])),
            ],
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
}

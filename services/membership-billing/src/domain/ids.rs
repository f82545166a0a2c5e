//! What billing's ids name ([`tiejun_platform::id`]).

tiejun_platform::id_kinds! {
    /// A member's account.
    Account => AccountId, "account";
    /// A plan of the catalog.
    Plan => PlanId, "plan";
    /// A subscription to a plan.
    Subscription => SubscriptionId, "subscription";
    /// An invoice.
    Invoice => InvoiceId, "invoice";
    /// A payment received against an invoice.
    Payment => PaymentId, "payment";
    /// A person: the salesperson who sold, an account's contact.
    Person => PersonId, "person";
    /// Lead distribution's lead an account came from.
    Lead => LeadId, "lead";
}

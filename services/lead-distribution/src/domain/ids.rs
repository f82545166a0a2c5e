//! What lead distribution's ids name ([`tiejun_platform::id`]).

tiejun_platform::id_kinds! {
    /// A lead.
    Lead => LeadId, "lead";
    /// A person: a rep's, a manager's or an actor's employee number.
    Person => PersonId, "rep";
    /// One distribution run.
    Run => RunId, "distribution run";
    /// One ownership period of a lead (an assignment).
    Assignment => AssignmentId, "assignment";
    /// Billing's account a converted lead became.
    Account => AccountId, "account";
    /// Billing's subscription a renewal lead renews.
    Subscription => SubscriptionId, "subscription";
}

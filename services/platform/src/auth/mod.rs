//! Authentication and authorisation: HS256 JWTs, the roles of the suite, the
//! caller's principal, per-RPC policies and the tower layer that enforces them.

mod jwt;
mod layer;
mod policy;

pub use jwt::{Claims, JwtKeys, MIN_SECRET_LEN, TokenSpec};
pub use layer::{Auth, is_exempt};
pub use policy::{Allowed, Policy, Scope};

use crate::error::Error;

/// The longest `authorization` header accepted, in bytes: a signed token with
/// every claim the suite uses is under 1 KiB. A longer one is UNAUTHENTICATED
/// for its call alone (the connection's other calls go on).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A role named in a token's `roles` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Everything.
    Admin,
    /// Runs the suite: jobs, outboxes, imports.
    Operator,
    /// Manages a sales team.
    SalesManager,
    /// A salesperson; acts only on their own leads (`rep_id` scope).
    SalesRep,
    /// Manages the catalog, subscriptions and payments.
    BillingAdmin,
    /// Runs programmes and sessions.
    Trainer,
    /// Another tiejun service or an internal client.
    Service,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Operator,
        Role::SalesManager,
        Role::SalesRep,
        Role::BillingAdmin,
        Role::Trainer,
        Role::Service,
    ];

    /// The name used in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::SalesManager => "sales_manager",
            Role::SalesRep => "sales_rep",
            Role::BillingAdmin => "billing_admin",
            Role::Trainer => "trainer",
            Role::Service => "service",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!(
                "unknown role {s:?} (one of: {})",
                Role::ALL.map(Role::as_str).join(", ")
            )
        })
    }
}

/// The authenticated caller, put on every request's extensions by [`Auth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject.
    pub subject: String,
    /// Recognised roles (unknown role names in the token are ignored).
    pub roles: Vec<Role>,
    /// Scope: the rep this token acts as.
    pub rep_id: Option<String>,
    /// Scope: the billing account this token acts for.
    pub account_id: Option<String>,
    /// Scope: the learner this token acts as.
    pub learner_id: Option<String>,
    /// Scope: the team a sales manager manages (none: every team).
    pub team: Option<String>,
    /// How far this call reaches, decided by the policy's rule for it.
    pub reach: Reach,
}

/// How far a call reaches: decided once, by the policy rule that admitted it
/// ([`Allowed::RolesOrScope`]), so handlers do not keep role lists of their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reach {
    /// Admitted by role (or by a rule without scope): acts for anyone.
    #[default]
    Anyone,
    /// Admitted only by its scope claim: acts for that account or learner.
    OwnScope,
}

impl Principal {
    /// The account this call is limited to (`None`: any account), or
    /// PERMISSION_DENIED when it is limited and names none.
    pub fn own_account(&self) -> Result<Option<&str>, Error> {
        own(self.reach, self.account_id.as_deref(), "account_id")
    }

    /// The learner this call is limited to (`None`: any learner), as for
    /// [`Principal::own_account`].
    pub fn own_learner(&self) -> Result<Option<&str>, Error> {
        own(self.reach, self.learner_id.as_deref(), "learner_id")
    }

    /// Ok when this call may act for `account_id`.
    pub fn may_act_for_account(&self, account_id: &str) -> Result<(), Error> {
        only(self.own_account()?, account_id, "account")
    }

    /// Ok when this call may act for `learner_id`.
    pub fn may_act_for_learner(&self, learner_id: &str) -> Result<(), Error> {
        only(self.own_learner()?, learner_id, "learner")
    }

    /// True when the principal holds any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }

    /// The principal of a request that passed [`Auth`].
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Principal, Error> {
        request
            .extensions()
            .get::<Principal>()
            .ok_or_else(|| Error::Unauthenticated("missing credentials".into()))
    }
}

fn own<'a>(reach: Reach, claim: Option<&'a str>, name: &str) -> Result<Option<&'a str>, Error> {
    match (reach, claim) {
        (Reach::Anyone, _) => Ok(None),
        (Reach::OwnScope, Some(id)) => Ok(Some(id)),
        (Reach::OwnScope, None) => Err(Error::PermissionDenied(format!("this call needs a {name} scope"))),
    }
}

fn only(own: Option<&str>, wanted: &str, what: &str) -> Result<(), Error> {
    match own {
        Some(id) if id != wanted => Err(Error::PermissionDenied(format!(
            "a token scoped to one {what} acts only for that {what}"
        ))),
        _ => Ok(()),
    }
}

//! Which roles may call which RPC. Every RPC of a service names its roles;
//! a method of the service's packages without a rule is refused (fail closed).

use std::collections::HashMap;

use super::{Principal, Reach, Role};
use crate::error::Error;

/// Who may call one RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Any caller with a valid token.
    AnyAuthenticated,
    /// Only these roles (scope checks such as "own leads" are the handler's).
    Roles(&'static [Role]),
    /// These roles, or a token of any role carrying the scope claim: the
    /// handler then limits it to the account or learner the claim names. An
    /// unscoped token of another role is refused here, before the handler
    /// reads or validates anything.
    RolesOrScope(&'static [Role], Scope),
}

/// The scope claim an [`Allowed::RolesOrScope`] rule accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `account_id`: a member account acting for itself.
    Account,
    /// `learner_id`: a learner acting for itself.
    Learner,
}

impl Scope {
    fn claim(self) -> &'static str {
        match self {
            Scope::Account => "account_id",
            Scope::Learner => "learner_id",
        }
    }

    fn held_by(self, principal: &Principal) -> bool {
        match self {
            Scope::Account => principal.account_id.is_some(),
            Scope::Learner => principal.learner_id.is_some(),
        }
    }
}

/// A service's authorisation table, keyed by HTTP/2 path.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: HashMap<String, Allowed>,
    packages: Vec<String>,
    knows_teams: bool,
}

impl Policy {
    /// An empty policy guarding `packages` (e.g. `tiejun.leads.v1`).
    pub fn for_packages(packages: &[&str]) -> Self {
        Self {
            rules: HashMap::new(),
            packages: packages.iter().map(|p| (*p).to_owned()).collect(),
            knows_teams: false,
        }
    }

    /// The policy of a storage-backed service owning `package`, with the
    /// rules of the platform's services every one of them answers: its
    /// `OutboxService` (operators: status, parked events, replay) and the
    /// event consumer (`Deliver`: the relay's service token, or an admin).
    pub fn for_storage_service(package: &str) -> Self {
        const OPERATORS: Allowed = Allowed::Roles(&[Role::Admin, Role::Operator]);
        Self::for_packages(&[package, "tiejun.events.v1"])
            .service(
                &format!("{package}.OutboxService"),
                &[
                    ("GetOutboxStatus", OPERATORS),
                    ("ListParkedEvents", OPERATORS),
                    ("ReplayParkedEvents", OPERATORS),
                ],
            )
            .service(
                "tiejun.events.v1.EventConsumerService",
                &[("Deliver", Allowed::Roles(&[Role::Admin, Role::Service]))],
            )
    }

    /// The service holds a team-limited manager (a `team` claim) to their
    /// team itself. Elsewhere such a token's sales_manager role does not
    /// count: a service that cannot apply the claim refuses what it guards
    /// (fail closed).
    pub fn with_teams(mut self) -> Self {
        self.knows_teams = true;
        self
    }

    /// Adds the rules of one service (`tiejun.leads.v1.LeadService`).
    pub fn service(mut self, service: &str, rules: &[(&str, Allowed)]) -> Self {
        for (method, allowed) in rules {
            self.rules.insert(format!("/{service}/{method}"), *allowed);
        }
        self
    }

    /// The rule for a path, if any.
    pub fn rule(&self, path: &str) -> Option<Allowed> {
        self.rules.get(path).copied()
    }

    /// Every path with a rule.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.rules.keys().map(String::as_str)
    }

    /// The paths of every RPC of `services` (read from the descriptors) that
    /// has no rule: a test asserts it is empty, so no RPC ships unguarded.
    pub fn missing_rules(&self, services: &[String]) -> Vec<String> {
        tiejun_proto::methods()
            .into_iter()
            .filter(|m| services.contains(&m.service) && self.rule(&m.path).is_none())
            .map(|m| m.path)
            .collect()
    }

    /// Decides whether `principal` may call `path`, and how far the call
    /// reaches. Paths outside the guarded packages pass (the router answers
    /// UNIMPLEMENTED for unknown ones).
    pub fn check(&self, path: &str, principal: &Principal) -> Result<Reach, Error> {
        let teamless = !self.knows_teams && principal.team.is_some();
        let has_any = |roles: &[Role]| {
            principal
                .roles
                .iter()
                .any(|r| roles.contains(r) && !(teamless && *r == Role::SalesManager))
        };
        match self.rule(path) {
            Some(Allowed::AnyAuthenticated) => Ok(Reach::Anyone),
            Some(Allowed::Roles(roles)) if has_any(roles) => Ok(Reach::Anyone),
            Some(Allowed::Roles(roles)) if teamless && roles.contains(&Role::SalesManager) => {
                Err(Error::PermissionDenied(format!(
                    "{path} cannot hold a team-limited sales_manager token to its team: use one without a team claim"
                )))
            }
            Some(Allowed::Roles(roles)) => Err(Error::PermissionDenied(format!(
                "{path} needs one of the roles: {}",
                names(roles)
            ))),
            Some(Allowed::RolesOrScope(roles, _)) if has_any(roles) => Ok(Reach::Anyone),
            Some(Allowed::RolesOrScope(_, scope)) if scope.held_by(principal) => Ok(Reach::OwnScope),
            Some(Allowed::RolesOrScope(roles, scope)) => Err(Error::PermissionDenied(format!(
                "{path} needs one of the roles: {}, or a token with a {} scope",
                names(roles),
                scope.claim()
            ))),
            None if self.guards(path) => Err(Error::PermissionDenied(format!("{path} has no access policy"))),
            None => Ok(Reach::Anyone),
        }
    }

    fn guards(&self, path: &str) -> bool {
        self.packages.iter().any(|p| {
            path.strip_prefix('/')
                .is_some_and(|rest| rest.strip_prefix(p.as_str()).is_some_and(|r| r.starts_with('.')))
        })
    }
}

fn names(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role]) -> Principal {
        Principal {
            subject: "t".into(),
            roles: roles.to_vec(),
            rep_id: None,
            account_id: None,
            learner_id: None,
            team: None,
            reach: Reach::Anyone,
        }
    }

    fn policy() -> Policy {
        Policy::for_packages(&["tiejun.leads.v1"]).service(
            "tiejun.leads.v1.LeadService",
            &[
                ("ClaimLead", Allowed::Roles(&[Role::SalesRep])),
                ("GetLead", Allowed::AnyAuthenticated),
            ],
        )
    }

    #[test]
    fn a_team_limited_manager_is_a_manager_only_where_teams_are_known() {
        let rule = |knows: bool| {
            let p = Policy::for_packages(&["tiejun.billing.v1"]).service(
                "tiejun.billing.v1.AccountService",
                &[("ListAccounts", Allowed::Roles(&[Role::SalesManager]))],
            );
            if knows { p.with_teams() } else { p }
        };
        let mut manager = principal(&[Role::SalesManager]);
        let path = "/tiejun.billing.v1.AccountService/ListAccounts";
        assert!(
            rule(false).check(path, &manager).is_ok(),
            "a manager without a team claim"
        );
        manager.team = Some("Hangzhou-1".into());
        assert!(matches!(
            rule(false).check(path, &manager),
            Err(Error::PermissionDenied(_))
        ));
        assert!(rule(true).check(path, &manager).is_ok());
    }

    #[test]
    fn role_outside_the_rule_is_denied() {
        let err = policy().check("/tiejun.leads.v1.LeadService/ClaimLead", &principal(&[Role::Trainer]));
        assert!(matches!(err, Err(Error::PermissionDenied(_))));
        assert!(
            policy()
                .check("/tiejun.leads.v1.LeadService/ClaimLead", &principal(&[Role::SalesRep]))
                .is_ok()
        );
    }

    #[test]
    fn a_scoped_rule_admits_its_roles_and_any_role_holding_the_scope_claim() {
        let rule = Policy::for_packages(&["tiejun.billing.v1"]).service(
            "tiejun.billing.v1.EntitlementService",
            &[(
                "CheckEntitlement",
                Allowed::RolesOrScope(&[Role::Service], Scope::Account),
            )],
        );
        let path = "/tiejun.billing.v1.EntitlementService/CheckEntitlement";
        assert!(rule.check(path, &principal(&[Role::Service])).is_ok());
        let mut member = principal(&[Role::SalesRep]);
        assert!(matches!(
            rule.check(path, &member),
            Err(Error::PermissionDenied(m)) if m.contains("account_id")
        ));
        member.account_id = Some("A1".into());
        assert_eq!(
            rule.check(path, &member).ok(),
            Some(Reach::OwnScope),
            "limited to its account"
        );
        assert_eq!(rule.check(path, &principal(&[Role::Service])).ok(), Some(Reach::Anyone));
        member.learner_id = Some("L1".into());
        member.account_id = None;
        assert!(
            rule.check(path, &member).is_err(),
            "a learner scope is not an account scope"
        );
    }

    #[test]
    fn guarded_method_without_rule_fails_closed() {
        let err = policy().check("/tiejun.leads.v1.LeadService/Forgotten", &principal(&[Role::Admin]));
        assert!(matches!(err, Err(Error::PermissionDenied(_))));
    }

    #[test]
    fn foreign_paths_pass_to_the_router() {
        assert!(policy().check("/tiejun.leadsx.v1.X/Y", &principal(&[])).is_ok());
        assert!(policy().check("/other.v1.S/M", &principal(&[])).is_ok());
    }
}

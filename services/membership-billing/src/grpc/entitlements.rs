//! `EntitlementService` (`app::entitlements`), with answers cached for at
//! most a second and forgotten by every write that can change them.

use crate::domain::ids::AccountId;
use tiejun_platform::{Error, auth::Principal, clock::to_proto, id};
use tiejun_proto::billing::v1::{
    CheckEntitlementRequest, CheckEntitlementResponse, Entitlement, ListEntitlementsRequest, ListEntitlementsResponse,
    entitlement_service_server::EntitlementService,
};

use super::Billing;
use crate::app::entitlements::{self, Grant};

/// A grant (or none) as the answer.
fn answer(grant: Option<Grant>) -> CheckEntitlementResponse {
    match grant {
        Some(g) => CheckEntitlementResponse {
            allowed: true,
            source: g.source as i32,
            valid_until: g.valid_until.map(to_proto),
        },
        None => CheckEntitlementResponse::default(),
    }
}

/// Entitlement checks answered, by outcome and source.
static CHECKS: std::sync::LazyLock<opentelemetry::metrics::Counter<u64>> = std::sync::LazyLock::new(|| {
    tiejun_platform::metrics::domain_counter(
        "billing",
        "tiejun.billing.entitlement_checks",
        "{check}",
        "Entitlement checks answered",
    )
});

#[tiejun_platform::grpc_service(EntitlementService)]
impl Billing {
    async fn check_entitlement(
        &self,
        principal: &Principal,
        r: &CheckEntitlementRequest,
    ) -> Result<CheckEntitlementResponse, Error> {
        let answer = self.check(principal, r).await?;
        let a = &answer;
        CHECKS.add(
            1,
            &[
                opentelemetry::KeyValue::new("allowed", a.allowed),
                opentelemetry::KeyValue::new("source", a.source().as_str_name()),
            ],
        );
        Ok(answer)
    }

    async fn list_entitlements(
        &self,
        principal: &Principal,
        r: &ListEntitlementsRequest,
    ) -> Result<ListEntitlementsResponse, Error> {
        let account_id = AccountId::required("account_id", &r.account_id)?;
        principal.may_act_for_account(&account_id)?;
        let grants = entitlements::list(self.db.get()?, &account_id, self.now()).await?;
        let entitlements = grants
            .into_iter()
            .map(|(feature_key, g)| Entitlement {
                feature_key,
                source: g.source as i32,
                valid_until: g.valid_until.map(to_proto),
            })
            .collect();
        Ok(ListEntitlementsResponse { entitlements })
    }
}

impl Billing {
    async fn check(
        &self,
        principal: &Principal,
        r: &CheckEntitlementRequest,
    ) -> Result<CheckEntitlementResponse, Error> {
        let account_id = id::required("account_id", &r.account_id)?;
        principal.may_act_for_account(account_id)?;
        let feature = id::required("feature_key", &r.feature_key)?;
        let now = self.clock.now();
        if let Some(hit) = self.entitlements.get(account_id, feature, now.timestamp()) {
            return Ok(hit);
        }
        let response = answer(entitlements::check(self.db.get()?, &AccountId::from(account_id), feature, now).await?);
        self.entitlements.put(account_id, feature, response);
        Ok(response)
    }
}

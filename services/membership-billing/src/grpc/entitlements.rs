//! `EntitlementService`: may this account use this feature now? FREE
//! features: always (the free tier, forever). PAID features: while a plan
//! that includes them is in its period, or in grace.

use tiejun_platform::{auth::Principal, clock::to_proto, error::Error};
use tiejun_proto::billing::v1::{
    CheckEntitlementRequest, CheckEntitlementResponse, Entitlement, EntitlementSource, ListEntitlementsRequest,
    ListEntitlementsResponse, entitlement_service_server::EntitlementService,
};
use tonic::{Request, Response, Status};

use super::Billing;
use crate::store::{accounts, catalog, subscriptions};

fn source(name: &str) -> EntitlementSource {
    if name == "GRACE" {
        EntitlementSource::Grace
    } else {
        EntitlementSource::Plan
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

#[tonic::async_trait]
impl EntitlementService for Billing {
    async fn check_entitlement(
        &self,
        request: Request<CheckEntitlementRequest>,
    ) -> Result<Response<CheckEntitlementResponse>, Status> {
        let answer = self.check(request).await?;
        let a = answer.get_ref();
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
        request: Request<ListEntitlementsRequest>,
    ) -> Result<Response<ListEntitlementsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let account_id = request.get_ref().account_id.trim();
        principal.may_act_for_account(account_id)?;
        let db = self.db.get()?;
        accounts::get(db, account_id)
            .await?
            .ok_or_else(|| Error::not_found("account", account_id))?;
        let now = self.clock.now();
        let mut entitlements: Vec<Entitlement> = catalog::free_features(db)
            .await?
            .into_iter()
            .map(|feature_key| Entitlement {
                feature_key,
                source: EntitlementSource::FreeTier as i32,
                valid_until: None,
            })
            .collect();
        for feature_key in catalog::paid_feature_keys(db).await? {
            if let Some((from, until)) = subscriptions::paid_entitlement(db, account_id, &feature_key, now).await? {
                entitlements.push(Entitlement {
                    feature_key,
                    source: source(&from) as i32,
                    valid_until: Some(to_proto(until)),
                });
            }
        }
        Ok(Response::new(ListEntitlementsResponse { entitlements }))
    }
}

impl Billing {
    async fn check(
        &self,
        request: Request<CheckEntitlementRequest>,
    ) -> Result<Response<CheckEntitlementResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let account_id = r.account_id.trim();
        principal.may_act_for_account(account_id)?;
        let feature = r.feature_key.trim();
        let now = self.clock.now();
        if let Some(hit) = self.entitlements.get(account_id, feature, now.timestamp()) {
            return Ok(Response::new(hit));
        }
        let db = self.db.get()?;
        let tier = catalog::tier_of(db, feature)
            .await?
            .ok_or_else(|| Error::not_found("feature", feature))?;
        accounts::get(db, account_id)
            .await?
            .ok_or_else(|| Error::not_found("account", account_id))?;
        if tier == "FREE" {
            let free = CheckEntitlementResponse {
                allowed: true,
                source: EntitlementSource::FreeTier as i32,
                valid_until: None,
            };
            self.entitlements.put(account_id, feature, free);
            return Ok(Response::new(free));
        }
        let now = self.clock.now();
        let response = match subscriptions::paid_entitlement(db, account_id, feature, now).await? {
            Some((from, until)) => CheckEntitlementResponse {
                allowed: true,
                source: source(&from) as i32,
                valid_until: Some(to_proto(until)),
            },
            None => CheckEntitlementResponse::default(),
        };
        self.entitlements.put(account_id, feature, response);
        Ok(Response::new(response))
    }
}

//! `CatalogService`: features and plans, under the free-forever rule.

use tiejun_platform::{
    clock::to_proto,
    error::{Error, FieldViolation},
    paging::Page,
};
use tiejun_proto::billing::v1::{
    BillingPeriod, ChangePlanPriceRequest, ChangePlanPriceResponse, CreateFeatureRequest, CreateFeatureResponse,
    CreatePlanRequest, CreatePlanResponse, Feature, FeatureTier, GetPlanRequest, GetPlanResponse, ListFeaturesRequest,
    ListFeaturesResponse, ListPlansRequest, ListPlansResponse, Money, Plan, UpdateFeatureRequest,
    UpdateFeatureResponse, catalog_service_server::CatalogService,
};
use tonic::{Request, Response, Status};

use super::Billing;
use crate::{
    domain::{
        catalog::{FREE_FOREVER, FREE_PLAN, NewPlan, key, text, tier_change, tier_name},
        money::{DEFAULT_CURRENCY, Price},
    },
    store::catalog::{self, FeatureRow, PlanRow},
};

fn tier(name: &str) -> FeatureTier {
    FeatureTier::from_str_name(&format!("FEATURE_TIER_{name}")).unwrap_or_default()
}

fn feature(r: FeatureRow) -> Feature {
    Feature {
        tier: tier(&r.tier) as i32,
        feature_key: r.feature_key,
        name: r.name,
        description: r.description,
        created_at: Some(to_proto(r.created_at)),
    }
}

fn plan(r: PlanRow) -> Plan {
    Plan {
        period: BillingPeriod::from_str_name(&format!("BILLING_PERIOD_{}", r.period)).unwrap_or_default() as i32,
        price: Some(Money {
            amount_minor: r.price_minor,
            currency: r.currency,
        }),
        plan_id: r.plan_id,
        version: r.version,
        name: r.name,
        feature_keys: r.feature_keys,
        free: false,
        created_at: Some(to_proto(r.created_at)),
    }
}

impl Billing {
    /// The implicit free plan: every FREE feature, at no price, forever.
    async fn free_plan(&self) -> Result<Plan, Error> {
        let db = self.db.get()?;
        Ok(Plan {
            plan_id: FREE_PLAN.into(),
            version: 1,
            name: "Free membership (information services, forever)".into(),
            price: Some(Money {
                amount_minor: 0,
                currency: DEFAULT_CURRENCY.into(),
            }),
            period: BillingPeriod::Annual as i32,
            feature_keys: catalog::free_features(db).await?,
            free: true,
            created_at: None,
        })
    }
}

fn invalid(v: FieldViolation) -> Error {
    Error::InvalidArgument(vec![v])
}

#[tonic::async_trait]
impl CatalogService for Billing {
    async fn create_feature(
        &self,
        request: Request<CreateFeatureRequest>,
    ) -> Result<Response<CreateFeatureResponse>, Status> {
        let r = request.get_ref();
        let k = key("feature_key", &r.feature_key).map_err(invalid)?;
        let name = text("name", &r.name, 200).map_err(invalid)?;
        let description = r.description.trim();
        let t = match FeatureTier::try_from(r.tier) {
            Ok(t @ (FeatureTier::Free | FeatureTier::Paid)) => t,
            _ => return Err(Error::invalid("tier", "must be FREE or PAID").into()),
        };
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        catalog::create_feature(&mut tx, &k, &name, description, tier_name(t), now).await?;
        let row = catalog::lock_feature(&mut tx, &k)
            .await?
            .ok_or_else(|| Error::not_found("feature", &k))?;
        tx.commit().await?;
        Ok(Response::new(CreateFeatureResponse {
            feature: Some(feature(row)),
        }))
    }

    async fn update_feature(
        &self,
        request: Request<UpdateFeatureRequest>,
    ) -> Result<Response<UpdateFeatureResponse>, Status> {
        let r = request.get_ref();
        let k = key("feature_key", &r.feature_key).map_err(invalid)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        let mut row = catalog::lock_feature(&mut tx, &k)
            .await?
            .ok_or_else(|| Error::not_found("feature", &k))?;
        if !r.name.trim().is_empty() {
            row.name = text("name", &r.name, 200).map_err(invalid)?;
        }
        if !r.description.trim().is_empty() {
            row.description = r.description.trim().to_owned();
        }
        match FeatureTier::try_from(r.tier) {
            Ok(FeatureTier::Unspecified) => {}
            Ok(to) => {
                tier_change(tier(&row.tier), to)?;
                row.tier = tier_name(to).to_owned();
            }
            Err(_) => return Err(Error::invalid("tier", "unknown tier").into()),
        }
        catalog::update_feature(&mut tx, &row, now).await?;
        tx.commit().await?;
        self.entitlements_changed();
        Ok(Response::new(UpdateFeatureResponse {
            feature: Some(feature(row)),
        }))
    }

    async fn list_features(
        &self,
        request: Request<ListFeaturesRequest>,
    ) -> Result<Response<ListFeaturesResponse>, Status> {
        let r = request.get_ref();
        let page = Page::parse(r.page_size, &r.page_token)?;
        let t = match FeatureTier::try_from(r.tier) {
            Ok(FeatureTier::Unspecified) => "",
            Ok(t) => tier_name(t),
            Err(_) => return Err(Error::invalid("tier", "unknown tier").into()),
        };
        let db = self.db.get()?;
        let mut rows = catalog::features(db, t, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(Response::new(ListFeaturesResponse {
            features: rows.into_iter().map(feature).collect(),
            next_page_token,
        }))
    }

    async fn create_plan(&self, request: Request<CreatePlanRequest>) -> Result<Response<CreatePlanResponse>, Status> {
        let new = NewPlan::parse(request.get_ref())?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        let tiers = catalog::tiers(&mut tx, &new.feature_keys).await?;
        for k in &new.feature_keys {
            match tiers.iter().find(|(key, _)| key == k) {
                None => return Err(Error::invalid("feature_keys", format!("no feature {k}")).into()),
                Some((_, t)) if t == "FREE" => {
                    return Err(
                        Error::precondition(FREE_FOREVER, format!("{k} is free: it cannot be sold in a plan")).into(),
                    );
                }
                Some(_) => {}
            }
        }
        catalog::insert_plan(&mut tx, &new, 1, now).await?;
        let row = catalog::latest_in(&mut tx, &new.plan_id)
            .await?
            .ok_or_else(|| Error::not_found("plan", &new.plan_id))?;
        tx.commit().await?;
        Ok(Response::new(CreatePlanResponse { plan: Some(plan(row)) }))
    }

    async fn change_plan_price(
        &self,
        request: Request<ChangePlanPriceRequest>,
    ) -> Result<Response<ChangePlanPriceResponse>, Status> {
        let r = request.get_ref();
        let id = key("plan_id", &r.plan_id).map_err(invalid)?;
        if id == FREE_PLAN {
            return Err(Error::precondition(FREE_FOREVER, "the free plan has no price, forever").into());
        }
        let price = Price::parse("price", r.price.as_ref()).map_err(invalid)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        let current = catalog::latest_in(&mut tx, &id)
            .await?
            .ok_or_else(|| Error::not_found("plan", &id))?;
        let next = NewPlan {
            plan_id: id.clone(),
            name: current.name.clone(),
            price,
            period: if current.period == "MONTHLY" {
                "MONTHLY"
            } else {
                "ANNUAL"
            },
            feature_keys: current.feature_keys.clone(),
        };
        // A concurrent change of the same plan loses on the (plan_id, version) key: ABORTED, retry.
        match catalog::insert_plan(&mut tx, &next, current.version + 1, now).await {
            Err(Error::AlreadyExists { .. }) => {
                return Err(Error::Aborted("the plan changed concurrently; retry".into()).into());
            }
            other => other?,
        }
        let row = catalog::latest_in(&mut tx, &id)
            .await?
            .ok_or_else(|| Error::not_found("plan", &id))?;
        tx.commit().await?;
        Ok(Response::new(ChangePlanPriceResponse { plan: Some(plan(row)) }))
    }

    async fn get_plan(&self, request: Request<GetPlanRequest>) -> Result<Response<GetPlanResponse>, Status> {
        let r = request.get_ref();
        if r.plan_id.trim() == FREE_PLAN {
            return Ok(Response::new(GetPlanResponse {
                plan: Some(self.free_plan().await?),
            }));
        }
        let db = self.db.get()?;
        let id = r.plan_id.trim();
        let row = catalog::get_plan(db, id, r.version.max(0))
            .await?
            .ok_or_else(|| Error::not_found("plan", id))?;
        Ok(Response::new(GetPlanResponse { plan: Some(plan(row)) }))
    }

    async fn list_plans(&self, request: Request<ListPlansRequest>) -> Result<Response<ListPlansResponse>, Status> {
        let r = request.get_ref();
        let page = Page::parse(r.page_size, &r.page_token)?;
        let db = self.db.get()?;
        let mut ids = catalog::plan_ids(db, &page).await?;
        let next_page_token = page.finish(&mut ids);
        let mut plans = Vec::new();
        if page.offset == 0 {
            plans.push(self.free_plan().await?);
        }
        for id in ids {
            if let Some(row) = catalog::get_plan(db, &id, 0).await? {
                plans.push(plan(row));
            }
        }
        Ok(Response::new(ListPlansResponse { plans, next_page_token }))
    }
}

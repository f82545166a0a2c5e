//! `CatalogService`: features and plans under the free-forever rule
//! (`app::catalog`).

use crate::domain::ids::PlanId;
use tiejun_platform::{
    error::{Error, FieldViolation},
    idempotency,
    paging::Page,
    stored::filter,
};
use tiejun_proto::billing::v1::{
    ChangePlanPriceRequest, ChangePlanPriceResponse, CreateFeatureRequest, CreateFeatureResponse, CreatePlanRequest,
    CreatePlanResponse, FeatureTier, GetPlanRequest, GetPlanResponse, ListFeaturesRequest, ListFeaturesResponse,
    ListPlansRequest, ListPlansResponse, UpdateFeatureRequest, UpdateFeatureResponse,
    catalog_service_server::CatalogService,
};

use super::Billing;
use crate::{
    app::catalog::{self as app, FeatureChange, NewFeature},
    convert,
    domain::{
        catalog::{FREE_PLAN, NewPlan, key, text},
        money::Price,
    },
    store::catalog,
};

fn invalid(v: FieldViolation) -> Error {
    Error::InvalidArgument(vec![v])
}

/// A trimmed text, `None` when empty.
fn given(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

#[tiejun_platform::grpc_service(CatalogService)]
impl Billing {
    async fn create_feature(&self, r: &CreateFeatureRequest) -> Result<CreateFeatureResponse, Error> {
        let new = NewFeature {
            key: key("feature_key", &r.feature_key).map_err(invalid)?,
            name: text("name", &r.name, 200).map_err(invalid)?,
            description: r.description.trim().to_owned(),
            tier: match FeatureTier::try_from(r.tier) {
                Ok(t @ (FeatureTier::Free | FeatureTier::Paid)) => t,
                _ => return Err(Error::invalid("tier", "must be FREE or PAID")),
            },
        };
        let now = self.now();
        idempotency::transact(self.db.get()?, None, now, async |tx| {
            let row = app::create_feature(tx, now, &new).await?;
            Ok(CreateFeatureResponse {
                feature: Some(convert::feature(row)),
            })
        })
        .await
    }

    async fn update_feature(&self, r: &UpdateFeatureRequest) -> Result<UpdateFeatureResponse, Error> {
        let k = key("feature_key", &r.feature_key).map_err(invalid)?;
        let change = FeatureChange {
            name: given(&r.name)
                .map(|n| text("name", n, 200))
                .transpose()
                .map_err(invalid)?,
            description: given(&r.description).map(str::to_owned),
            tier: match FeatureTier::try_from(r.tier) {
                Ok(FeatureTier::Unspecified) => None,
                Ok(to) => Some(to),
                Err(_) => return Err(Error::invalid("tier", "unknown tier")),
            },
        };
        let now = self.now();
        let response = idempotency::transact(self.db.get()?, None, now, async |tx| {
            let row = app::update_feature(tx, now, &k, change).await?;
            Ok(UpdateFeatureResponse {
                feature: Some(convert::feature(row)),
            })
        })
        .await?;
        self.entitlements_changed();
        Ok(response)
    }

    async fn list_features(&self, r: &ListFeaturesRequest) -> Result<ListFeaturesResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let tier = filter::<FeatureTier>("tier", r.tier)?;
        let mut rows = catalog::features(self.db.get()?, tier, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(ListFeaturesResponse {
            features: rows.into_iter().map(convert::feature).collect(),
            next_page_token,
        })
    }

    async fn create_plan(&self, r: &CreatePlanRequest) -> Result<CreatePlanResponse, Error> {
        let new = NewPlan::parse(r)?;
        let now = self.now();
        idempotency::transact(self.db.get()?, None, now, async |tx| {
            let row = app::create_plan(tx, now, &new).await?;
            Ok(CreatePlanResponse {
                plan: Some(convert::plan(row)),
            })
        })
        .await
    }

    async fn change_plan_price(&self, r: &ChangePlanPriceRequest) -> Result<ChangePlanPriceResponse, Error> {
        let id = key("plan_id", &r.plan_id).map_err(invalid)?;
        let price = Price::parse("price", r.price.as_ref()).map_err(invalid)?;
        let now = self.now();
        idempotency::transact(self.db.get()?, None, now, async |tx| {
            let row = app::change_plan_price(tx, now, &PlanId::from(&id), price).await?;
            Ok(ChangePlanPriceResponse {
                plan: Some(convert::plan(row)),
            })
        })
        .await
    }

    async fn get_plan(&self, r: &GetPlanRequest) -> Result<GetPlanResponse, Error> {
        let db = self.db.get()?;
        let id = PlanId::required("plan_id", &r.plan_id)?;
        let plan = if id == FREE_PLAN {
            app::free_plan(db).await?
        } else {
            let row = catalog::get_plan(db, &id, r.version.max(0))
                .await?
                .ok_or_else(|| Error::missing(&id))?;
            convert::plan(row)
        };
        Ok(GetPlanResponse { plan: Some(plan) })
    }

    async fn list_plans(&self, r: &ListPlansRequest) -> Result<ListPlansResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let db = self.db.get()?;
        let mut ids = catalog::plan_ids(db, &page).await?;
        let next_page_token = page.finish(&mut ids);
        let mut plans = Vec::new();
        if page.offset == 0 {
            plans.push(app::free_plan(db).await?);
        }
        for id in ids {
            if let Some(row) = catalog::get_plan(db, &PlanId::from(&id), 0).await? {
                plans.push(convert::plan(row));
            }
        }
        Ok(ListPlansResponse { plans, next_page_token })
    }
}

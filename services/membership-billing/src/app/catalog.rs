//! The catalog under the free-forever rule: features (a FREE feature stays
//! FREE forever, and is never sold in a plan), versioned plans (a price
//! change is a new version; what was sold keeps its version), and the
//! implicit free plan that always holds every FREE feature.

use crate::domain::ids::PlanId;
use chrono::{DateTime, Utc};
use tiejun_platform::{db::Database, db::Tx, error::Error};
use tiejun_proto::billing::v1::{BillingPeriod, FeatureTier, Money, Plan};

use crate::{
    domain::{
        catalog::{FREE_FOREVER, FREE_PLAN, NewPlan, tier_change},
        money::{DEFAULT_CURRENCY, Price},
    },
    store::catalog::{self, FeatureRow, PlanRow},
};

/// A feature to create, validated.
#[derive(Debug, Clone)]
pub struct NewFeature {
    /// Its key.
    pub key: String,
    /// Its name.
    pub name: String,
    /// What it gives.
    pub description: String,
    /// FREE or PAID.
    pub tier: FeatureTier,
}

/// Creates a feature.
pub async fn create_feature(tx: &mut Tx, now: DateTime<Utc>, f: &NewFeature) -> Result<FeatureRow, Error> {
    catalog::create_feature(tx, &f.key, &f.name, &f.description, f.tier, now).await?;
    catalog::lock_feature(tx, &f.key)
        .await?
        .ok_or_else(|| Error::internal(format!("no feature {} after its insert", f.key)))
}

/// A change to a feature; `None` keeps what it is.
#[derive(Debug, Clone, Default)]
pub struct FeatureChange {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new tier (never from FREE).
    pub tier: Option<FeatureTier>,
}

/// Changes a feature; a FREE feature never becomes PAID.
pub async fn update_feature(
    tx: &mut Tx,
    now: DateTime<Utc>,
    key: &str,
    change: FeatureChange,
) -> Result<FeatureRow, Error> {
    let mut row = catalog::lock_feature(tx, key)
        .await?
        .ok_or_else(|| Error::not_found("feature", key))?;
    if let Some(to) = change.tier {
        tier_change(row.tier.0, to)?;
        row.tier.0 = to;
    }
    row.name = change.name.unwrap_or(row.name);
    row.description = change.description.unwrap_or(row.description);
    catalog::update_feature(tx, &row, now).await?;
    Ok(row)
}

/// Creates version 1 of a plan; every feature must exist and be PAID.
pub async fn create_plan(tx: &mut Tx, now: DateTime<Utc>, new: &NewPlan) -> Result<PlanRow, Error> {
    let tiers = catalog::tiers(tx, &new.feature_keys).await?;
    for k in &new.feature_keys {
        match tiers.iter().find(|(key, _)| key == k) {
            None => return Err(Error::invalid("feature_keys", format!("no feature {k}"))),
            Some((_, FeatureTier::Free)) => {
                return Err(Error::precondition(
                    FREE_FOREVER,
                    format!("{k} is free: it cannot be sold in a plan"),
                ));
            }
            Some(_) => {}
        }
    }
    catalog::insert_plan(tx, new, 1, now).await?;
    latest(tx, &new.plan_id).await
}

/// A new version of a plan at `price`; the free plan has no price, ever.
/// Two changes at once: the second is ABORTED (retry).
pub async fn change_plan_price(
    tx: &mut Tx,
    now: DateTime<Utc>,
    plan_id: &PlanId,
    price: Price,
) -> Result<PlanRow, Error> {
    if plan_id == FREE_PLAN {
        return Err(Error::precondition(FREE_FOREVER, "the free plan has no price, forever"));
    }
    let current = latest(tx, plan_id).await?;
    let next = NewPlan {
        plan_id: plan_id.to_owned(),
        name: current.name,
        price,
        period: current.period.0,
        feature_keys: current.feature_keys,
    };
    // A concurrent change of the same plan loses on the (plan_id, version) key.
    match catalog::insert_plan(tx, &next, current.version + 1, now).await {
        Err(Error::AlreadyExists { .. }) => return Err(Error::Aborted("the plan changed concurrently; retry".into())),
        other => other?,
    }
    latest(tx, plan_id).await
}

async fn latest(tx: &mut Tx, plan_id: &PlanId) -> Result<PlanRow, Error> {
    catalog::latest_in(tx, plan_id)
        .await?
        .ok_or_else(|| Error::missing(plan_id))
}

/// The implicit free plan: every FREE feature, at no price, forever.
pub async fn free_plan(db: &Database) -> Result<Plan, Error> {
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

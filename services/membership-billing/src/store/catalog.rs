//! Features and plan versions.

use crate::domain::ids::PlanId;
use chrono::{DateTime, Utc};
use tiejun_platform::stored::Named;
use tiejun_platform::{
    db::{Database, Tx},
    error::{Error, on_duplicate},
    execute, locked, on_pool, on_tx,
    paging::Page,
};
use tiejun_proto::billing::v1::{BillingPeriod, FeatureTier};

use crate::domain::catalog::NewPlan;

/// A row of `features`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FeatureRow {
    /// Key.
    pub feature_key: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// FREE or PAID.
    pub tier: Named<FeatureTier>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A row of `plans` with its features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRow {
    /// Id.
    pub plan_id: PlanId,
    /// Version.
    pub version: i32,
    /// Name.
    pub name: String,
    /// Price in minor units.
    pub price_minor: i64,
    /// Currency.
    pub currency: String,
    /// Period.
    pub period: Named<BillingPeriod>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// PAID features.
    pub feature_keys: Vec<String>,
}

type PlanTuple = (String, i32, String, i64, String, Named<BillingPeriod>, DateTime<Utc>);

/// Creates a feature.
pub async fn create_feature(
    tx: &mut Tx,
    key: &str,
    name: &str,
    description: &str,
    tier: FeatureTier,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO features (feature_key, name, description, tier, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)"
        )
        .bind(key)
        .bind(name)
        .bind(description)
        .bind(Named(tier))
        .bind(now)
    )
    .map_err(|err| on_duplicate(err, key, "a feature with this key exists"))?;
    Ok(())
}

/// One feature inside a transaction, locked on PostgreSQL.
pub async fn lock_feature(tx: &mut Tx, key: &str) -> Result<Option<FeatureRow>, Error> {
    let sql = locked!(
        tx,
        "SELECT feature_key, name, description, tier, created_at FROM features WHERE feature_key = $1",
        "FOR UPDATE"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql).bind(key).fetch_optional(c).await?))
}

/// Updates a feature (the tier rule was checked; the trigger checks it again).
pub async fn update_feature(tx: &mut Tx, f: &FeatureRow, now: DateTime<Utc>) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "UPDATE features SET name = $2, description = $3, tier = $4, updated_at = $5 WHERE feature_key = $1"
        )
        .bind(&f.feature_key)
        .bind(&f.name)
        .bind(&f.description)
        .bind(f.tier)
        .bind(now)
    )?;
    Ok(())
}

/// Features by key, filtered by tier name ('' for all), one page plus one row.
pub async fn features(db: &Database, tier: &str, page: &Page) -> Result<Vec<FeatureRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT feature_key, name, description, tier, created_at FROM features WHERE ($1 = '' OR tier = $1) \
         ORDER BY feature_key LIMIT $2 OFFSET $3"
    )
    .bind(tier)
    .bind(page.limit_plus_one())
    .bind(page.offset())
    .fetch_all(p)
    .await?))
}

/// The tiers of `keys` (missing keys are absent from the answer).
pub async fn tiers(tx: &mut Tx, keys: &[String]) -> Result<Vec<(String, FeatureTier)>, Error> {
    let mut out = Vec::new();
    for key in keys {
        let tier: Option<Named<FeatureTier>> = on_tx!(tx, |c| sqlx::query_scalar(
            "SELECT tier FROM features WHERE feature_key = $1"
        )
        .bind(key)
        .fetch_optional(c)
        .await?);
        if let Some(tier) = tier {
            out.push((key.clone(), tier.0));
        }
    }
    Ok(out)
}

/// Inserts a plan version with its features.
pub async fn insert_plan(tx: &mut Tx, p: &NewPlan, version: i32, now: DateTime<Utc>) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO plans (plan_id, version, name, price_minor, currency, period, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&p.plan_id)
        .bind(version)
        .bind(&p.name)
        .bind(p.price.amount_minor)
        .bind(&p.price.currency)
        .bind(Named(p.period))
        .bind(now)
    )
    .map_err(|err| on_duplicate(err, &p.plan_id, "a plan with this id exists"))?;
    for key in &p.feature_keys {
        execute!(
            tx,
            sqlx::query("INSERT INTO plan_features (plan_id, version, feature_key) VALUES ($1, $2, $3)")
                .bind(&p.plan_id)
                .bind(version)
                .bind(key)
        )?;
    }
    Ok(())
}

/// The latest version of a plan inside a transaction (locked by the caller's plan lock).
pub async fn latest_in(tx: &mut Tx, plan_id: &PlanId) -> Result<Option<PlanRow>, Error> {
    let row: Option<PlanTuple> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT plan_id, version, name, price_minor, currency, period, created_at FROM plans WHERE plan_id = $1 \
         ORDER BY version DESC LIMIT 1"
    )
    .bind(plan_id)
    .fetch_optional(c)
    .await?);
    let Some(row) = row else { return Ok(None) };
    let keys: Vec<String> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT feature_key FROM plan_features WHERE plan_id = $1 AND version = $2 ORDER BY feature_key"
    )
    .bind(plan_id)
    .bind(row.1)
    .fetch_all(c)
    .await?);
    Ok(Some(plan(row, keys)))
}

fn plan(r: PlanTuple, feature_keys: Vec<String>) -> PlanRow {
    PlanRow {
        plan_id: r.0.into(),
        version: r.1,
        name: r.2,
        price_minor: r.3,
        currency: r.4,
        period: r.5,
        created_at: r.6,
        feature_keys,
    }
}

/// One version of a plan (0: the latest).
pub async fn get_plan(db: &Database, plan_id: &PlanId, version: i32) -> Result<Option<PlanRow>, Error> {
    let row: Option<PlanTuple> = on_pool!(db, |p| sqlx::query_as(
        "SELECT plan_id, version, name, price_minor, currency, period, created_at FROM plans WHERE plan_id = $1 \
         AND ($2 = 0 OR version = $2) ORDER BY version DESC LIMIT 1"
    )
    .bind(plan_id)
    .bind(version)
    .fetch_optional(p)
    .await?);
    let Some(row) = row else { return Ok(None) };
    let keys: Vec<String> = on_pool!(db, |p| sqlx::query_scalar(
        "SELECT feature_key FROM plan_features WHERE plan_id = $1 AND version = $2 ORDER BY feature_key"
    )
    .bind(plan_id)
    .bind(row.1)
    .fetch_all(p)
    .await?);
    Ok(Some(plan(row, keys)))
}

/// The ids of every paid plan, one page plus one row.
pub async fn plan_ids(db: &Database, page: &Page) -> Result<Vec<String>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_scalar(
        "SELECT DISTINCT plan_id FROM plans ORDER BY plan_id LIMIT $1 OFFSET $2"
    )
    .bind(page.limit_plus_one())
    .bind(page.offset())
    .fetch_all(p)
    .await?))
}

/// Every FREE feature's key.
pub async fn free_features(db: &Database) -> Result<Vec<String>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_scalar(
        "SELECT feature_key FROM features WHERE tier = 'FREE' ORDER BY feature_key"
    )
    .fetch_all(p)
    .await?))
}

/// A feature's tier, if the feature exists.
pub async fn tier_of(db: &Database, key: &str) -> Result<Option<FeatureTier>, Error> {
    let tier: Option<Named<FeatureTier>> = on_pool!(db, |p| sqlx::query_scalar(
        "SELECT tier FROM features WHERE feature_key = $1"
    )
    .bind(key)
    .fetch_optional(p)
    .await?);
    Ok(tier.map(|t| t.0))
}

/// Every PAID feature of the plans the account holds, by key.
pub async fn paid_feature_keys(db: &Database) -> Result<Vec<String>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_scalar(
        "SELECT feature_key FROM features WHERE tier = 'PAID' ORDER BY feature_key"
    )
    .fetch_all(p)
    .await?))
}

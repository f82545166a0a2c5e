//! Features and plans. A FREE feature can never become PAID, leave the free
//! tier, or be sold in a plan: what is free today stays free forever.

use crate::domain::ids::PlanId;
use tiejun_platform::error::{Error, FieldViolation};
use tiejun_proto::billing::v1::{BillingPeriod, CreatePlanRequest, FeatureTier};

use super::money::Price;

/// The implicit free plan's id: every member has it, it holds every FREE feature.
pub const FREE_PLAN: &str = "free";

/// The reason code of the rule.
pub const FREE_FOREVER: &str = "FREE_FOREVER";

/// A lower_snake key of 2–64 characters.
pub fn key(field: &str, raw: &str) -> Result<String, FieldViolation> {
    let k = raw.trim();
    let ok = (2..=64).contains(&k.len())
        && k.starts_with(|c: char| c.is_ascii_lowercase())
        && k.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(k.to_owned())
    } else {
        Err(FieldViolation::new(
            field,
            "must be 2-64 lower-case letters, digits or '_'",
        ))
    }
}

/// Text of 1..=max characters without control characters.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, FieldViolation> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(FieldViolation::new(field, format!("must be 1-{max} characters")));
    }
    Ok(t.to_owned())
}

/// Whether a tier change is allowed: anything but leaving FREE.
pub fn tier_change(from: FeatureTier, to: FeatureTier) -> Result<(), Error> {
    if from == FeatureTier::Free && to != FeatureTier::Free {
        Err(Error::precondition(FREE_FOREVER, "a free feature stays free forever"))
    } else {
        Ok(())
    }
}

/// A validated new plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlan {
    /// Id.
    pub plan_id: PlanId,
    /// Name.
    pub name: String,
    /// Price per period.
    pub price: Price,
    /// The period (ANNUAL by default).
    pub period: BillingPeriod,
    /// PAID features, de-duplicated.
    pub feature_keys: Vec<String>,
}

impl NewPlan {
    /// Validates a CreatePlan request (which features are FREE is the store's to check).
    pub fn parse(r: &CreatePlanRequest) -> Result<Self, Error> {
        let mut v = Vec::new();
        let plan_id = key("plan_id", &r.plan_id).map_err(|e| v.push(e)).ok();
        if plan_id.as_deref() == Some(FREE_PLAN) {
            return Err(Error::precondition(
                FREE_FOREVER,
                "the free plan is implicit: it always holds every free feature",
            ));
        }
        let name = text("name", &r.name, 200).map_err(|e| v.push(e)).ok();
        let price = Price::parse("price", r.price.as_ref()).map_err(|e| v.push(e)).ok();
        let period = match BillingPeriod::try_from(r.period) {
            Ok(BillingPeriod::Unspecified | BillingPeriod::Annual) => BillingPeriod::Annual,
            Ok(BillingPeriod::Monthly) => BillingPeriod::Monthly,
            Err(_) => {
                v.push(FieldViolation::new("period", "unknown period"));
                BillingPeriod::Annual
            }
        };
        let mut feature_keys = Vec::new();
        for k in &r.feature_keys {
            match key("feature_keys", k) {
                Ok(k) if !feature_keys.contains(&k) => feature_keys.push(k),
                Ok(_) => {}
                Err(e) => v.push(e),
            }
        }
        match (plan_id, name, price) {
            (Some(plan_id), Some(name), Some(price)) if v.is_empty() => Ok(Self {
                plan_id: plan_id.into(),
                name,
                price,
                period,
                feature_keys,
            }),
            _ => Err(Error::InvalidArgument(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_never_becomes_paid_but_paid_may_become_free() {
        assert!(tier_change(FeatureTier::Free, FeatureTier::Paid).is_err());
        assert!(tier_change(FeatureTier::Paid, FeatureTier::Free).is_ok());
        assert!(tier_change(FeatureTier::Free, FeatureTier::Free).is_ok());
    }

    #[test]
    fn the_free_plan_cannot_be_created_or_edited() {
        let r = CreatePlanRequest {
            plan_id: "free".into(),
            ..Default::default()
        };
        let Err(Error::FailedPrecondition { reason, .. }) = NewPlan::parse(&r) else {
            panic!("accepted")
        };
        assert_eq!(reason, FREE_FOREVER);
    }
}

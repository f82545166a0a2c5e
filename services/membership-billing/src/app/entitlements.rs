//! May this account use this feature now? FREE features: always (the free
//! tier, forever). PAID features: while a plan that includes them is in its
//! period (a cancelled one until its end), or in grace while PAST_DUE.

use crate::domain::ids::AccountId;
use chrono::{DateTime, Utc};
use tiejun_platform::{db::Database, error::Error};
use tiejun_proto::billing::v1::{EntitlementSource, FeatureTier, SubscriptionState};

use crate::store::{accounts, catalog, subscriptions};

/// An entitlement held now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The free tier, a plan, or a plan in grace.
    pub source: EntitlementSource,
    /// Until when (`None`: forever, the free tier).
    pub valid_until: Option<DateTime<Utc>>,
}

/// The grant a paid subscription in `state` gives until `until`.
fn paid(state: SubscriptionState, until: DateTime<Utc>) -> Grant {
    Grant {
        source: match state {
            SubscriptionState::PastDue => EntitlementSource::Grace,
            _ => EntitlementSource::Plan,
        },
        valid_until: Some(until),
    }
}

const FREE: Grant = Grant {
    source: EntitlementSource::FreeTier,
    valid_until: None,
};

/// The account's grant of `feature` at `now` (`None`: not entitled).
/// NOT_FOUND for a feature or an account that does not exist.
pub async fn check(
    db: &Database,
    account_id: &AccountId,
    feature: &str,
    now: DateTime<Utc>,
) -> Result<Option<Grant>, Error> {
    let tier = catalog::tier_of(db, feature)
        .await?
        .ok_or_else(|| Error::not_found("feature", feature))?;
    accounts::get(db, account_id)
        .await?
        .ok_or_else(|| Error::missing(account_id))?;
    if tier == FeatureTier::Free {
        return Ok(Some(FREE));
    }
    let live = subscriptions::paid_entitlement(db, account_id, feature, now).await?;
    Ok(live.map(|(state, until)| paid(state, until)))
}

/// Every feature the account is entitled to at `now`: every FREE one, and
/// the PAID ones its live subscriptions give.
pub async fn list(db: &Database, account_id: &AccountId, now: DateTime<Utc>) -> Result<Vec<(String, Grant)>, Error> {
    accounts::get(db, account_id)
        .await?
        .ok_or_else(|| Error::missing(account_id))?;
    let mut grants: Vec<(String, Grant)> = catalog::free_features(db)
        .await?
        .into_iter()
        .map(|key| (key, FREE))
        .collect();
    for key in catalog::paid_feature_keys(db).await? {
        if let Some((state, until)) = subscriptions::paid_entitlement(db, account_id, &key, now).await? {
            grants.push((key, paid(state, until)));
        }
    }
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_is_its_own_source_and_every_other_live_state_is_the_plan() {
        let until = Utc::now();
        assert_eq!(paid(SubscriptionState::PastDue, until).source, EntitlementSource::Grace);
        assert_eq!(paid(SubscriptionState::Active, until).source, EntitlementSource::Plan);
        assert_eq!(paid(SubscriptionState::Canceled, until).source, EntitlementSource::Plan);
        assert_eq!(FREE.valid_until, None);
    }
}

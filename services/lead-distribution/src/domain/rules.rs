//! Every rule constant of lead distribution (DESIGN §4), defined once. The
//! code, the error messages and the SQL (bound as parameters) read them from
//! here; where the database also enforces one with a CHECK, the constraint is
//! named beside it, and `tests/suite/leads/schema.rs` holds the two to each other.

use std::ops::RangeInclusive;

use chrono::{Duration, NaiveTime};

/// Leads a rep receives per business day unless a manager sets otherwise.
pub const DEFAULT_DAILY_QUOTA: i32 = 40;

/// The daily quota a manager may set. CHECK on `reps.daily_quota`
/// (`BETWEEN 30 AND 50`, migration 0002).
pub const QUOTA_RANGE: RangeInclusive<i32> = 30..=50;

/// The most leads a rep may claim from the pool in one business day. CHECK
/// `rep_days_claim_limit` (`claimed BETWEEN 0 AND 10`, migration 0003).
pub const CLAIMS_PER_DAY: i32 = 10;

/// The most leads a rep may keep in the private pool. CHECK
/// `private_pools_cap` (`size BETWEEN 0 AND 30`, migration 0005).
pub const PRIVATE_POOL_CAP: i32 = 30;

/// A rep does not receive or claim a lead they lost for this long.
pub const COOLDOWN: Duration = Duration::days(30);

/// An ASSIGNED lead needs its first qualifying follow-up this soon.
pub const FIRST_FOLLOW_UP: Duration = Duration::hours(48);

/// An ASSIGNED lead must be resolved (converted, closed, kept private or
/// released) this soon after assignment.
pub const RESOLUTION: Duration = Duration::days(7);

/// A PRIVATE lead needs a qualifying follow-up this often.
pub const PRIVATE_FOLLOW_UP: Duration = Duration::days(7);

/// A PRIVATE lead leaves the private pool this long after it was kept,
/// whatever the activity.
pub const PRIVATE_LIMIT: Duration = Duration::days(60);

/// The owner is warned this long before any deadline.
pub const WARNING_AHEAD: Duration = Duration::hours(6);

/// When the daily distribution runs, in business time.
pub const DISTRIBUTION_AT: NaiveTime = match NaiveTime::from_hms_opt(8, 0, 0) {
    Some(t) => t,
    None => panic!("08:00 is a valid time"),
};

/// A lead's priority score. CHECK on `leads.score` (`BETWEEN 0 AND 100`,
/// migration 0002).
pub const SCORE_RANGE: RangeInclusive<i32> = 0..=100;

/// The score of a lead whose intake gives none.
pub const DEFAULT_SCORE: i32 = 50;

/// The score of a renewal lead: above any new-business default, so it is
/// dealt first.
pub const RENEWAL_SCORE: i32 = 90;

/// Pool priority of a lead back from a reclaim or a departure: ahead of new
/// leads of any score.
pub const RETURNED_PRIORITY: i32 = 1;

/// Whole days in `d`, for messages.
pub fn days(d: Duration) -> i64 {
    d.num_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_match_the_design() {
        assert_eq!((CLAIMS_PER_DAY, PRIVATE_POOL_CAP, DEFAULT_DAILY_QUOTA), (10, 30, 40));
        assert_eq!(QUOTA_RANGE, 30..=50);
        assert!(QUOTA_RANGE.contains(&DEFAULT_DAILY_QUOTA));
        assert!(SCORE_RANGE.contains(&RENEWAL_SCORE) && RENEWAL_SCORE > DEFAULT_SCORE);
        assert_eq!(days(COOLDOWN), 30);
        assert!(WARNING_AHEAD < FIRST_FOLLOW_UP && FIRST_FOLLOW_UP < RESOLUTION);
    }
}

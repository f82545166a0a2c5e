//! Follow-up deadlines (DESIGN §4): an ASSIGNED lead needs a qualifying
//! follow-up within 48 h and a resolution within 7 days; a PRIVATE lead needs
//! a qualifying follow-up every 7 days and is reclaimed 60 days after it was
//! kept, whatever the activity. A warning goes out 6 h before any deadline.

use chrono::{DateTime, Utc};
use tiejun_proto::leads::v1::TransitionRule;

use super::rules::{FIRST_FOLLOW_UP, PRIVATE_FOLLOW_UP, PRIVATE_LIMIT, RESOLUTION};

/// Where a held lead stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// ASSIGNED at `assigned_at`.
    Assigned {
        /// When the owner received it.
        assigned_at: DateTime<Utc>,
    },
    /// PRIVATE since `since`.
    Private {
        /// When it was kept.
        since: DateTime<Utc>,
    },
}

/// The next deadline of a held lead and the rule that reclaims it if missed.
/// `last_qualifying` is the latest call, visit or meeting (notes do not count).
pub fn next_deadline(held: Held, last_qualifying: Option<DateTime<Utc>>) -> (DateTime<Utc>, TransitionRule) {
    match held {
        Held::Assigned { assigned_at } => {
            let followed_up = last_qualifying.is_some_and(|at| at >= assigned_at);
            if followed_up {
                (assigned_at + RESOLUTION, TransitionRule::ReclaimUnresolved)
            } else {
                (assigned_at + FIRST_FOLLOW_UP, TransitionRule::ReclaimNoFollowUp)
            }
        }
        Held::Private { since } => {
            let last = last_qualifying.filter(|at| *at >= since).unwrap_or(since);
            let idle = last + PRIVATE_FOLLOW_UP;
            let expiry = since + PRIVATE_LIMIT;
            if expiry <= idle {
                (expiry, TransitionRule::ReclaimPrivateExpired)
            } else {
                (idle, TransitionRule::ReclaimPrivateIdle)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone as _};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).single().expect("valid")
    }

    #[test]
    fn assigned_lead_is_due_a_follow_up_in_48h_then_a_resolution_in_7_days() {
        let held = Held::Assigned { assigned_at: t0() };
        assert_eq!(
            next_deadline(held, None),
            (t0() + Duration::hours(48), TransitionRule::ReclaimNoFollowUp)
        );
        let called = Some(t0() + Duration::hours(3));
        assert_eq!(
            next_deadline(held, called),
            (t0() + Duration::days(7), TransitionRule::ReclaimUnresolved)
        );
        // A follow-up from before this assignment (a previous owner's) does not count.
        let old = Some(t0() - Duration::days(1));
        assert_eq!(next_deadline(held, old).1, TransitionRule::ReclaimNoFollowUp);
    }

    #[test]
    fn private_lead_needs_weekly_follow_up_and_expires_at_60_days() {
        let held = Held::Private { since: t0() };
        assert_eq!(
            next_deadline(held, None),
            (t0() + Duration::days(7), TransitionRule::ReclaimPrivateIdle)
        );
        let recent = Some(t0() + Duration::days(58));
        assert_eq!(
            next_deadline(held, recent),
            (t0() + Duration::days(60), TransitionRule::ReclaimPrivateExpired)
        );
    }
}

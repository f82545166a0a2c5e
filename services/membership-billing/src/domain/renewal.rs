//! Renewals: what the cycle does with a subscription at its period's end
//! and in its grace, which plan a renewal quotes, and the figures — renewal
//! rate = renewed ÷ decided (renewed + churned), expansion rate = renewed at
//! a higher price ÷ renewed; basis points, rounded down.

use crate::domain::ids::PlanId;
use chrono::{DateTime, Duration, Utc};
use tiejun_proto::billing::v1::RenewalOutcome;

/// The renewal invoice goes out this long before the period ends.
pub const NOTICE: Duration = Duration::days(45);
/// After the end, an unpaid subscription keeps its entitlements this long.
pub const GRACE: Duration = Duration::days(30);

/// What the renewal cycle does with one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The renewal invoice is paid: into the next period at the quoted price.
    Renew,
    /// Cancelled for the period's end: CANCELED, the term churned.
    Cancel,
    /// Unpaid at the end: PAST_DUE, the paid features kept until the grace ends.
    PastDue {
        /// The end of the period plus [`GRACE`].
        grace_ends_at: Option<DateTime<Utc>>,
    },
    /// Grace over, still unpaid: EXPIRED (free features only), the renewal
    /// invoice void, the term churned.
    Expire,
    /// Nothing to do yet.
    Wait,
}

/// An ACTIVE subscription whose period ended: a paid renewal renews (even
/// one also cancelled for the period's end: the customer paid), else a
/// cancellation ends it, else it is past due for [`GRACE`].
pub fn at_period_end(renewal_paid: bool, cancel_at_period_end: bool, period_end: Option<DateTime<Utc>>) -> Step {
    if renewal_paid {
        Step::Renew
    } else if cancel_at_period_end {
        Step::Cancel
    } else {
        Step::PastDue {
            grace_ends_at: period_end.map(|end| end + GRACE),
        }
    }
}

/// A PAST_DUE subscription at `now`: paid late renews, the grace's end
/// expires it, and until then nothing changes.
pub fn in_grace(renewal_paid: bool, grace_ends_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Step {
    if renewal_paid {
        Step::Renew
    } else if grace_ends_at.is_some_and(|end| end <= now) {
        Step::Expire
    } else {
        Step::Wait
    }
}

/// The plan a renewal quotes: a downgrade waiting for the period's end, else
/// the plan held now.
pub fn quoted_plan<'a>(plan_id: &'a PlanId, pending_plan_id: Option<&'a PlanId>) -> &'a PlanId {
    pending_plan_id.unwrap_or(plan_id)
}

/// What a cycle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleOutcome {
    /// Renewal invoices issued.
    pub notices: i32,
    /// Rolled into a new paid period.
    pub renewed: i32,
    /// Moved to PAST_DUE.
    pub past_due: i32,
    /// Expired after grace.
    pub expired: i32,
    /// Ended by cancellation.
    pub canceled: i32,
}

/// Counts over renewal records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Book {
    /// Terms up for renewal.
    pub up: i32,
    /// Renewed.
    pub renewed: i32,
    /// Renewed at a higher price.
    pub expanded: i32,
    /// Churned.
    pub churned: i32,
}

impl Book {
    /// Adds one record (its outcome, prior price, quoted price).
    pub fn add(&mut self, outcome: RenewalOutcome, prior: i64, quoted: i64) {
        self.up += 1;
        match outcome {
            RenewalOutcome::Renewed => {
                self.renewed += 1;
                if quoted > prior {
                    self.expanded += 1;
                }
            }
            RenewalOutcome::Churned => self.churned += 1,
            RenewalOutcome::Pending | RenewalOutcome::Unspecified => {}
        }
    }

    /// Terms decided: renewed or churned (a pending one is not).
    pub fn decided(&self) -> i32 {
        self.renewed + self.churned
    }

    /// Renewed ÷ decided, basis points (0 with nothing decided: read
    /// [`Book::decided`] first).
    pub fn renewal_rate_bp(&self) -> i32 {
        bp(self.renewed, self.decided())
    }

    /// Expanded ÷ renewed, basis points.
    pub fn expansion_rate_bp(&self) -> i32 {
        bp(self.expanded, self.renewed)
    }
}

fn bp(part: i32, whole: i32) -> i32 {
    if whole <= 0 {
        0
    } else {
        ((i64::from(part) * 10_000) / i64::from(whole)) as i32
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, day, 0, 0, 0).single().expect("instant")
    }

    #[test]
    fn a_period_end_renews_what_was_paid_then_cancels_then_waits_out_the_grace() {
        assert_eq!(at_period_end(true, false, Some(at(2))), Step::Renew);
        assert_eq!(at_period_end(true, true, Some(at(2))), Step::Renew, "paid wins");
        assert_eq!(at_period_end(false, true, Some(at(2))), Step::Cancel);
        assert_eq!(
            at_period_end(false, false, Some(at(2))),
            Step::PastDue {
                grace_ends_at: Some(at(2) + Duration::days(30))
            }
        );
    }

    #[test]
    fn grace_renews_a_late_payment_and_expires_at_its_end_not_before() {
        let end = at(20);
        assert_eq!(in_grace(true, Some(end), at(25)), Step::Renew);
        assert_eq!(in_grace(false, Some(end), at(19)), Step::Wait);
        assert_eq!(in_grace(false, Some(end), end), Step::Expire, "the end itself");
        assert_eq!(in_grace(false, None, at(25)), Step::Wait);
    }

    #[test]
    fn a_waiting_downgrade_is_what_gets_quoted() {
        let (premium, lite) = (PlanId::from("premium"), PlanId::from("lite"));
        assert_eq!(quoted_plan(&premium, Some(&lite)), &lite);
        assert_eq!(quoted_plan(&premium, None), &premium);
    }

    #[test]
    fn rates_count_decided_terms_only() {
        let mut b = Book::default();
        for i in 0..100 {
            let outcome = if i < 78 {
                RenewalOutcome::Renewed
            } else {
                RenewalOutcome::Churned
            };
            b.add(outcome, 100, if i < 13 { 120 } else { 100 });
        }
        assert_eq!((b.renewal_rate_bp(), b.expansion_rate_bp()), (7800, 1666));
        b.add(RenewalOutcome::Pending, 100, 100);
        assert_eq!(b.renewal_rate_bp(), 7800, "a pending term is not decided yet");
    }
}

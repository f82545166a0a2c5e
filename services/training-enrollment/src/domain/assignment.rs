//! Assignments: who must complete which programme by when, and the rule
//! that every new paying customer is trained within 90 days.

use chrono::{DateTime, Duration, Utc};
use tiejun_platform::error::Error;
use tiejun_proto::training::v1::AssignmentStatus;

/// A paying account's contact must be trained within this long of activation.
pub const CUSTOMER_TRAINED_WITHIN: Duration = Duration::days(90);

/// An assignment's status at `now`: completed, overdue once its due time has
/// come, else open.
pub fn status(completed_at: Option<DateTime<Utc>>, due_at: DateTime<Utc>, now: DateTime<Utc>) -> AssignmentStatus {
    match completed_at {
        Some(_) => AssignmentStatus::Completed,
        None if due_at <= now => AssignmentStatus::Overdue,
        None => AssignmentStatus::Assigned,
    }
}

/// When an assignment made at `now` is due: `given` if it is in the future,
/// else the programme's `due_within_days` from now.
pub fn due_at(given: Option<DateTime<Utc>>, due_within_days: i32, now: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
    match given {
        None => Ok(now + Duration::days(i64::from(due_within_days))),
        Some(due_at) if due_at > now => Ok(due_at),
        Some(_) => Err(Error::invalid("due_at", "must be a future instant")),
    }
}

/// True when a customer activated at `activated_at` counts as untrained at
/// `at`: the 90 days have passed without a completion inside them.
pub fn customer_untrained(activated_at: DateTime<Utc>, completed_at: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    let deadline = activated_at + CUSTOMER_TRAINED_WITHIN;
    let trained_in_time = completed_at.is_some_and(|c| c <= deadline);
    deadline <= at && !trained_in_time
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 8, 0, 0).single().expect("valid")
    }

    #[test]
    fn completed_beats_overdue_and_overdue_starts_at_the_due_time() {
        assert_eq!(status(Some(t(5)), t(2), t(9)), AssignmentStatus::Completed);
        assert_eq!(status(None, t(2), t(2)), AssignmentStatus::Overdue);
        assert_eq!(status(None, t(3), t(2)), AssignmentStatus::Assigned);
    }

    #[test]
    fn a_due_time_is_given_in_the_future_or_taken_from_the_programme() {
        assert_eq!(due_at(None, 14, t(1)).ok(), Some(t(15)));
        assert_eq!(due_at(Some(t(9)), 14, t(1)).ok(), Some(t(9)));
        assert!(due_at(Some(t(1)), 14, t(1)).is_err());
    }

    #[test]
    fn a_customer_is_untrained_only_once_the_90_days_pass_without_a_completion_in_them() {
        let activated = t(1);
        let day_90 = activated + CUSTOMER_TRAINED_WITHIN;
        assert!(!customer_untrained(activated, None, day_90 - Duration::seconds(1)));
        assert!(customer_untrained(activated, None, day_90));
        assert!(!customer_untrained(activated, Some(day_90), day_90 + Duration::days(1)));
        assert!(customer_untrained(
            activated,
            Some(day_90 + Duration::seconds(1)),
            day_90 + Duration::days(1)
        ));
    }
}

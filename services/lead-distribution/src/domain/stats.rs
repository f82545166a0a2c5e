//! Rep and team figures, counted over ownership periods (`assignments`):
//! received, followed up in time (a qualifying follow-up within 48 h),
//! reclaimed, converted. Rates are basis points, rounded down.

use chrono::{DateTime, Utc};

use super::rules::FIRST_FOLLOW_UP;

/// One ownership period as the figures see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// When the rep received the lead.
    pub assigned_at: DateTime<Utc>,
    /// The first qualifying follow-up, if any.
    pub first_follow_up_at: Option<DateTime<Utc>>,
    /// How it ended (a rule's stored name), if it has.
    pub outcome: Option<String>,
}

/// Counts over some periods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Periods.
    pub received: i32,
    /// With a qualifying follow-up within 48 h.
    pub followed_up_in_time: i32,
    /// Ended by a reclaim.
    pub reclaimed: i32,
    /// Ended by conversion.
    pub converted: i32,
}

/// Tallies `periods`.
pub fn tally<'a>(periods: impl IntoIterator<Item = &'a Period>) -> Tally {
    let mut t = Tally::default();
    for p in periods {
        t.received += 1;
        if p.first_follow_up_at
            .is_some_and(|at| at <= p.assigned_at + FIRST_FOLLOW_UP)
        {
            t.followed_up_in_time += 1;
        }
        match p.outcome.as_deref() {
            Some(o) if o.starts_with("RECLAIM_") => t.reclaimed += 1,
            Some("CONVERT") => t.converted += 1,
            _ => {}
        }
    }
    t
}

/// `part ÷ whole` in basis points (0–10000), rounded down; 0 when `whole` is 0.
pub fn basis_points(part: i32, whole: i32) -> i32 {
    if whole <= 0 {
        0
    } else {
        ((i64::from(part) * 10_000) / i64::from(whole)) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone as _};

    #[test]
    fn follow_up_within_48h_counts_in_time_and_outcomes_are_counted() {
        let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 1, 0, 0).single().expect("valid");
        let periods = [
            Period {
                assigned_at: t0,
                first_follow_up_at: Some(t0 + Duration::hours(47)),
                outcome: Some("CONVERT".into()),
            },
            Period {
                assigned_at: t0,
                first_follow_up_at: Some(t0 + Duration::hours(49)),
                outcome: None,
            },
            Period {
                assigned_at: t0,
                first_follow_up_at: None,
                outcome: Some("RECLAIM_NO_FOLLOW_UP".into()),
            },
        ];
        assert_eq!(
            tally(&periods),
            Tally {
                received: 3,
                followed_up_in_time: 1,
                reclaimed: 1,
                converted: 1
            }
        );
        assert_eq!(basis_points(1, 3), 3333);
        assert_eq!(basis_points(0, 0), 0);
    }
}

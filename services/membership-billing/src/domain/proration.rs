//! Upgrade proration, by whole days in the account's zone: the price
//! difference × days remaining ÷ days in the period, rounded down to the
//! minor unit (the customer never pays a fraction the rule did not earn).
//! The day of the change counts as remaining: it is charged at the new price.

use chrono::NaiveDate;

/// Which way a change of plan goes, by price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A dearer plan starts now; the difference for the days left is
    /// invoiced ([`upgrade_charge`]).
    UpgradeNow,
    /// A plan that costs the same or less starts at the period end: the
    /// renewal is quoted on it, and nothing is refunded.
    DowngradeAtPeriodEnd,
}

/// The direction of moving from a plan priced `old` to one priced `new`.
pub fn direction(old: i64, new: i64) -> Direction {
    if new > old {
        Direction::UpgradeNow
    } else {
        Direction::DowngradeAtPeriodEnd
    }
}

/// The amount due now for moving from `old` to `new` (minor units) on
/// `today`, in a period of local dates `[start, end)`.
pub fn upgrade_charge(old: i64, new: i64, start: NaiveDate, end: NaiveDate, today: NaiveDate) -> i64 {
    let days = (end - start).num_days().max(1);
    let remaining = (end - today).num_days().clamp(0, days);
    let difference = (new - old).max(0);
    // i128: a large price times a long period must not overflow.
    ((i128::from(difference) * i128::from(remaining)) / i128::from(days)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid")
    }

    #[test]
    fn dearer_is_now_and_the_same_price_or_less_waits_for_the_period_end() {
        assert_eq!(direction(298_000, 4_000_000), Direction::UpgradeNow);
        assert_eq!(direction(298_000, 298_000), Direction::DowngradeAtPeriodEnd);
        assert_eq!(direction(4_000_000, 298_000), Direction::DowngradeAtPeriodEnd);
    }

    #[test]
    fn charges_the_remaining_days_rounded_down_to_the_fen() {
        // 2026-03-02 .. 2027-03-02 is 365 days; on day 100, 265 remain.
        let charge = upgrade_charge(298_000, 4_000_000, d(2026, 3, 2), d(2027, 3, 2), d(2026, 6, 10));
        assert_eq!(charge, 3_702_000 * 265 / 365);
        assert_eq!(charge, 2_687_753, "981,030,000 / 365 = 2,687,753.42: rounded down");
        assert_eq!(
            upgrade_charge(100, 200, d(2026, 3, 2), d(2027, 3, 2), d(2026, 3, 2)),
            100,
            "on the first day: all"
        );
        assert_eq!(
            upgrade_charge(100, 200, d(2026, 3, 2), d(2027, 3, 2), d(2027, 3, 2)),
            0,
            "at the end: nothing"
        );
        assert_eq!(
            upgrade_charge(200, 100, d(2026, 3, 2), d(2027, 3, 2), d(2026, 5, 1)),
            0,
            "never a negative charge"
        );
        assert_eq!(
            upgrade_charge(0, i64::MAX / 2, d(2026, 1, 1), d(2027, 1, 1), d(2026, 1, 2)),
            (i64::MAX / 2 / 365) * 364 + ((i64::MAX / 2 % 365) * 364) / 365
        );
    }
}

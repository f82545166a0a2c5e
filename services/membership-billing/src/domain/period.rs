//! Subscription periods: half-open `[start, end)`, derived from a stored
//! anchor date and clamped to month end (an anchor on the 31st gives
//! Jan 31 → Feb 28 (29 in a leap year) → Mar 31), computed in the account's
//! zone: a period starts and ends at local midnight.

use chrono::{DateTime, Datelike as _, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use tiejun_platform::clock::business_day_start;

/// Months in a billing period.
pub fn months(period: tiejun_proto::billing::v1::BillingPeriod) -> i32 {
    match period {
        tiejun_proto::billing::v1::BillingPeriod::Monthly => 1,
        _ => 12,
    }
}

/// The `n`-th boundary after `anchor` (n = 0 is the anchor itself), `months`
/// apart, on the anchor's day of month or the month's last day if shorter.
pub fn boundary(anchor: NaiveDate, months: u32, n: u32) -> NaiveDate {
    let first_of_month = anchor.with_day(1).unwrap_or(anchor);
    let target = first_of_month
        .checked_add_months(Months::new(months * n))
        .unwrap_or(first_of_month);
    let last_day = last_day_of_month(target.year(), target.month());
    target.with_day(anchor.day().min(last_day)).unwrap_or(target)
}

fn last_day_of_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.and_then(|d| d.pred_opt()).map_or(28, |d| d.day())
}

/// Period `n` (0-based) of a subscription anchored on `anchor`: local dates.
pub fn dates(anchor: NaiveDate, months: u32, n: u32) -> (NaiveDate, NaiveDate) {
    (boundary(anchor, months, n), boundary(anchor, months, n + 1))
}

/// Period `n` as UTC instants, local midnights in `zone`.
pub fn instants(anchor: NaiveDate, months: u32, n: u32, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let (start, end) = dates(anchor, months, n);
    (business_day_start(start, zone), business_day_start(end, zone))
}

/// The anchor of a subscription activated at `at`: its date in the account's zone.
pub fn anchor(at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    #[test]
    fn an_anchor_on_the_31st_clamps_to_month_end_and_comes_back() {
        let a = d(2027, 1, 31);
        let months: Vec<_> = (0..4).map(|n| boundary(a, 1, n)).collect();
        assert_eq!(months, [d(2027, 1, 31), d(2027, 2, 28), d(2027, 3, 31), d(2027, 4, 30)]);
        assert_eq!(boundary(d(2028, 1, 31), 1, 1), d(2028, 2, 29), "leap year");
    }

    #[test]
    fn anchors_28_to_31_in_february() {
        for (day, feb_2027, feb_2028) in [(28, 28, 28), (29, 28, 29), (30, 28, 29), (31, 28, 29)] {
            assert_eq!(
                boundary(d(2027, 1, day), 1, 1),
                d(2027, 2, feb_2027),
                "anchor {day}, 2027"
            );
            assert_eq!(
                boundary(d(2028, 1, day), 1, 1),
                d(2028, 2, feb_2028),
                "anchor {day}, 2028"
            );
        }
    }

    #[test]
    fn annual_periods_keep_a_leap_day_anchor() {
        let a = d(2028, 2, 29);
        assert_eq!(dates(a, 12, 0), (d(2028, 2, 29), d(2029, 2, 28)));
        assert_eq!(boundary(a, 12, 4), d(2032, 2, 29));
    }

    #[test]
    fn periods_are_half_open_local_midnights_in_the_account_zone() {
        // 17:00 UTC on 1 March is 2 March in Shanghai: the anchor is the 2nd.
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 17, 0, 0).single().expect("valid");
        let shanghai: Tz = "Asia/Shanghai".parse().expect("zone");
        assert_eq!(anchor(at, shanghai), d(2026, 3, 2));
        assert_eq!(anchor(at, chrono_tz::UTC), d(2026, 3, 1));
        let (start, end) = instants(d(2026, 3, 2), 12, 0, shanghai);
        assert_eq!(
            start,
            Utc.with_ymd_and_hms(2026, 3, 1, 16, 0, 0).single().expect("valid")
        );
        assert_eq!(end, Utc.with_ymd_and_hms(2027, 3, 1, 16, 0, 0).single().expect("valid"));
        let (next_start, _) = instants(d(2026, 3, 2), 12, 1, shanghai);
        assert_eq!(next_start, end, "no gap, no overlap");
    }
}

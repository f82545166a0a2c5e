//! Renewal figures: renewal rate = renewed ÷ decided (renewed + churned),
//! expansion rate = renewed at a higher price ÷ renewed; basis points,
//! rounded down.

use chrono::Duration;

/// The renewal invoice goes out this long before the period ends.
pub const NOTICE: Duration = Duration::days(45);
/// After the end, an unpaid subscription keeps its entitlements this long.
pub const GRACE: Duration = Duration::days(30);

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
    /// Adds one record (outcome name, prior price, quoted price).
    pub fn add(&mut self, outcome: &str, prior: i64, quoted: i64) {
        self.up += 1;
        match outcome {
            "RENEWED" => {
                self.renewed += 1;
                if quoted > prior {
                    self.expanded += 1;
                }
            }
            "CHURNED" => self.churned += 1,
            _ => {}
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
    use super::*;

    #[test]
    fn rates_count_decided_terms_only() {
        let mut b = Book::default();
        for i in 0..100 {
            let outcome = if i < 78 { "RENEWED" } else { "CHURNED" };
            b.add(outcome, 100, if i < 13 { 120 } else { 100 });
        }
        assert_eq!((b.renewal_rate_bp(), b.expansion_rate_bp()), (7800, 1666));
        b.add("PENDING", 100, 100);
        assert_eq!(b.renewal_rate_bp(), 7800, "a pending term is not decided yet");
    }
}

//! Per-principal rate limits: a token bucket for each token subject
//! (governor's GCRA), so one noisy caller cannot starve the others.

use std::{num::NonZeroU32, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock as _};

/// See the module documentation.
#[derive(Debug)]
pub struct RateLimit {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
}

impl RateLimit {
    /// `per_second` calls a second for each principal, in bursts of up to
    /// `burst`; 0 turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self { limiter }
    }

    /// Takes one token from `principal`'s bucket, or says how long until one
    /// is there.
    pub fn check(&self, principal: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&principal.to_owned())
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Forgets buckets that are full again (idle principals), so memory
    /// follows the active callers only.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_principal_has_its_own_bucket() {
        let limit = RateLimit::new(1, 3);
        for _ in 0..3 {
            assert!(limit.check("alice").is_ok());
        }
        let wait = limit.check("alice").expect_err("bucket empty");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limit.check("bob").is_ok(), "bob is not alice");
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limit = RateLimit::new(0, 0);
        assert!((0..10_000).all(|_| limit.check("alice").is_ok()));
    }
}

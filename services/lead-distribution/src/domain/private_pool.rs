//! The capped private pool (DESIGN §4): a rep keeps a promising lead, but
//! once the pool is at [`PRIVATE_POOL_CAP`] must give one back for each one
//! kept, in the same call. The database holds the cap too (CHECK
//! `private_pools_cap`), so no interleaving goes above it.

use tiejun_platform::error::Error;

use super::rules::PRIVATE_POOL_CAP;

/// The pool is full: release this many more to keep the lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolFull {
    /// Further own PRIVATE leads to release.
    pub release_more: i32,
}

/// The pool's size after keeping one lead and releasing `releasing` from a
/// pool of `size`, or how many more releases it takes.
pub fn keep_one(size: i32, releasing: usize) -> Result<i32, PoolFull> {
    let releasing = i32::try_from(releasing).unwrap_or(i32::MAX);
    let after = size.saturating_add(1).saturating_sub(releasing);
    if after > PRIVATE_POOL_CAP {
        Err(PoolFull {
            release_more: after - PRIVATE_POOL_CAP,
        })
    } else {
        Ok(after.max(0))
    }
}

impl PoolFull {
    /// The error a caller sees.
    pub fn error(self) -> Error {
        Error::precondition(
            "PRIVATE_POOL_FULL",
            format!(
                "your private pool is at its cap of {PRIVATE_POOL_CAP}: release {} lead(s) to keep this one",
                self.release_more
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_cap_a_lead_is_kept_without_giving_one_back() {
        assert_eq!(keep_one(0, 0), Ok(1));
        assert_eq!(keep_one(PRIVATE_POOL_CAP - 1, 0), Ok(PRIVATE_POOL_CAP));
    }

    #[test]
    fn at_the_cap_keeping_one_means_giving_one_back() {
        assert_eq!(keep_one(PRIVATE_POOL_CAP, 0), Err(PoolFull { release_more: 1 }));
        assert_eq!(keep_one(PRIVATE_POOL_CAP, 1), Ok(PRIVATE_POOL_CAP));
        assert_eq!(keep_one(PRIVATE_POOL_CAP, 3), Ok(PRIVATE_POOL_CAP - 2));
    }
}

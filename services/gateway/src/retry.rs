//! When a call may be sent again, and how long to wait first.
//!
//! Only calls that are safe to repeat are retried: methods declared
//! `idempotency_level = NO_SIDE_EFFECTS` in the protos, or calls carrying a
//! non-empty `idempotency_key` (the service answers a repeat with the first
//! response). Only UNAVAILABLE before any response byte is retried. Retries
//! are bounded per call, jittered (tower's exponential backoff) and limited
//! overall by a retry budget, so an outage does not multiply the load.

use std::{sync::Arc, time::Duration};

use tower::{
    retry::{
        backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff as _},
        budget::{Budget as _, TpsBudget},
    },
    util::rng::HasherRng,
};

const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_millis(250);
/// Retries may add this share of the calls of the last ten seconds...
const RETRY_PERCENT: f32 = 0.2;
/// ...and at least this many a second.
const MIN_RETRIES_PER_SECOND: u32 = 10;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    max_retries: u32,
    budget: Arc<TpsBudget>,
}

impl RetryPolicy {
    /// At most `max_retries` retries per call.
    pub fn new(max_retries: u32) -> Self {
        Self {
            max_retries,
            budget: Arc::new(TpsBudget::new(
                Duration::from_secs(10),
                MIN_RETRIES_PER_SECOND,
                RETRY_PERCENT,
            )),
        }
    }

    /// Retries allowed per call.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Counts a call towards the budget.
    pub fn record_call(&self) {
        self.budget.deposit();
    }

    /// Takes one retry from the budget.
    pub fn withdraw(&self) -> bool {
        self.budget.withdraw()
    }

    /// A fresh jittered backoff for one call.
    pub fn backoff(&self) -> ExponentialBackoff {
        // A new rng per call: a cloned one would repeat the same jitter.
        ExponentialBackoffMaker::new(MIN_BACKOFF, MAX_BACKOFF, 1.0, HasherRng::new())
            .expect("constant backoff bounds are valid")
            .make_backoff()
    }
}

/// True when the gRPC-framed request `body` carries a non-empty top-level
/// field `field` (a length-delimited string such as `idempotency_key`).
/// A compressed or malformed message counts as not carrying it.
pub fn carries_field(body: &[u8], field: u32) -> bool {
    use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
    let Some((&0, rest)) = body.split_first() else {
        return false;
    };
    let Some(mut message) = rest.get(4..) else {
        return false;
    };
    while !message.is_empty() {
        let Ok((tag, wire_type)) = decode_key(&mut message) else {
            return false;
        };
        if tag == field && wire_type == WireType::LengthDelimited {
            return decode_varint(&mut message).is_ok_and(|len| len > 0 && len <= message.len() as u64);
        }
        if skip_field(wire_type, tag, &mut message, DecodeContext::default()).is_err() {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiejun_proto::leads::v1::ClaimLeadRequest;

    fn framed(message: &impl prost::Message) -> Vec<u8> {
        let bytes = message.encode_to_vec();
        let mut out = vec![0];
        out.extend_from_slice(&u32::try_from(bytes.len()).expect("small").to_be_bytes());
        out.extend_from_slice(&bytes);
        out
    }

    #[test]
    fn finds_an_idempotency_key_among_other_fields() {
        let with_key = ClaimLeadRequest {
            lead_id: "0193-lead".into(),
            idempotency_key: "k-1".into(),
        };
        assert!(carries_field(&framed(&with_key), 2));
        let without = ClaimLeadRequest {
            lead_id: "0193-lead".into(),
            ..Default::default()
        };
        assert!(!carries_field(&framed(&without), 2));
        assert!(!carries_field(&[], 2));
        assert!(!carries_field(&[1, 0, 0, 0, 3, 18, 1, 65], 2), "compressed: unknown");
        assert!(!carries_field(&[0, 0, 0, 0, 2, 18, 9], 2), "truncated");
    }

    #[test]
    fn backoffs_are_jittered_and_bounded() {
        use tower::retry::backoff::Backoff as _;
        let policy = RetryPolicy::new(2);
        let now = tokio::time::Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let delays: Vec<Duration> = rt.block_on(async {
            (0..20)
                .map(|_| {
                    policy
                        .backoff()
                        .next_backoff()
                        .deadline()
                        .saturating_duration_since(now)
                })
                .collect()
        });
        assert!(
            delays.iter().all(|d| *d <= MAX_BACKOFF + Duration::from_millis(50)),
            "{delays:?}"
        );
        let first = delays[0];
        assert!(
            delays.iter().any(|d| d.abs_diff(first) > Duration::from_micros(100)),
            "no jitter: {delays:?}"
        );
    }
}

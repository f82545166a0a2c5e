//! Domain events between services (DESIGN §1): who consumes each event
//! type, where those consumers are, and how delivery retries.
//!
//! Each event type has exactly one consuming service; the relay of the
//! producing service delivers it there over gRPC
//! (`tiejun.events.v1.EventConsumerService/Deliver`).

use std::{collections::BTreeMap, time::Duration};

use anyhow::Context as _;

/// The service that consumes `event_type` (the arrows of DESIGN §1).
pub fn consumer_of(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "RepHired" | "CustomerActivated" => "training",
        "ProgramCompleted" | "RenewalDue" | "AccountOpened" => "leads",
        "LeadConverted" => "billing",
        _ => return None,
    })
}

/// Where events go and how delivery retries.
#[derive(Debug, Clone, clap::Args)]
pub struct EventArgs {
    /// Consumers of this service's events, as `name=http://host:port`
    /// (comma-separated or repeated; names: leads, billing, training).
    #[arg(long = "events-to", env = "TIEJUN_EVENTS_TO", value_delimiter = ',')]
    pub events_to: Vec<String>,
    /// Delivery attempts before an event is parked for an operator.
    #[arg(long, env = "TIEJUN_EVENT_MAX_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub event_max_attempts: u32,
    /// The first retry's delay; each next one doubles, with jitter.
    #[arg(long, env = "TIEJUN_EVENT_RETRY_MIN", default_value = "1s", value_parser = crate::config::positive_duration)]
    pub event_retry_min: Duration,
    /// The longest delay between two attempts.
    #[arg(long, env = "TIEJUN_EVENT_RETRY_MAX", default_value = "5m", value_parser = crate::config::positive_duration)]
    pub event_retry_max: Duration,
    /// How often the relay looks for events to deliver.
    #[arg(long, env = "TIEJUN_RELAY_INTERVAL", default_value = "500ms", value_parser = crate::config::positive_duration)]
    pub relay_interval: Duration,
}

impl EventArgs {
    /// No consumers: events stay in the outbox (tests of one service).
    pub fn none() -> Self {
        Self {
            events_to: Vec::new(),
            event_max_attempts: 10,
            event_retry_min: Duration::from_secs(1),
            event_retry_max: Duration::from_secs(300),
            relay_interval: Duration::from_millis(500),
        }
    }

    /// Consumers by name, parsed from `events_to`.
    pub fn consumers(&self) -> anyhow::Result<BTreeMap<String, http::Uri>> {
        anyhow::ensure!(
            self.event_retry_min <= self.event_retry_max,
            "--event-retry-min ({:?}) must not exceed --event-retry-max ({:?})",
            self.event_retry_min,
            self.event_retry_max
        );
        self.events_to
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|entry| {
                let (name, url) = entry
                    .split_once('=')
                    .with_context(|| format!("--events-to {entry:?}: expected name=http://host:port"))?;
                anyhow::ensure!(
                    ["leads", "billing", "training"].contains(&name),
                    "--events-to {entry:?}: unknown consumer {name:?}"
                );
                let uri: http::Uri = url.parse().with_context(|| format!("--events-to {entry:?}: bad URL"))?;
                anyhow::ensure!(
                    uri.scheme_str() == Some("http") && uri.authority().is_some(),
                    "--events-to {entry:?}: the URL must be http://host:port"
                );
                Ok((name.to_owned(), uri))
            })
            .collect()
    }
}

/// The delay before attempt `attempts + 1`: `min` doubled per attempt made,
/// at most `max`, then between half and all of it at random (so events
/// failing together do not retry together).
pub fn retry_delay(attempts: u32, min: Duration, max: Duration) -> Duration {
    use rand::Rng as _;
    let exp = min
        .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1)))
        .min(max);
    let share: f64 = rand::rng().random_range(0.5..=1.0);
    exp.mul_f64(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_one_consumer() {
        for (event, consumer) in [
            ("RepHired", "training"),
            ("ProgramCompleted", "leads"),
            ("LeadConverted", "billing"),
            ("CustomerActivated", "training"),
            ("RenewalDue", "leads"),
        ] {
            assert_eq!(consumer_of(event), Some(consumer));
        }
        assert_eq!(consumer_of("Unknown"), None);
    }

    #[test]
    fn consumers_parse_and_refuse_nonsense() {
        let mut args = EventArgs::none();
        args.events_to = vec![
            "training=http://training:50051".into(),
            " leads=http://10.0.0.1:1 ".into(),
        ];
        let consumers = args.consumers().expect("parses");
        assert_eq!(consumers.len(), 2);
        for bad in ["training", "hr=http://x:1", "leads=leads:1", "leads=https://x:1"] {
            args.events_to = vec![bad.into()];
            assert!(args.consumers().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn retry_delays_grow_stay_bounded_and_vary() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        assert!(retry_delay(1, min, max) <= min);
        assert!(retry_delay(4, min, max) >= Duration::from_secs(4));
        assert!((0..50).all(|_| retry_delay(30, min, max) <= max));
        let delays: std::collections::BTreeSet<_> = (0..20).map(|_| retry_delay(5, min, max)).collect();
        assert!(delays.len() > 1, "no jitter");
    }
}

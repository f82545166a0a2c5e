//! The consumer side of events: an event id is applied once. The id goes
//! into the inbox in the same transaction as the event's effect, so a
//! redelivery finds it there and changes nothing, and a crash before the
//! commit leaves neither.

use chrono::{DateTime, Utc};
use tiejun_proto::events::v1::{DeliverRequest, EventEnvelope, event_envelope::Payload};

use crate::{db::Tx, error::Error, execute, outbox::event_type};

/// A delivered event, checked: an id, a producer and a payload.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The envelope as sent.
    pub envelope: EventEnvelope,
    /// Its payload.
    pub payload: Payload,
}

impl Delivered {
    /// Checks a `Deliver` request.
    pub fn parse(request: DeliverRequest) -> Result<Self, Error> {
        let envelope = request.event.ok_or_else(|| Error::invalid("event", "is required"))?;
        crate::id::required("event.event_id", &envelope.event_id)?;
        crate::id::required("event.producer", &envelope.producer)?;
        let payload = envelope
            .payload
            .clone()
            .ok_or_else(|| Error::invalid("event.payload", "is required"))?;
        Ok(Self { envelope, payload })
    }

    /// The event type's name.
    pub fn event_type(&self) -> &'static str {
        event_type(&self.payload)
    }
}

/// Records `event` as applied within `tx`; false when it already was (the
/// caller then applies nothing and answers `duplicate`).
pub async fn first_time(tx: &mut Tx, event: &Delivered, now: DateTime<Utc>) -> Result<bool, Error> {
    let inserted = execute!(
        tx,
        sqlx::query(
            "INSERT INTO inbox (event_id, producer, event_type, applied_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (event_id) DO NOTHING"
        )
        .bind(&event.envelope.event_id)
        .bind(&event.envelope.producer)
        .bind(event.event_type())
        .bind(now)
    )?;
    Ok(inserted == 1)
}

/// The answer to an event of a type this service does not consume.
pub fn not_consumed_here(event: &Delivered, service: &str) -> Error {
    Error::precondition(
        "EVENT_NOT_CONSUMED",
        format!("{} events are not consumed by {service}", event.event_type()),
    )
}

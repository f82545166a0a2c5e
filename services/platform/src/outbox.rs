//! The transactional outbox, producer side: a domain event is written in the
//! same transaction as the state change that caused it, so it exists exactly
//! when the change does. Delivery to consumers (relays, retries, parking) is
//! the events issue's; the table's order (`seq`) is the delivery order.
//!
//! Each producing service's migrations create the table:
//! `outbox(seq, event_id UNIQUE, subject, event_type, payload, created_at)`,
//! `payload` being the encoded `tiejun.events.v1.EventEnvelope`.

use chrono::{DateTime, Utc};
use prost::Message as _;
use tiejun_proto::events::v1::{EventEnvelope, event_envelope::Payload};

use crate::{db::Tx, error::Error, execute, telemetry};

/// The event type name stored beside the payload (for operators and routing).
pub fn event_type(payload: &Payload) -> &'static str {
    match payload {
        Payload::RepHired(_) => "RepHired",
        Payload::ProgramCompleted(_) => "ProgramCompleted",
        Payload::LeadConverted(_) => "LeadConverted",
        Payload::CustomerActivated(_) => "CustomerActivated",
        Payload::RenewalDue(_) => "RenewalDue",
        Payload::AccountOpened(_) => "AccountOpened",
    }
}

/// Appends an event about `subject` to the outbox within `tx`; returns its id.
pub async fn append(
    tx: &mut Tx,
    producer: &'static str,
    subject: &str,
    payload: Payload,
    now: DateTime<Utc>,
) -> Result<String, Error> {
    let event_id = uuid::Uuid::now_v7().to_string();
    let kind = event_type(&payload);
    // The PRODUCER span: its context travels with the event to the consumer.
    let publish = telemetry::spans::publish_span(producer, kind, &event_id);
    let envelope = EventEnvelope {
        event_id: event_id.clone(),
        producer: producer.to_owned(),
        subject: subject.to_owned(),
        occurred_at: Some(crate::clock::to_proto(now)),
        traceparent: telemetry::traceparent_of(&publish).unwrap_or_default(),
        tracestate: String::new(),
        payload: Some(payload),
    };
    let insert = async {
        execute!(
            tx,
            sqlx::query(
                "INSERT INTO outbox (event_id, subject, event_type, payload, created_at) \
                 VALUES ($1, $2, $3, $4, $5)"
            )
            .bind(&event_id)
            .bind(subject)
            .bind(kind)
            .bind(envelope.encode_to_vec())
            .bind(now)
        )
    };
    tracing::Instrument::instrument(insert, publish).await?;
    Ok(event_id)
}

//! The outbox relay: delivers a service's events to their consumers over
//! gRPC, at least once, in order per subject and consumer.
//!
//! One relay delivers at a time per database (a PostgreSQL advisory lock
//! held by the leader's connection; SQLite has one process), so replicas
//! never deliver one event concurrently. For each consumer the relay takes
//! the oldest pending events whose subject has no earlier undelivered event
//! for that consumer; a failure is retried after a growing, jittered delay,
//! and after `--event-max-attempts` the event is parked (and so is every
//! later event of its subject) until an operator replays it. A crash between
//! the consumer's answer and our bookkeeping only means one more delivery,
//! which the consumer's inbox ignores.

use std::time::Duration;

use chrono::{DateTime, Utc};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Gauge, Histogram},
};
use prost::Message as _;
use tiejun_proto::events::v1::{
    DeliverRequest, EventEnvelope, event_consumer_service_client::EventConsumerServiceClient,
};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use crate::{
    auth::{JwtKeys, Role, TokenSpec},
    db::{Database, DbCell, JobKey},
    error::Error,
    events::{EventArgs, consumer_of, retry_delay},
    execute, on_pool,
};

/// Events per consumer per round.
const BATCH: i64 = 100;
/// The longest a consumer may take to apply one event.
const DELIVER_TIMEOUT: Duration = Duration::from_secs(10);
/// Event types each service produces.
const PRODUCED: [&str; 6] = [
    "RepHired",
    "LeadConverted",
    "ProgramCompleted",
    "CustomerActivated",
    "RenewalDue",
    "AccountOpened",
];

/// One consumer and the event types it receives from this producer.
#[derive(Debug)]
struct Consumer {
    name: String,
    channel: Channel,
    types: Vec<&'static str>,
    /// The query for its due events (see [`due_query`]), built once.
    due: String,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Relay {
    producer: &'static str,
    cell: DbCell,
    keys: JwtKeys,
    args: EventArgs,
    consumers: Vec<Consumer>,
    meters: Meters,
}

#[derive(Debug, sqlx::FromRow)]
struct Due {
    seq: i64,
    event_type: String,
    payload: Vec<u8>,
    attempts: i32,
    created_at: DateTime<Utc>,
    replayed_by: String,
}

/// How often the leading relay reads its outbox's counts for the gauges.
const GAUGES_EVERY: Duration = Duration::from_secs(10);

/// The bucket boundaries of `tiejun.outbox.lag`, in seconds: from a
/// prompt delivery (tens of milliseconds) to an hour behind.
const LAG_BUCKETS: [f64; 15] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// What the relay reports, on its service's meter: deliveries and failures
/// per consumer, the lag from an event's commit to its delivery, and what
/// waits in the outbox (pending, parked, the oldest pending's age), read by
/// the leading replica every [`GAUGES_EVERY`].
#[derive(Debug)]
struct Meters {
    delivered: Counter<u64>,
    failures: Counter<u64>,
    lag: Histogram<f64>,
    pending: Gauge<u64>,
    parked: Gauge<u64>,
    oldest: Gauge<f64>,
}

impl Meters {
    fn new(producer: &'static str) -> Self {
        let meter = crate::telemetry::meter(producer);
        Self {
            delivered: meter
                .u64_counter("tiejun.outbox.delivered")
                .with_unit("{event}")
                .with_description("Events delivered to a consumer")
                .build(),
            failures: meter
                .u64_counter("tiejun.outbox.delivery_failures")
                .with_unit("{attempt}")
                .with_description("Failed delivery attempts")
                .build(),
            lag: meter
                .f64_histogram("tiejun.outbox.lag")
                .with_unit("s")
                .with_boundaries(LAG_BUCKETS.to_vec())
                .with_description("From an event's commit to its delivery")
                .build(),
            pending: meter
                .u64_gauge("tiejun.outbox.pending")
                .with_unit("{event}")
                .with_description("Events waiting for delivery")
                .build(),
            parked: meter
                .u64_gauge("tiejun.outbox.parked")
                .with_unit("{event}")
                .with_description("Events parked after too many failures, until replayed")
                .build(),
            oldest: meter
                .f64_gauge("tiejun.outbox.oldest_pending_age")
                .with_unit("s")
                .with_description("Age of the oldest event waiting for delivery (0 when none)")
                .build(),
        }
    }

    fn waiting(&self, status: &Status) {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        self.pending.record(count(status.pending), &[]);
        self.parked.record(count(status.parked), &[]);
        #[allow(clippy::cast_precision_loss)]
        self.oldest.record(status.oldest_pending_age_seconds as f64, &[]);
    }
}

impl Relay {
    /// A relay for `producer`'s outbox, delivering to the consumers `args` names.
    pub fn new(producer: &'static str, cell: DbCell, keys: JwtKeys, args: EventArgs) -> anyhow::Result<Self> {
        let consumers = args
            .consumers()?
            .into_iter()
            .map(|(name, uri)| {
                let types: Vec<&'static str> = PRODUCED
                    .into_iter()
                    .filter(|t| consumer_of(t) == Some(name.as_str()))
                    .collect();
                Consumer {
                    due: due_query(types.len()),
                    types,
                    channel: Endpoint::from(uri)
                        .connect_timeout(Duration::from_secs(2))
                        .tcp_nodelay(true)
                        .connect_lazy(),
                    name,
                }
            })
            .filter(|c| !c.types.is_empty())
            .collect();
        Ok(Self {
            producer,
            cell,
            keys,
            args,
            consumers,
            meters: Meters::new(producer),
        })
    }

    /// Delivers until `shutdown`, leading when no other replica does.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.consumers.is_empty() {
            return;
        }
        let pause = self.args.relay_interval;
        loop {
            if let Ok(db) = self.cell.get() {
                match db.try_lead(JobKey::Relay).await {
                    Ok(Some(mut lead)) => {
                        tracing::info!(producer = self.producer, "outbox relay leading");
                        let mut gauges_read: Option<std::time::Instant> = None;
                        while lead.still_held().await {
                            if gauges_read.is_none_or(|at| at.elapsed() >= GAUGES_EVERY) {
                                gauges_read = Some(std::time::Instant::now());
                                match status(db, Utc::now()).await {
                                    Ok(status) => self.meters.waiting(&status),
                                    Err(err) => {
                                        tracing::warn!(producer = self.producer, error = %err, "outbox counts unread")
                                    }
                                }
                            }
                            let busy = match self.deliver_due(db).await {
                                Ok(n) => n > 0,
                                Err(err) => {
                                    tracing::warn!(producer = self.producer, error = %err, "outbox relay round failed");
                                    false
                                }
                            };
                            if !busy && !sleep_or_stop(pause, &shutdown).await {
                                return;
                            }
                            if shutdown.is_cancelled() {
                                return;
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(err) => tracing::warn!(producer = self.producer, error = %err, "relay cannot take the lead"),
                }
            }
            if !sleep_or_stop(pause, &shutdown).await {
                return;
            }
        }
    }

    /// One round: every consumer's due events; returns how many were tried.
    pub async fn deliver_due(&self, db: &Database) -> Result<usize, Error> {
        let mut token = None;
        let mut tried = 0;
        for consumer in &self.consumers {
            let due = due_for(db, consumer, Utc::now()).await?;
            if due.is_empty() {
                continue;
            }
            tried += due.len();
            // Minted only for a round with something to deliver.
            let token = match &token {
                Some(token) => token,
                None => token.insert(
                    self.keys
                        .mint(&TokenSpec::new(
                            self.producer,
                            &[Role::Service],
                            Duration::from_secs(300),
                        ))
                        .map_err(|e| Error::internal(format!("{e:#}")))?,
                ),
            };
            for event in due {
                let outcome = self.deliver(consumer, &event, token).await;
                self.record(db, &consumer.name, &event, outcome).await?;
            }
        }
        Ok(tried)
    }

    async fn record(
        &self,
        db: &Database,
        consumer: &str,
        event: &Due,
        outcome: Result<(), String>,
    ) -> Result<(), Error> {
        let now = Utc::now();
        let attempts = event.attempts.saturating_add(1);
        let labels = [
            KeyValue::new("producer", self.producer),
            KeyValue::new("consumer", consumer.to_owned()),
            KeyValue::new("event_type", event.event_type.clone()),
        ];
        match &outcome {
            Ok(()) => {
                self.meters.delivered.add(1, &labels);
                let lag = (now - event.created_at).to_std().unwrap_or_default();
                self.meters.lag.record(lag.as_secs_f64(), &labels);
            }
            Err(_) => self.meters.failures.add(1, &labels),
        }
        let mut tx = db.begin().await?;
        match outcome {
            Ok(()) => {
                execute!(
                    &mut tx,
                    sqlx::query(
                        "UPDATE outbox SET state = 'DELIVERED', attempts = $2, delivered_at = $3, last_error = '' \
                         WHERE seq = $1 AND state = 'PENDING'"
                    )
                    .bind(event.seq)
                    .bind(attempts)
                    .bind(now)
                )?;
            }
            Err(error) => {
                let park = u32::try_from(attempts).unwrap_or(u32::MAX) >= self.args.event_max_attempts;
                let delay = retry_delay(
                    u32::try_from(attempts).unwrap_or(u32::MAX),
                    self.args.event_retry_min,
                    self.args.event_retry_max,
                );
                let next = now + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::hours(1));
                if park {
                    tracing::error!(producer = self.producer, consumer, seq = event.seq, %error, "event parked");
                } else {
                    tracing::warn!(producer = self.producer, consumer, seq = event.seq, attempts, %error, "delivery failed; will retry");
                }
                execute!(
                    &mut tx,
                    sqlx::query(
                        "UPDATE outbox SET attempts = $2, last_error = $3, next_attempt_at = $4, \
                         state = CASE WHEN $5 THEN 'PARKED' ELSE 'PENDING' END, \
                         parked_at = CASE WHEN $5 THEN $6 ELSE NULL END \
                         WHERE seq = $1 AND state = 'PENDING'"
                    )
                    .bind(event.seq)
                    .bind(attempts)
                    .bind(truncate(&error, 500))
                    .bind(next)
                    .bind(park)
                    .bind(now)
                )?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Sleeps `pause`; false when `shutdown` came first.
async fn sleep_or_stop(pause: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(pause) => true,
    }
}

/// The query for the oldest pending events of `types` (bound from `$3`)
/// that are due (`$1`) and first in line for their subject, at most `$2`.
fn due_query(types: usize) -> String {
    let list = (0..types).map(|i| format!("${}", i + 3)).collect::<Vec<_>>().join(", ");
    format!(
        "SELECT o.seq, o.event_type, o.payload, o.attempts, o.created_at, o.replayed_by FROM outbox o \
         WHERE o.state = 'PENDING' AND o.event_type IN ({list}) \
           AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= $1) \
           AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.subject = o.subject AND p.seq < o.seq \
                           AND p.state <> 'DELIVERED' AND p.event_type IN ({list})) \
         ORDER BY o.seq LIMIT $2"
    )
}

/// `consumer`'s events due at `now`, oldest first.
async fn due_for(db: &Database, consumer: &Consumer, now: DateTime<Utc>) -> Result<Vec<Due>, Error> {
    Ok(on_pool!(db, |p| {
        let mut query = sqlx::query_as::<_, Due>(sqlx::AssertSqlSafe(consumer.due.clone()))
            .bind(now)
            .bind(BATCH);
        for t in &consumer.types {
            query = query.bind(*t);
        }
        query.fetch_all(p).await
    })?)
}

impl Relay {
    /// Delivers one stored event in a CONSUMER span of its own (see
    /// [`telemetry::spans`](crate::telemetry::spans)), the call to the
    /// consumer a CLIENT span inside it; the error text is kept for
    /// operators.
    async fn deliver(&self, consumer: &Consumer, event: &Due, token: &str) -> Result<(), String> {
        use tracing::Instrument as _;
        let envelope = EventEnvelope::decode(event.payload.as_slice())
            .map_err(|e| format!("stored event does not decode: {e}"))?;
        let process = crate::telemetry::spans::process_span(
            self.producer,
            &crate::telemetry::spans::Delivery {
                event_type: &event.event_type,
                event_id: &envelope.event_id,
                consumer: &consumer.name,
                attempt: i64::from(event.attempts) + 1,
                traceparent: &envelope.traceparent,
                replayed_by: &event.replayed_by,
            },
        );
        let outcome = deliver(self.producer, consumer, envelope, token)
            .instrument(process.clone())
            .await;
        if let Err(error) = &outcome {
            process.record("otel.status_description", error.as_str());
        }
        outcome
    }
}

/// Calls the consumer's `Deliver` with `envelope`, in a CLIENT span whose
/// context the consumer's SERVER span continues.
async fn deliver(
    producer: &'static str,
    consumer: &Consumer,
    envelope: EventEnvelope,
    token: &str,
) -> Result<(), String> {
    use tracing::Instrument as _;
    const DELIVER: &str = "/tiejun.events.v1.EventConsumerService/Deliver";
    let call = crate::telemetry::client_span(producer, DELIVER);
    let mut request = tonic::Request::new(DeliverRequest { event: Some(envelope) });
    request.set_timeout(DELIVER_TIMEOUT);
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| "token is not ASCII".to_owned())?;
    request.metadata_mut().insert("authorization", bearer);
    if let Some(traceparent) = crate::telemetry::traceparent_of(&call).and_then(|t| t.parse().ok()) {
        request.metadata_mut().insert("traceparent", traceparent);
    }
    let result = EventConsumerServiceClient::new(consumer.channel.clone())
        .deliver(request)
        .instrument(call.clone())
        .await;
    let code = result.as_ref().map_or_else(|status| status.code() as i64, |_| 0);
    crate::telemetry::record_status(&call, crate::telemetry::Side::Client, code);
    result.map(drop).map_err(|status| describe(&status))
}

/// A consumer's refusal as an operator reads it: code, reason, message.
fn describe(status: &tonic::Status) -> String {
    use tonic_types::StatusExt as _;
    match status.get_error_details().error_info() {
        Some(info) => format!("{:?} {}: {}", status.code(), info.reason, status.message()),
        None => format!("{:?}: {}", status.code(), status.message()),
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Counts for `GetOutboxStatus`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// Waiting for delivery.
    pub pending: i64,
    /// Delivered.
    pub delivered: i64,
    /// Parked after too many failures.
    pub parked: i64,
    /// Age of the oldest pending event, in seconds (0 when none).
    pub oldest_pending_age_seconds: i64,
}

/// The outbox's counts, ages measured at `now`.
pub async fn status(db: &Database, now: DateTime<Utc>) -> Result<Status, Error> {
    let counts: Vec<(String, i64)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT state, COUNT(*) FROM outbox GROUP BY state"
    )
    .fetch_all(p)
    .await)?;
    let oldest: Option<(DateTime<Utc>,)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT created_at FROM outbox WHERE state = 'PENDING' ORDER BY seq LIMIT 1"
    )
    .fetch_optional(p)
    .await)?;
    let count = |state: &str| counts.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
    Ok(Status {
        pending: count("PENDING"),
        delivered: count("DELIVERED"),
        parked: count("PARKED"),
        oldest_pending_age_seconds: oldest.map_or(0, |(at,)| (now - at).num_seconds().max(0)),
    })
}

/// A parked event as an operator sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Parked {
    /// The stored envelope.
    pub payload: Vec<u8>,
    /// Its type.
    pub event_type: String,
    /// Attempts made.
    pub attempts: i32,
    /// The last failure.
    pub last_error: String,
    /// When it was parked.
    pub parked_at: Option<DateTime<Utc>>,
}

/// Parked events, oldest first.
pub async fn parked(db: &Database, limit: i64, offset: i64) -> Result<Vec<Parked>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT payload, event_type, attempts, last_error, parked_at FROM outbox \
         WHERE state = 'PARKED' ORDER BY seq LIMIT $1 OFFSET $2"
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(p)
    .await)?)
}

/// Puts parked events back in line (one by id, or all); returns how many.
/// An id that names no parked event is NOT_FOUND.
///
/// Each keeps the `traceparent` of the calling span, so its next delivery
/// links to the replay.
pub async fn replay(db: &Database, event_id: Option<&str>) -> Result<u64, Error> {
    let replayed_by = crate::telemetry::current_traceparent().unwrap_or_default();
    let mut tx = db.begin().await?;
    let done = execute!(
        &mut tx,
        sqlx::query(
            "UPDATE outbox SET state = 'PENDING', attempts = 0, next_attempt_at = NULL, parked_at = NULL, \
             replayed_by = $2 WHERE state = 'PARKED' AND ($1 = '' OR event_id = $1)"
        )
        .bind(event_id.unwrap_or(""))
        .bind(replayed_by)
    )?;
    if done == 0
        && let Some(id) = event_id
    {
        return Err(Error::not_found("parked event", id));
    }
    tx.commit().await?;
    Ok(done)
}

/// The consumer an operator sees for a parked event.
pub fn consumer_name(event_type: &str) -> String {
    consumer_of(event_type).unwrap_or("none").to_owned()
}

impl From<Status> for tiejun_proto::events::v1::OutboxStatus {
    fn from(s: Status) -> Self {
        Self {
            pending: s.pending,
            delivered: s.delivered,
            parked: s.parked,
            oldest_pending_age_seconds: s.oldest_pending_age_seconds,
        }
    }
}

impl Parked {
    /// As the operator RPCs show it.
    pub fn to_proto(&self) -> tiejun_proto::events::v1::ParkedEvent {
        tiejun_proto::events::v1::ParkedEvent {
            event: EventEnvelope::decode(self.payload.as_slice()).ok(),
            consumer: consumer_of(&self.event_type).unwrap_or("none").to_owned(),
            attempts: self.attempts,
            last_error: self.last_error.clone(),
            parked_at: self.parked_at.map(crate::clock::to_proto),
        }
    }
}

/// Implements a package's `OutboxService` (status, parked events, replay)
/// for a service struct with `db: DbCell` and `clock: SharedClock` fields:
/// `tiejun_platform::outbox_service!(Leads, tiejun_proto::leads::v1);`.
#[macro_export]
macro_rules! outbox_service {
    ($svc:ty, $pkg:path) => {
        const _: () = {
            use $crate::{paging::Page, relay};
            use $pkg as pkg;

            #[tonic::async_trait]
            impl pkg::outbox_service_server::OutboxService for $svc {
                async fn get_outbox_status(
                    &self,
                    _request: tonic::Request<pkg::GetOutboxStatusRequest>,
                ) -> Result<tonic::Response<pkg::GetOutboxStatusResponse>, tonic::Status> {
                    let status = relay::status(self.db.get()?, self.clock.now()).await?;
                    Ok(tonic::Response::new(pkg::GetOutboxStatusResponse {
                        status: Some(status.into()),
                    }))
                }

                async fn list_parked_events(
                    &self,
                    request: tonic::Request<pkg::ListParkedEventsRequest>,
                ) -> Result<tonic::Response<pkg::ListParkedEventsResponse>, tonic::Status> {
                    let r = request.get_ref();
                    let page = Page::parse(r.page_size, &r.page_token)?;
                    let mut rows = relay::parked(self.db.get()?, page.limit_plus_one(), page.offset()).await?;
                    let next_page_token = page.finish(&mut rows);
                    Ok(tonic::Response::new(pkg::ListParkedEventsResponse {
                        events: rows.iter().map(relay::Parked::to_proto).collect(),
                        next_page_token,
                    }))
                }

                async fn replay_parked_events(
                    &self,
                    request: tonic::Request<pkg::ReplayParkedEventsRequest>,
                ) -> Result<tonic::Response<pkg::ReplayParkedEventsResponse>, tonic::Status> {
                    let r = request.get_ref();
                    let id = r.event_id.trim();
                    let which = match (id.is_empty(), r.all) {
                        (false, false) => Some(id),
                        (true, true) => None,
                        _ => {
                            return Err($crate::Error::invalid(
                                "event_id",
                                "give an event_id, or all = true, not both",
                            )
                            .into());
                        }
                    };
                    let replayed = relay::replay(self.db.get()?, which).await?;
                    Ok(tonic::Response::new(pkg::ReplayParkedEventsResponse {
                        replayed: i32::try_from(replayed).unwrap_or(i32::MAX),
                    }))
                }
            }
        };
    };
}

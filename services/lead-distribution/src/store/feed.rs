//! `rep_events`: a rep's feed, what `WatchRepEvents` streams. Each event is
//! a row appended in the transaction of the change (so a watcher on any
//! replica sees what any replica committed); the lead it names is read
//! when the event is streamed.

use chrono::{DateTime, Utc};
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    on_pool, on_tx,
};
use tiejun_proto::leads::v1::TransitionRule;

use super::leads::{LeadRow, lead_columns};
use crate::domain::state::{Named, Stored as _};

/// What happened to one of the rep's leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The lead was given to the rep.
    Assigned,
    /// A deadline on the rep's lead is near.
    Warning,
    /// The lead was taken from the rep.
    Reclaimed,
}

impl Kind {
    /// The stored name.
    pub fn stored(self) -> &'static str {
        match self {
            Self::Assigned => "ASSIGNED",
            Self::Warning => "WARNING",
            Self::Reclaimed => "RECLAIMED",
        }
    }
}

/// Appends one event to `person_id`'s feed.
pub async fn push(
    tx: &mut Tx,
    person_id: &str,
    kind: Kind,
    lead_id: &str,
    rule: TransitionRule,
    deadline_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO rep_events (person_id, kind, lead_id, rule, deadline_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(person_id)
    .bind(kind.stored())
    .bind(lead_id)
    .bind(rule.stored())
    .bind(deadline_at)
    .bind(now)
    .execute(c)
    .await
    .map(drop)
    })?;
    Ok(())
}

/// One event of a feed, with the lead as it is now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedRow {
    /// The feed's sequence number.
    pub seq: i64,
    /// `ASSIGNED`, `WARNING` or `RECLAIMED`.
    pub event_kind: String,
    /// The rule behind it.
    #[sqlx(try_from = "String")]
    pub event_rule: Named<TransitionRule>,
    /// The deadline: of the assignment, or the one warned of.
    pub event_deadline_at: Option<DateTime<Utc>>,
    /// When it happened.
    pub event_at: DateTime<Utc>,
    /// The lead.
    #[sqlx(flatten)]
    pub lead: LeadRow,
}

/// The newest sequence number (a new watcher starts after it).
pub async fn latest(db: &Database) -> Result<i64, Error> {
    Ok(on_pool!(db, |p| sqlx::query_scalar(
        "SELECT COALESCE(MAX(seq), 0) FROM rep_events"
    )
    .fetch_one(p)
    .await?))
}

/// `person_id`'s events after `after`, oldest first, at most 500.
pub async fn since(db: &Database, person_id: &str, after: i64) -> Result<Vec<FeedRow>, Error> {
    let sql = concat!(
        "SELECT e.seq, e.kind AS event_kind, e.rule AS event_rule, e.deadline_at AS event_deadline_at, \
         e.created_at AS event_at, ",
        lead_columns!("l."),
        " FROM rep_events e JOIN leads l ON l.lead_id = e.lead_id WHERE e.person_id = $1 AND e.seq > $2 \
         ORDER BY e.seq LIMIT 500"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sql)
        .bind(person_id)
        .bind(after)
        .fetch_all(p)
        .await?))
}

/// Forgets events older than `before` (nothing else locks old events).
/// Events are appended in time order, so the cut is the first newer
/// event's sequence, found by reading the oldest events only.
pub async fn prune(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64, Error> {
    Ok(on_tx!(tx, |c| sqlx::query(
        "DELETE FROM rep_events WHERE seq < COALESCE( \
         (SELECT seq FROM rep_events WHERE created_at >= $1 ORDER BY seq LIMIT 1), \
         (SELECT COALESCE(MAX(seq), 0) + 1 FROM rep_events))"
    )
    .bind(before)
    .execute(c)
    .await?
    .rows_affected()))
}

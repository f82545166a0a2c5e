//! `rep_events`: a rep's feed, what `WatchRepEvents` streams. Each event is
//! a row appended in the transaction of the change (so a watcher on any
//! replica sees what any replica committed); the lead it names is read
//! when the event is streamed.
//!
//! Events are appended unnumbered and numbered once committed ([`number`],
//! one numbering transaction at a time across replicas), so the feed's
//! sequence follows commit order: whoever has read up to `n` has seen every
//! event that will ever be numbered `n` or less, and a watcher can resume
//! from the last number it saw. Numbers are consecutive across all reps;
//! the oldest are deleted after the retention ([`prune`]).

use crate::domain::ids::{LeadId, PersonId};
use chrono::{DateTime, Utc};
use tiejun_platform::{
    db::{Database, JobKey, Tx},
    error::Error,
    execute, on_pool, on_tx,
};
use tiejun_proto::leads::v1::TransitionRule;

use super::leads::{LeadRow, lead_columns};
use tiejun_platform::stored::{Named, Stored as _};

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
    person_id: &PersonId,
    kind: Kind,
    lead_id: &LeadId,
    rule: TransitionRule,
    deadline_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO rep_events (person_id, kind, lead_id, rule, deadline_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(person_id)
        .bind(kind.stored())
        .bind(lead_id)
        .bind(rule.stored())
        .bind(deadline_at)
        .bind(now)
    )?;
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
    pub event_rule: Named<TransitionRule>,
    /// The deadline: of the assignment, or the one warned of.
    pub event_deadline_at: Option<DateTime<Utc>>,
    /// When it happened.
    pub event_at: DateTime<Utc>,
    /// The lead.
    #[sqlx(flatten)]
    pub lead: LeadRow,
}

/// How many events [`number`] numbers in one transaction, at most.
const NUMBER_AT_MOST: i64 = 5_000;

/// Numbers the committed, unnumbered events in insertion order, after the
/// last number given; the count numbered. Takes the feed's job lock, so a
/// replica numbering at the same time waits and then sees these numbers.
pub async fn number(tx: &mut Tx) -> Result<u64, Error> {
    tx.job_lock(JobKey::Feed).await?;
    let top: i64 = on_tx!(tx, |c| sqlx::query_scalar("SELECT top FROM rep_feed WHERE one = 1")
        .fetch_one(c)
        .await?);
    let numbered = execute!(
        tx,
        sqlx::query(
            "UPDATE rep_events SET seq = $1 + n.rank FROM \
             (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rank FROM rep_events WHERE seq IS NULL \
             ORDER BY id LIMIT $2) AS n \
             WHERE rep_events.id = n.id"
        )
        .bind(top)
        .bind(NUMBER_AT_MOST)
    )?;
    if numbered > 0 {
        execute!(
            tx,
            sqlx::query("UPDATE rep_feed SET top = top + $1 WHERE one = 1")
                .bind(i64::try_from(numbered).unwrap_or(i64::MAX))
        )?;
    }
    Ok(numbered)
}

/// True when some committed event waits for its number (a cheap read of a
/// partial index, so an idle numbering loop never writes).
pub async fn unnumbered(db: &Database) -> Result<bool, Error> {
    Ok(on_pool!(db, |p| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM rep_events WHERE seq IS NULL)"
    )
    .fetch_one(p)
    .await?))
}

/// The numbers the feed holds now: the newest given, and the oldest still
/// kept (`None` when every event given has been pruned, or none was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The last number given.
    pub newest: i64,
    /// The oldest number kept.
    pub oldest: Option<i64>,
}

impl Head {
    /// True when every event after `after` is still kept: the next number
    /// after it is the oldest kept, or newer.
    pub fn keeps_everything_after(&self, after: i64) -> bool {
        match self.oldest {
            Some(oldest) => after >= oldest - 1,
            None => after >= self.newest,
        }
    }
}

/// The feed's [`Head`].
pub async fn head(db: &Database) -> Result<Head, Error> {
    let (newest, oldest): (i64, Option<i64>) = on_pool!(db, |p| sqlx::query_as(
        "SELECT top, (SELECT MIN(seq) FROM rep_events WHERE seq IS NOT NULL) FROM rep_feed WHERE one = 1"
    )
    .fetch_one(p)
    .await?);
    Ok(Head { newest, oldest })
}

/// `person_id`'s events after `after`, oldest first, at most 500.
pub async fn since(db: &Database, person_id: &PersonId, after: i64) -> Result<Vec<FeedRow>, Error> {
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

/// Forgets numbered events older than `before` (nothing else locks old
/// events), from the oldest: the cut is the first newer event's number,
/// found by reading the oldest events only, so the numbers kept stay
/// consecutive. Unnumbered events are never pruned.
pub async fn prune(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64, Error> {
    Ok(execute!(
        tx,
        sqlx::query(
            "DELETE FROM rep_events WHERE seq < COALESCE( \
             (SELECT seq FROM rep_events WHERE created_at >= $1 AND seq IS NOT NULL ORDER BY seq LIMIT 1), \
             (SELECT top + 1 FROM rep_feed WHERE one = 1))"
        )
        .bind(before)
    )?)
}

#[cfg(test)]
mod tests {
    use super::Head;

    #[test]
    fn a_cursor_is_good_while_the_next_number_after_it_is_kept() {
        let kept = Head {
            newest: 10,
            oldest: Some(5),
        };
        assert!(kept.keeps_everything_after(4), "5 onwards are all there");
        assert!(kept.keeps_everything_after(10));
        assert!(!kept.keeps_everything_after(3), "4 was pruned");
        let all_pruned = Head {
            newest: 10,
            oldest: None,
        };
        assert!(all_pruned.keeps_everything_after(10), "nothing after 10 was ever given");
        assert!(!all_pruned.keeps_everything_after(9), "10 was pruned");
        let empty = Head {
            newest: 0,
            oldest: None,
        };
        assert!(empty.keeps_everything_after(0));
    }
}

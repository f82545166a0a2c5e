//! `rep_events`: what `WatchRepEvents` streams. Written in the transaction of
//! the change, read by whichever replica the watcher is connected to.

use chrono::{DateTime, Utc};
use prost::Message as _;
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    on_pool, on_tx,
};
use tiejun_proto::leads::v1::WatchRepEventsResponse;

/// Records an event for `person_id`.
pub async fn push(
    tx: &mut Tx,
    person_id: &str,
    event: &WatchRepEventsResponse,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO rep_events (person_id, payload, created_at) VALUES ($1, $2, $3)"
    )
    .bind(person_id)
    .bind(event.encode_to_vec())
    .bind(now)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

/// The newest sequence number (the watcher starts after it).
pub async fn latest(db: &Database) -> Result<i64, Error> {
    Ok(on_pool!(db, |p| sqlx::query_scalar(
        "SELECT COALESCE(MAX(seq), 0) FROM rep_events"
    )
    .fetch_one(p)
    .await?))
}

/// `person_id`'s events after `after`, oldest first.
pub async fn since(db: &Database, person_id: &str, after: i64) -> Result<Vec<(i64, WatchRepEventsResponse)>, Error> {
    let rows: Vec<(i64, Vec<u8>)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT seq, payload FROM rep_events WHERE person_id = $1 AND seq > $2 ORDER BY seq LIMIT 500"
    )
    .bind(person_id)
    .bind(after)
    .fetch_all(p)
    .await?);
    rows.into_iter()
        .map(|(seq, bytes)| {
            WatchRepEventsResponse::decode(bytes.as_slice())
                .map(|e| (seq, e))
                .map_err(|e| Error::Internal(e.into()))
        })
        .collect()
}

/// Forgets events older than `before`.
pub async fn prune(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64, Error> {
    Ok(on_tx!(tx, |c| sqlx::query(
        "DELETE FROM rep_events WHERE created_at < $1"
    )
    .bind(before)
    .execute(c)
    .await?
    .rows_affected()))
}

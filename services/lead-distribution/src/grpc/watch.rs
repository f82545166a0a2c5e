//! `WatchRepEvents`: a rep's assignments, deadline warnings and reclaims, as
//! they are committed. Events are read from the rep's feed (`rep_events`),
//! so a watcher sees changes made by any replica; the stream polls every
//! 250 ms, ends when the client goes away, and ends with UNAVAILABLE when
//! the server shuts down.
//!
//! A watcher that reconnects passes the last `sequence` it saw as
//! `after_sequence`: the stream replays the rep's events after it and goes
//! on live in the same loop (one cursor, so nothing between the two is
//! lost or sent twice). The feed is numbered in commit order
//! (`store::feed`), which is what makes the cursor safe.

use crate::domain::ids::PersonId;
use std::time::Duration;

use tiejun_platform::{auth::Principal, db::Database, error::Error};
use tiejun_proto::leads::v1::{WatchRepEventsRequest, WatchRepEventsResponse};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, codegen::BoxStream};

use super::Leads;
use crate::{
    app::sweep::FEED_RETENTION,
    convert,
    store::feed::{self, FeedRow},
};

/// How often the stream looks for new events.
const POLL_EVERY: Duration = Duration::from_millis(250);

impl Leads {
    pub(super) async fn watch_rpc(
        &self,
        principal: &Principal,
        r: &WatchRepEventsRequest,
    ) -> Result<BoxStream<WatchRepEventsResponse>, Error> {
        let db = self.db.get()?.clone();
        crate::app::scope::person(&db, principal, &r.person_id).await?;
        let person_id = crate::domain::rep::person_id(&r.person_id).map_err(|e| Error::invalid("person_id", e))?;
        let (mut after, first) = match r.after_sequence {
            None => (feed::head(&db).await?.newest, Vec::new()),
            Some(after) => (after, replay_from(&db, &person_id, after).await?),
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<WatchRepEventsResponse, Status>>(64);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut batch = first;
            loop {
                for row in std::mem::take(&mut batch) {
                    after = row.seq;
                    let Some(event) = convert::feed_event(&person_id, row) else {
                        continue;
                    };
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                tokio::select! {
                    () = shutdown.cancelled() => {
                        let _ = tx.send(Err(Error::Unavailable("server shutting down; reconnect".into()).into())).await;
                        return;
                    }
                    () = tx.closed() => return,
                    () = tokio::time::sleep(POLL_EVERY) => {}
                }
                match feed::since(&db, &person_id, after).await {
                    Ok(rows) => batch = rows,
                    Err(err) => {
                        let _ = tx.send(Err(err.into())).await;
                        return;
                    }
                }
            }
        });
        Ok(Box::pin(ReceiverStream::new(rx)))
    }
}

/// The rep's first events after `after`, once the cursor is known to be
/// within the feed: not ahead of its newest number, and not older than its
/// oldest kept. The oldest is read after the events, so an event pruned
/// while they were read cannot go missing unnoticed.
async fn replay_from(db: &Database, person_id: &PersonId, after: i64) -> Result<Vec<FeedRow>, Error> {
    if after < 0 {
        return Err(Error::invalid("after_sequence", "must not be negative"));
    }
    if after > feed::head(db).await?.newest {
        return Err(Error::OutOfRange {
            field: "after_sequence",
            reason: "CURSOR_AHEAD",
            message: format!(
                "after_sequence {after} is ahead of the feed's newest event: it comes from another \
                 database; reload the rep's leads with ListLeads and watch without it"
            ),
        });
    }
    let rows = feed::since(db, person_id, after).await?;
    if !feed::head(db).await?.keeps_everything_after(after) {
        return Err(Error::OutOfRange {
            field: "after_sequence",
            reason: "CURSOR_EXPIRED",
            message: format!(
                "after_sequence {after} is older than the feed keeps ({} days): reload the rep's leads \
                 with ListLeads and watch without it",
                FEED_RETENTION.num_days()
            ),
        });
    }
    Ok(rows)
}

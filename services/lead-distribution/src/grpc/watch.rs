//! `WatchRepEvents`: a rep's assignments, deadline warnings and reclaims, as
//! they are committed. Events are read from the rep's feed (`rep_events`),
//! so a watcher sees changes made by any replica; the stream polls every
//! 250 ms, ends when the client goes away, and ends with UNAVAILABLE when
//! the server shuts down.

use std::time::Duration;

use tiejun_platform::{auth::Principal, error::Error};
use tiejun_proto::leads::v1::{WatchRepEventsRequest, WatchRepEventsResponse};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, codegen::BoxStream};

use super::Leads;
use crate::{convert, store::feed};

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
        let mut after = feed::latest(&db).await?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<WatchRepEventsResponse, Status>>(64);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => {
                        let _ = tx.send(Err(Status::unavailable("server shutting down; reconnect"))).await;
                        return;
                    }
                    () = tx.closed() => return,
                    () = tokio::time::sleep(POLL_EVERY) => {}
                }
                match feed::since(&db, &person_id, after).await {
                    Ok(batch) => {
                        for row in batch {
                            after = row.seq;
                            let Some(event) = convert::feed_event(&person_id, row) else {
                                continue;
                            };
                            if tx.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                    }
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

//! Sessions: scheduling one, and cancelling one with every enrolment on it,
//! each learner told why (`domain::session::cancels` says when a session
//! can be cancelled).

use crate::domain::ids::SessionId;
use chrono::{DateTime, Utc};
use tiejun_platform::{db::Tx, error::Error};

use crate::{
    domain::session::{self, NewSession},
    store::{
        enrollments,
        sessions::{self, SessionRow},
    },
};

/// Schedules `new`; returns it as stored.
pub async fn schedule(tx: &mut Tx, now: DateTime<Utc>, new: &NewSession) -> Result<SessionRow, Error> {
    let id = SessionId::mint();
    sessions::create(tx, &id, new, now).await?;
    locked(tx, &id).await
}

/// A cancelled session and how many enrolments went with it.
#[derive(Debug)]
pub struct Cancelled {
    /// The session as it is now.
    pub session: SessionRow,
    /// Enrolments cancelled with it (0 when it already was cancelled).
    pub enrollments: u64,
}

/// Cancels session `id` for `reason`, with every enrolment on it (the
/// session's row locked first, as every change to its seats is).
pub async fn cancel(tx: &mut Tx, now: DateTime<Utc>, id: &SessionId, reason: &str) -> Result<Cancelled, Error> {
    let row = locked(tx, id).await?;
    let mut cancelled = 0;
    if session::cancels(row.status.0)? {
        // Every learner is told why: the reason is on their enrolment.
        cancelled = enrollments::cancel_all(tx, id, &format!("session cancelled: {reason}"), now).await?;
        sessions::cancel(tx, id).await?;
    }
    Ok(Cancelled {
        session: locked(tx, id).await?,
        enrollments: cancelled,
    })
}

async fn locked(tx: &mut Tx, id: &SessionId) -> Result<SessionRow, Error> {
    sessions::lock(tx, id).await?.ok_or_else(|| Error::missing(id))
}

//! `SessionService`: scheduling, reading, listing and cancelling sessions;
//! the writes are `crate::app::sessions`.

use crate::domain::ids::SessionId;
use tiejun_platform::{auth::Principal, clock, error::Error, idempotency, paging::Page};
use tiejun_proto::training::v1::{
    CancelSessionRequest, CancelSessionResponse, GetSessionRequest, GetSessionResponse, ListSessionsRequest,
    ListSessionsResponse, ScheduleSessionRequest, ScheduleSessionResponse, SessionStatus,
    session_service_server::SessionService,
};

use super::{Training, convert};
use crate::{
    app::sessions as app,
    domain::{session::NewSession, text},
    store::sessions,
};

#[tiejun_platform::grpc_service(SessionService)]
impl Training {
    async fn schedule_session(
        &self,
        principal: &Principal,
        r: &ScheduleSessionRequest,
    ) -> Result<ScheduleSessionResponse, Error> {
        let input = r
            .session
            .as_ref()
            .ok_or_else(|| Error::invalid("session", "is required"))?;
        let now = self.clock.now();
        let new = NewSession::parse(input, now)?;
        let key = idempotency::Key::of(&principal.subject, "ScheduleSession", &r.idempotency_key, r)?;
        idempotency::transact(self.db.get()?, key.as_ref(), now, async |tx| {
            let row = app::schedule(tx, now, &new).await?;
            Ok(ScheduleSessionResponse {
                session: Some(convert::session(row)),
            })
        })
        .await
    }

    async fn get_session(&self, r: &GetSessionRequest) -> Result<GetSessionResponse, Error> {
        let id = SessionId::required("session_id", &r.session_id)?;
        let db = self.db.get()?;
        let row = sessions::get(db, &id).await?.ok_or_else(|| Error::missing(&id))?;
        Ok(GetSessionResponse {
            session: Some(convert::session(row)),
        })
    }

    async fn list_sessions(&self, r: &ListSessionsRequest) -> Result<ListSessionsResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let status = tiejun_platform::stored::filter::<SessionStatus>("status", r.status)?;
        let filter = sessions::SessionFilter {
            city: r.city.trim().to_owned(),
            program_id: r.program_id.trim().to_owned(),
            status: status.to_owned(),
            from: clock::instant("starts_from", r.starts_from.as_ref())?,
            to: clock::instant("starts_to", r.starts_to.as_ref())?,
        };
        let db = self.db.get()?;
        let mut rows = sessions::list(db, &filter, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(ListSessionsResponse {
            sessions: rows.into_iter().map(convert::session).collect(),
            next_page_token,
        })
    }

    async fn cancel_session(&self, r: &CancelSessionRequest) -> Result<CancelSessionResponse, Error> {
        let reason = text(&r.reason, 1, 500).map_err(|e| Error::invalid("reason", e))?;
        let id = r.session_id.trim();
        let now = self.clock.now();
        idempotency::transact(self.db.get()?, None, now, async |tx| {
            let c = app::cancel(tx, now, &SessionId::from(id), &reason).await?;
            Ok(CancelSessionResponse {
                session: Some(convert::session(c.session)),
                enrollments_cancelled: i32::try_from(c.enrollments).unwrap_or(i32::MAX),
            })
        })
        .await
    }
}

//! `EnrollmentService`: each RPC decodes its request, authorises the
//! caller, runs one use case (`crate::app::enrollment`) in one transaction,
//! and encodes the answer.

use crate::domain::ids::{EnrollmentId, ProgramId, SessionId};
use tiejun_platform::{
    auth::Principal,
    error::Error,
    idempotency::{self, Key},
    paging::Page,
    stored::filter,
};
use tiejun_proto::training::v1::{
    AutoEnrollRequest, AutoEnrollResponse, CancelEnrollmentRequest, CancelEnrollmentResponse, EnrollRequest,
    EnrollResponse, EnrollmentStatus, GetEnrollmentRequest, GetEnrollmentResponse, ListEnrollmentsRequest,
    ListEnrollmentsResponse, RecordAssessmentRequest, RecordAssessmentResponse, RecordAttendanceRequest,
    RecordAttendanceResponse, Track, enrollment_service_server::EnrollmentService,
};

use super::Training;
use crate::{
    app::enrollment::{self as app, enrolled},
    convert,
    domain::{key, learner_id, text},
    store::{catalog, enrollments},
};

#[tiejun_platform::grpc_service(EnrollmentService)]
impl Training {
    async fn auto_enroll(&self, principal: &Principal, r: &AutoEnrollRequest) -> Result<AutoEnrollResponse, Error> {
        let learner = learner_id(&r.learner_id).map_err(|e| Error::invalid("learner_id", e))?;
        principal.may_act_for_learner(&learner)?;
        let program_id = key(&r.program_id).map_err(|e| Error::invalid("program_id", e))?;
        let key = Key::of(&principal.subject, "AutoEnroll", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut result = None;
        let response = idempotency::transact(db, key.as_ref(), now, async |tx| {
            let city = r.city.trim();
            let (row, session) = app::place(
                tx,
                db,
                &self.headquarters,
                &learner,
                &ProgramId::from(&program_id),
                city,
                now,
            )
            .await?;
            result = Some(row.status.0);
            Ok(AutoEnrollResponse {
                enrollment: Some(convert::enrollment(row)),
                session: Some(convert::session(session)),
            })
        })
        .await?;
        result.into_iter().for_each(enrolled);
        Ok(response)
    }

    async fn record_attendance(&self, r: &RecordAttendanceRequest) -> Result<RecordAttendanceResponse, Error> {
        let db = self.db.get()?;
        let now = self.clock.now();
        let id = EnrollmentId::required("enrollment_id", &r.enrollment_id)?;
        let found = enrollments::get(db, &id).await?.ok_or_else(|| Error::missing(&id))?;
        idempotency::transact(db, None, now, async |tx| {
            let row = app::attendance(tx, &found, r.attended, now).await?;
            Ok(RecordAttendanceResponse {
                enrollment: Some(convert::enrollment(row)),
            })
        })
        .await
    }

    async fn record_assessment(
        &self,
        principal: &Principal,
        r: &RecordAssessmentRequest,
    ) -> Result<RecordAssessmentResponse, Error> {
        let learner = learner_id(&r.learner_id).map_err(|e| Error::invalid("learner_id", e))?;
        let program_id = ProgramId::from(key(&r.program_id).map_err(|e| Error::invalid("program_id", e))?);
        if !(0..=100).contains(&r.score) {
            return Err(Error::invalid("score", "must be between 0 and 100"));
        }
        let key = Key::of(&principal.subject, "RecordAssessment", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let program = catalog::program(db, &program_id)
            .await?
            .ok_or_else(|| Error::missing(&program_id))?;
        let track = Track::try_from(r.track).ok().filter(|t| program.tracks.0.contains(t));
        let Some(track) = track else {
            return Err(Error::invalid("track", "not a track of this programme"));
        };
        idempotency::transact(db, key.as_ref(), now, async |tx| {
            let cert = app::assessment(tx, &learner, &program_id, track, r.score, now).await?;
            Ok(RecordAssessmentResponse {
                program_completed: cert.is_some(),
                certificate: cert.as_ref().map(convert::certificate).transpose()?,
            })
        })
        .await
    }

    async fn enroll(&self, principal: &Principal, r: &EnrollRequest) -> Result<EnrollResponse, Error> {
        let learner = learner_id(&r.learner_id).map_err(|e| Error::invalid("learner_id", e))?;
        principal.may_act_for_learner(&learner)?;
        let session = SessionId::required("session_id", &r.session_id)?;
        let key = Key::of(&principal.subject, "Enroll", &r.idempotency_key, r)?;
        let now = self.clock.now();
        let mut result = None;
        let response = idempotency::transact(self.db.get()?, key.as_ref(), now, async |tx| {
            let row = app::enroll(tx, &session, &learner, now).await?;
            result = Some(row.status.0);
            Ok(EnrollResponse {
                enrollment: Some(convert::enrollment(row)),
            })
        })
        .await?;
        result.into_iter().for_each(enrolled);
        Ok(response)
    }

    async fn cancel_enrollment(
        &self,
        principal: &Principal,
        r: &CancelEnrollmentRequest,
    ) -> Result<CancelEnrollmentResponse, Error> {
        let reason = text(&r.reason, 0, 500).map_err(|e| Error::invalid("reason", e))?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let id = EnrollmentId::required("enrollment_id", &r.enrollment_id)?;
        let found = enrollments::get(db, &id).await?.ok_or_else(|| Error::missing(&id))?;
        principal.may_act_for_learner(&found.learner_id)?;
        idempotency::transact(db, None, now, async |tx| {
            let cancelled = app::cancel(tx, &found, &reason, now).await?;
            Ok(CancelEnrollmentResponse {
                enrollment: Some(convert::enrollment(cancelled.enrollment)),
                promoted: cancelled.promoted.map(convert::enrollment),
            })
        })
        .await
    }

    async fn get_enrollment(
        &self,
        principal: &Principal,
        r: &GetEnrollmentRequest,
    ) -> Result<GetEnrollmentResponse, Error> {
        let id = EnrollmentId::required("enrollment_id", &r.enrollment_id)?;
        let row = enrollments::get(self.db.get()?, &id)
            .await?
            .ok_or_else(|| Error::missing(&id))?;
        principal.may_act_for_learner(&row.learner_id)?;
        Ok(GetEnrollmentResponse {
            enrollment: Some(convert::enrollment(row)),
        })
    }

    async fn list_enrollments(
        &self,
        principal: &Principal,
        r: &ListEnrollmentsRequest,
    ) -> Result<ListEnrollmentsResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let status = filter::<EnrollmentStatus>("status", r.status)?;
        let mut learner = r.learner_id.trim().to_owned();
        if let Some(own) = principal.own_learner()? {
            if learner.is_empty() {
                learner = own.to_owned();
            }
            principal.may_act_for_learner(&learner)?;
        }
        let db = self.db.get()?;
        // A learner-scoped caller always names themselves (above); staff
        // naming neither a session nor a learner get every one, newest first.
        let mut rows = if learner.is_empty() && r.session_id.trim().is_empty() {
            enrollments::list_newest(db, status, &page).await?
        } else {
            enrollments::list(db, r.session_id.trim(), &learner, status, &page).await?
        };
        let next_page_token = page.finish(&mut rows);
        Ok(ListEnrollmentsResponse {
            enrollments: rows.into_iter().map(convert::enrollment).collect(),
            next_page_token,
        })
    }
}

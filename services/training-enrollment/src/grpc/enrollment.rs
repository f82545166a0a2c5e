//! `EnrollmentService`: enrol (a seat or the waitlist), AutoEnroll (the
//! learner's city, else headquarters, else the waitlist), cancel (promoting
//! the oldest eligible waitlisted learner in the same transaction), read,
//! list, and the attendance and scores that complete a programme.

use chrono::{DateTime, Utc};
use tiejun_platform::{
    auth::Principal,
    db::{Database, Tx},
    error::Error,
    idempotency,
    paging::Page,
};
use tiejun_proto::training::v1::{
    AutoEnrollRequest, AutoEnrollResponse, CancelEnrollmentRequest, CancelEnrollmentResponse, EnrollRequest,
    EnrollResponse, EnrollmentStatus, GetEnrollmentRequest, GetEnrollmentResponse, ListEnrollmentsRequest,
    ListEnrollmentsResponse, RecordAssessmentRequest, RecordAssessmentResponse, RecordAttendanceRequest,
    RecordAttendanceResponse, Track, enrollment_service_server::EnrollmentService,
};
use tonic::{Request, Response, Status};

use super::{Training, completion::certificate, convert};
use crate::{
    domain::{key, learner_id, program::tracks_from_text, session::HEADQUARTERS, text},
    store::{assignments, catalog, completion, enrollments, sessions},
};

/// AutoEnroll's choice, inside `tx`: the next session of `program_id` with
/// a seat in the learner's city (`city`, else the city of their
/// assignment), else at headquarters, else the waitlist (city,
/// headquarters, anywhere). NO_SESSION when the programme has none open.
pub(super) async fn place(
    tx: &mut Tx,
    db: &Database,
    learner: &str,
    program_id: &str,
    city: &str,
    now: DateTime<Utc>,
) -> Result<(enrollments::EnrollmentRow, sessions::SessionRow), Error> {
    let city = match city {
        "" => assignments::get_in(tx, learner, program_id)
            .await?
            .map(|a| a.city)
            .unwrap_or_default(),
        c => c.to_owned(),
    };
    let upcoming = sessions::upcoming(db, program_id, now).await?;
    let room = |s: &&sessions::SessionRow| s.seats_taken < s.capacity;
    let here = |s: &&sessions::SessionRow| !city.is_empty() && s.city == city;
    let hq = |s: &&sessions::SessionRow| is_headquarters(&s.city);
    let chosen = upcoming
        .iter()
        .find(|s| here(s) && room(s))
        .or_else(|| upcoming.iter().find(|s| hq(s) && room(s)))
        .or_else(|| upcoming.iter().find(here))
        .or_else(|| upcoming.iter().find(hq))
        .or_else(|| upcoming.first())
        .ok_or_else(|| Error::precondition("NO_SESSION", format!("no open session of {program_id}")))?;
    let row = enrollments::enroll(tx, &chosen.session_id, learner, now).await?;
    let session = sessions::lock(tx, &chosen.session_id)
        .await?
        .ok_or_else(|| Error::not_found("session", &chosen.session_id))?;
    Ok((row, session))
}

/// Enrolments by result (ENROLLED, WAITLISTED), beside the RPC metrics:
/// counted by whatever placed the learner (AutoEnroll, Enroll, the events
/// consumer), after its commit.
static ENROLLMENTS: std::sync::LazyLock<opentelemetry::metrics::Counter<u64>> = std::sync::LazyLock::new(|| {
    tiejun_platform::metrics::domain_counter(
        "training",
        "tiejun.training.enrollments",
        "{enrollment}",
        "Enrolments, by result",
    )
});

pub(super) fn enrolled(result: &str) {
    ENROLLMENTS.add(1, &[opentelemetry::KeyValue::new("result", result.to_owned())]);
}

/// Headquarters, AutoEnroll's fallback city (either spelling).
fn is_headquarters(city: &str) -> bool {
    city.eq_ignore_ascii_case(HEADQUARTERS) || city == "杭州"
}

#[tonic::async_trait]
impl EnrollmentService for Training {
    async fn auto_enroll(&self, request: Request<AutoEnrollRequest>) -> Result<Response<AutoEnrollResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let learner = learner_id(&r.learner_id).map_err(|e| Error::invalid("learner_id", e))?;
        principal.may_act_for_learner(&learner)?;
        let program_id = key(&r.program_id).map_err(|e| Error::invalid("program_id", e))?;
        let key = idempotency::Key::of(&principal.subject, "AutoEnroll", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        if let Some(key) = &key
            && let Some(first) = key.replay(&mut tx, now).await?
        {
            return Ok(Response::new(first));
        }
        let (row, session) = place(&mut tx, db, &learner, &program_id, r.city.trim(), now).await?;
        let result = row.status.clone();
        let response = AutoEnrollResponse {
            enrollment: Some(convert::enrollment(row)),
            session: Some(convert::session(session)),
        };
        if let Some(key) = &key {
            key.record(&mut tx, &response).await?;
        }
        tx.commit().await?;
        enrolled(&result);
        Ok(Response::new(response))
    }

    async fn record_attendance(
        &self,
        request: Request<RecordAttendanceRequest>,
    ) -> Result<Response<RecordAttendanceResponse>, Status> {
        let r = request.get_ref();
        let db = self.db.get()?;
        let now = self.clock.now();
        let id = r.enrollment_id.trim();
        let found = enrollments::get(db, id)
            .await?
            .ok_or_else(|| Error::not_found("enrollment", id))?;
        let mut tx = db.begin().await?;
        let session = sessions::lock(&mut tx, &found.session_id)
            .await?
            .ok_or_else(|| Error::not_found("session", &found.session_id))?;
        if now < session.starts_at {
            return Err(Error::precondition(
                "SESSION_NOT_STARTED",
                "attendance is recorded once the session has started",
            )
            .into());
        }
        let row = enrollments::get_in(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("enrollment", id))?;
        let to = if r.attended { "ATTENDED" } else { "NO_SHOW" };
        if row.status != to {
            if row.status != "ENROLLED" {
                return Err(Error::precondition("NOT_SEATED", format!("the enrollment is {}", row.status)).into());
            }
            enrollments::set_status(&mut tx, id, "ENROLLED", to, "", now).await?;
            if let (true, Some(program_id)) = (r.attended, &session.program_id) {
                completion::lock(&mut tx, &row.learner_id, program_id).await?;
                completion::attended(&mut tx, &row.learner_id, program_id, session.starts_at).await?;
                self.complete_if_done(&mut tx, &row.learner_id, program_id, Some(session.starts_at), now)
                    .await?;
            }
        }
        let row = enrollments::get_in(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("enrollment", id))?;
        tx.commit().await?;
        Ok(Response::new(RecordAttendanceResponse {
            enrollment: Some(convert::enrollment(row)),
        }))
    }

    async fn record_assessment(
        &self,
        request: Request<RecordAssessmentRequest>,
    ) -> Result<Response<RecordAssessmentResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let learner = learner_id(&r.learner_id).map_err(|e| Error::invalid("learner_id", e))?;
        let program_id = key(&r.program_id).map_err(|e| Error::invalid("program_id", e))?;
        if !(0..=100).contains(&r.score) {
            return Err(Error::invalid("score", "must be between 0 and 100").into());
        }
        let key = idempotency::Key::of(&principal.subject, "RecordAssessment", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let program = catalog::program(db, &program_id)
            .await?
            .ok_or_else(|| Error::not_found("program", &program_id))?;
        let track = Track::try_from(r.track)
            .ok()
            .filter(|t| tracks_from_text(&program.tracks).contains(t));
        let Some(track) = track else {
            return Err(Error::invalid("track", "not a track of this programme").into());
        };
        let mut tx = db.begin().await?;
        if let Some(key) = &key
            && let Some(first) = key.replay(&mut tx, now).await?
        {
            return Ok(Response::new(first));
        }
        let attended = completion::lock(&mut tx, &learner, &program_id).await?;
        completion::score(
            &mut tx,
            &learner,
            &program_id,
            track.as_str_name().trim_start_matches("TRACK_"),
            r.score,
            now,
        )
        .await?;
        let cert = self
            .complete_if_done(&mut tx, &learner, &program_id, attended, now)
            .await?;
        let response = RecordAssessmentResponse {
            program_completed: cert.is_some(),
            certificate: cert.as_ref().map(certificate),
        };
        if let Some(key) = &key {
            key.record(&mut tx, &response).await?;
        }
        tx.commit().await?;
        Ok(Response::new(response))
    }

    async fn enroll(&self, request: Request<EnrollRequest>) -> Result<Response<EnrollResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let learner = learner_id(&r.learner_id).map_err(|e| Error::invalid("learner_id", e))?;
        principal.may_act_for_learner(&learner)?;
        let key = idempotency::Key::of(&principal.subject, "Enroll", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        if let Some(key) = &key
            && let Some(first) = key.replay(&mut tx, now).await?
        {
            return Ok(Response::new(first));
        }
        let row = enrollments::enroll(&mut tx, r.session_id.trim(), &learner, now).await?;
        let result = row.status.clone();
        let response = EnrollResponse {
            enrollment: Some(convert::enrollment(row)),
        };
        if let Some(key) = &key {
            key.record(&mut tx, &response).await?;
        }
        tx.commit().await?;
        enrolled(&result);
        Ok(Response::new(response))
    }

    async fn cancel_enrollment(
        &self,
        request: Request<CancelEnrollmentRequest>,
    ) -> Result<Response<CancelEnrollmentResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let reason = text(&r.reason, 0, 500).map_err(|e| Error::invalid("reason", e))?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let id = r.enrollment_id.trim();
        let found = enrollments::get(db, id)
            .await?
            .ok_or_else(|| Error::not_found("enrollment", id))?;
        principal.may_act_for_learner(&found.learner_id)?;
        let mut tx = db.begin().await?;
        // The session first: every change to its seats queues on its row.
        let session = sessions::lock(&mut tx, &found.session_id)
            .await?
            .ok_or_else(|| Error::not_found("session", &found.session_id))?;
        let row = enrollments::get_in(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("enrollment", id))?;
        if row.status == "CANCELLED" {
            return Ok(Response::new(CancelEnrollmentResponse {
                enrollment: Some(convert::enrollment(row)),
                promoted: None,
            }));
        }
        if row.status != "ENROLLED" && row.status != "WAITLISTED" {
            return Err(Error::precondition("ENROLLMENT_FINAL", format!("the enrollment is {}", row.status)).into());
        }
        if now > session.cancellation_deadline {
            return Err(Error::precondition("CANCELLATION_CLOSED", "the cancellation deadline has passed").into());
        }
        let why = if reason.is_empty() {
            "cancelled by the learner"
        } else {
            reason.as_str()
        };
        enrollments::set_status(&mut tx, id, &row.status, "CANCELLED", why, now).await?;
        let mut promoted = None;
        if row.status == "ENROLLED" {
            // The seat goes to the oldest waitlisted learner who still needs it.
            for waiting in enrollments::waitlist(&mut tx, &row.session_id).await? {
                if enrollments::seated_elsewhere(&mut tx, &row.session_id, &waiting.learner_id).await? {
                    let skip = "no longer needed: enrolled in another session";
                    enrollments::set_status(&mut tx, &waiting.enrollment_id, "WAITLISTED", "CANCELLED", skip, now)
                        .await?;
                    continue;
                }
                enrollments::promote(&mut tx, &waiting.enrollment_id, now).await?;
                promoted = enrollments::get_in(&mut tx, &waiting.enrollment_id).await?;
                break;
            }
            if promoted.is_none() {
                sessions::free_seat(&mut tx, &row.session_id).await?;
            }
        }
        let row = enrollments::get_in(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("enrollment", id))?;
        tx.commit().await?;
        Ok(Response::new(CancelEnrollmentResponse {
            enrollment: Some(convert::enrollment(row)),
            promoted: promoted.map(convert::enrollment),
        }))
    }

    async fn get_enrollment(
        &self,
        request: Request<GetEnrollmentRequest>,
    ) -> Result<Response<GetEnrollmentResponse>, Status> {
        let principal = Principal::of(&request)?;
        let id = request.get_ref().enrollment_id.trim();
        let db = self.db.get()?;
        let row = enrollments::get(db, id)
            .await?
            .ok_or_else(|| Error::not_found("enrollment", id))?;
        principal.may_act_for_learner(&row.learner_id)?;
        Ok(Response::new(GetEnrollmentResponse {
            enrollment: Some(convert::enrollment(row)),
        }))
    }

    async fn list_enrollments(
        &self,
        request: Request<ListEnrollmentsRequest>,
    ) -> Result<Response<ListEnrollmentsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let page = Page::parse(r.page_size, &r.page_token)?;
        let status = match EnrollmentStatus::try_from(r.status) {
            Ok(EnrollmentStatus::Unspecified) => "",
            Ok(s) => s.as_str_name().trim_start_matches("ENROLLMENT_STATUS_"),
            Err(_) => return Err(Error::invalid("status", "unknown status").into()),
        };
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
        Ok(Response::new(ListEnrollmentsResponse {
            enrollments: rows.into_iter().map(convert::enrollment).collect(),
            next_page_token,
        }))
    }
}

//! `EnrollmentService`, the core: enrol (a seat or the waitlist), cancel
//! (promoting the oldest eligible waitlisted learner in the same
//! transaction), read and list. AutoEnroll, attendance and assessments
//! answer UNIMPLEMENTED until they are built.

use tiejun_platform::{auth::Principal, error::Error, idempotency, paging::Page};
use tiejun_proto::training::v1::{
    CancelEnrollmentRequest, CancelEnrollmentResponse, EnrollRequest, EnrollResponse, EnrollmentStatus,
    GetEnrollmentRequest, GetEnrollmentResponse, ListEnrollmentsRequest, ListEnrollmentsResponse,
    enrollment_service_server::EnrollmentService,
};
use tonic::{Request, Response, Status};

use super::{Training, access, convert};
use crate::{
    domain::{learner_id, text},
    store::{enrollments, sessions},
};

#[tonic::async_trait]
impl EnrollmentService for Training {
    async fn enroll(&self, request: Request<EnrollRequest>) -> Result<Response<EnrollResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let learner = learner_id(&r.learner_id).map_err(|e| Error::invalid("learner_id", e))?;
        access::may_act_for(principal, &learner)?;
        let key = idempotency::Key::of(&principal.subject, "Enroll", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        if let Some(key) = &key
            && let Some(first) = key.replay(&mut tx, now).await?
        {
            return Ok(Response::new(first));
        }
        let id = r.session_id.trim();
        let session = sessions::lock(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("session", id))?;
        if session.status != "SCHEDULED" {
            return Err(Error::precondition("SESSION_NOT_OPEN", format!("the session is {}", session.status)).into());
        }
        if now > session.enrollment_deadline {
            return Err(Error::precondition("ENROLLMENT_CLOSED", "the enrolment deadline has passed").into());
        }
        // Enrolling twice gives back the first enrollment.
        let row = match enrollments::active(&mut tx, id, &learner).await? {
            Some(existing) => existing,
            None => {
                let waitlist_seq = if sessions::take_seat(&mut tx, id).await? {
                    None
                } else {
                    Some(sessions::next_waitlist_seq(&mut tx, id).await?)
                };
                enrollments::insert(
                    &mut tx,
                    &uuid::Uuid::now_v7().to_string(),
                    id,
                    &learner,
                    waitlist_seq,
                    now,
                )
                .await?
            }
        };
        let response = EnrollResponse {
            enrollment: Some(convert::enrollment(row)),
        };
        if let Some(key) = &key {
            key.record(&mut tx, &response).await?;
        }
        tx.commit().await?;
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
        access::may_act_for(principal, &found.learner_id)?;
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
        access::may_act_for(principal, &row.learner_id)?;
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
        if let Some(own) = access::own_learner(principal)? {
            if learner.is_empty() {
                learner = own.to_owned();
            }
            access::may_act_for(principal, &learner)?;
        }
        if learner.is_empty() && r.session_id.trim().is_empty() {
            return Err(Error::invalid("session_id", "name a session or a learner").into());
        }
        let db = self.db.get()?;
        let mut rows = enrollments::list(db, r.session_id.trim(), &learner, status, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(Response::new(ListEnrollmentsResponse {
            enrollments: rows.into_iter().map(convert::enrollment).collect(),
            next_page_token,
        }))
    }
}

//! Events this service consumes, each applied once (the inbox) in the same
//! transaction as its effect:
//! - RepHired → the employee onboarding is assigned to the new rep, who is
//!   auto-enrolled in its next session (city, headquarters, waitlist);
//! - CustomerActivated → every mandatory customer programme is assigned to
//!   the account's contact, who is auto-enrolled likewise.
//!
//! With no onboarding programme yet, RepHired fails (FAILED_PRECONDITION
//! `NO_ONBOARDING_PROGRAM`): the producer retries, then parks it, and an
//! operator replays it once the programme exists. With no open session, the
//! assignment stands and the learner is enrolled later (AutoEnroll).

use chrono::{DateTime, Duration, Utc};
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    inbox::{self, Delivered},
};
use tiejun_proto::events::v1::{
    DeliverRequest, DeliverResponse, event_consumer_service_server::EventConsumerService, event_envelope::Payload,
};
use tonic::{Request, Response, Status};

use super::{
    Training,
    enrollment::{enrolled, place},
};
use crate::store::{
    assignments::{self, NewAssignment},
    catalog::{self, ProgramRow},
};

/// Who an event puts in training.
struct Learner<'a> {
    id: &'a str,
    city: &'a str,
    account_id: Option<&'a str>,
    source: &'static str,
}

#[tonic::async_trait]
impl EventConsumerService for Training {
    async fn deliver(&self, request: Request<DeliverRequest>) -> Result<Response<DeliverResponse>, Status> {
        let event = Delivered::parse(request.into_inner())?;
        let (learner, employee) = match &event.payload {
            Payload::RepHired(hired) => (
                Learner {
                    id: hired.person_id.trim(),
                    city: hired.city.trim(),
                    account_id: None,
                    source: "REP_HIRED",
                },
                true,
            ),
            Payload::CustomerActivated(activated) => (
                Learner {
                    id: activated.contact_person_id.trim(),
                    city: activated.city.trim(),
                    account_id: Some(activated.account_id.trim()),
                    source: "CUSTOMER_ACTIVATED",
                },
                false,
            ),
            _ => return Err(inbox::not_consumed_here(&event, "training-enrollment").into()),
        };
        if learner.id.is_empty() {
            return Err(Error::invalid("event", "the learner's id is empty").into());
        }
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        if !inbox::first_time(&mut tx, &event, now).await? {
            return Ok(Response::new(DeliverResponse { duplicate: true }));
        }
        let programs = catalog::assigned_on_event(&mut tx, employee).await?;
        if employee && programs.is_empty() {
            return Err(Error::precondition(
                "NO_ONBOARDING_PROGRAM",
                "no employee onboarding programme exists yet; replay this event once it does",
            )
            .into());
        }
        let mut placed = Vec::new();
        for program in &programs {
            placed.extend(assign_and_place(&mut tx, db, &learner, program, now).await?);
        }
        tx.commit().await?;
        // Counted as an AutoEnroll call counts them: once committed.
        for result in &placed {
            enrolled(result);
        }
        Ok(Response::new(DeliverResponse { duplicate: false }))
    }
}

async fn assign_and_place(
    tx: &mut Tx,
    db: &Database,
    learner: &Learner<'_>,
    program: &ProgramRow,
    now: DateTime<Utc>,
) -> Result<Option<String>, Error> {
    let assignment = NewAssignment {
        learner_id: learner.id,
        program_id: &program.program_id,
        source: learner.source,
        city: learner.city,
        account_id: learner.account_id,
        due_at: now + Duration::days(i64::from(program.due_within_days)),
    };
    assignments::assign(tx, &assignment, now).await?;
    match place(tx, db, learner.id, &program.program_id, learner.city, now).await {
        // Enrolling is idempotent per session: a learner already seated stays so.
        Ok((row, _)) => Ok(Some(row.status)),
        Err(Error::FailedPrecondition {
            reason: "NO_SESSION", ..
        }) => {
            tracing::info!(program = %program.program_id, "no open session yet; assigned, to be enrolled later");
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

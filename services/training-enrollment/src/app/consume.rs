//! What the events this service consumes put in training:
//! - RepHired → the employee onboarding is assigned to the new rep, who is
//!   auto-enrolled in its next session (city, headquarters, waitlist);
//! - CustomerActivated → every mandatory customer programme is assigned to
//!   the account's contact, who is auto-enrolled likewise.
//!
//! With no onboarding programme yet, RepHired fails (FAILED_PRECONDITION
//! `NO_ONBOARDING_PROGRAM`): the producer retries, then parks it, and an
//! operator replays it once the programme exists. With no open session, the
//! assignment stands and the learner is enrolled later (AutoEnroll).

use crate::domain::ids::{AccountId, LearnerId};
use chrono::{DateTime, Duration, Utc};
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
};
use tiejun_proto::training::v1::{AssignmentSource, EnrollmentStatus};

use crate::{
    domain::session::Headquarters,
    store::{
        assignments::{self, NewAssignment},
        catalog::{self, ProgramRow},
    },
};

/// Who an event puts in training.
#[derive(Debug, Clone, Copy)]
pub struct Learner<'a> {
    /// Their person id.
    pub id: &'a LearnerId,
    /// Their city.
    pub city: &'a str,
    /// The billing account, for a customer's contact.
    pub account_id: Option<&'a AccountId>,
    /// Why they are assigned.
    pub source: AssignmentSource,
}

impl Learner<'_> {
    /// True for a rep (their programmes are the employee onboarding).
    fn employee(&self) -> bool {
        self.source == AssignmentSource::RepHired
    }
}

/// Assigns the learner their programmes and auto-enrols them in each; the
/// results of the enrolments made (to be counted once committed).
pub async fn put_in_training(
    tx: &mut Tx,
    db: &Database,
    hq: &Headquarters,
    learner: &Learner<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<EnrollmentStatus>, Error> {
    let programs = catalog::assigned_on_event(tx, learner.employee()).await?;
    if learner.employee() && programs.is_empty() {
        return Err(Error::precondition(
            "NO_ONBOARDING_PROGRAM",
            "no employee onboarding programme exists yet; replay this event once it does",
        ));
    }
    let mut placed = Vec::new();
    for program in &programs {
        placed.extend(assign_and_place(tx, db, hq, learner, program, now).await?);
    }
    Ok(placed)
}

async fn assign_and_place(
    tx: &mut Tx,
    db: &Database,
    hq: &Headquarters,
    learner: &Learner<'_>,
    program: &ProgramRow,
    now: DateTime<Utc>,
) -> Result<Option<EnrollmentStatus>, Error> {
    let assignment = NewAssignment {
        learner_id: learner.id,
        program_id: &program.program_id,
        source: learner.source,
        city: learner.city,
        account_id: learner.account_id,
        due_at: now + Duration::days(i64::from(program.due_within_days)),
    };
    assignments::assign(tx, &assignment, now).await?;
    match super::enrollment::place(tx, db, hq, learner.id, &program.program_id, learner.city, now).await {
        // Enrolling is idempotent per session: a learner already seated stays so.
        Ok((row, _)) => Ok(Some(row.status.0)),
        Err(Error::FailedPrecondition {
            reason: "NO_SESSION", ..
        }) => {
            tracing::info!(program = %program.program_id, "no open session yet; assigned, to be enrolled later");
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

//! Completion: attendance and a passing score on every track make a
//! programme completed, with exactly one certificate (the learner's
//! progress row is locked first), the assignment completed, and
//! ProgramCompleted in the outbox.

use crate::domain::ids::{CertificateId, LearnerId, ProgramId};
use chrono::{DateTime, Duration, Utc};
use tiejun_platform::{clock::to_proto, db::Tx, error::Error, outbox};
use tiejun_proto::events::v1::{ProgramCompleted, event_envelope::Payload};

use crate::{
    convert::scores_text,
    store::{
        assignments, catalog,
        completion::{self, CertificateRow},
    },
};

/// The producer name on this service's events.
const PRODUCER: &str = "training";

/// Issues the certificate if the learner (whose progress row the caller
/// locked) has attended and passed every track, and holds none valid now.
pub async fn if_done(
    tx: &mut Tx,
    learner_id: &LearnerId,
    program_id: &ProgramId,
    attended: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<CertificateRow>, Error> {
    if attended.is_none() || completion::valid_in(tx, learner_id, program_id, now).await?.is_some() {
        return Ok(None);
    }
    let program = catalog::program_in(tx, program_id)
        .await?
        .ok_or_else(|| Error::missing(program_id))?;
    let scores = completion::scores(tx, learner_id, program_id).await?;
    let mut passed = Vec::new();
    for track in &program.tracks.0 {
        match scores.iter().find(|(t, _)| t == track) {
            Some((_, score)) if *score >= program.passing_score => passed.push((*track, *score)),
            _ => return Ok(None),
        }
    }
    let cert = CertificateRow {
        certificate_id: CertificateId::mint(),
        learner_id: learner_id.to_owned(),
        program_id: program_id.to_owned(),
        issued_at: now,
        valid_until: (program.validity_days > 0).then(|| now + Duration::days(i64::from(program.validity_days))),
        scores: scores_text(&passed),
    };
    completion::issue(tx, &cert).await?;
    assignments::complete(tx, learner_id, program_id, now).await?;
    let event = ProgramCompleted {
        person_id: learner_id.to_string(),
        program_id: program_id.to_string(),
        employee_onboarding: program.employee_onboarding,
        certificate_id: cert.certificate_id.to_string(),
        completed_at: Some(to_proto(now)),
    };
    outbox::append(tx, PRODUCER, learner_id, Payload::ProgramCompleted(event), now).await?;
    tracing::info!(%program_id, certificate_id = %cert.certificate_id, "programme completed");
    Ok(Some(cert))
}

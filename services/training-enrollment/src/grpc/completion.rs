//! Completion: attendance and per-track scores make a programme completed,
//! with exactly one certificate (the learner's progress row is locked first),
//! the assignment completed, and ProgramCompleted in the outbox.

use chrono::{DateTime, Duration, Utc};
use tiejun_platform::{clock::to_proto, db::Tx, error::Error, outbox};
use tiejun_proto::{
    events::v1::{ProgramCompleted, event_envelope::Payload},
    training::v1::{Certificate, Track, TrackScore},
};

use super::Training;
use crate::{
    domain::program::tracks_from_text,
    store::{
        assignments, catalog,
        completion::{self, CertificateRow},
    },
};

/// The producer name on this service's events.
const PRODUCER: &str = "training";

/// A certificate as a message.
pub fn certificate(row: &CertificateRow) -> Certificate {
    let scores = row
        .scores
        .split(',')
        .filter_map(|pair| {
            let (track, score) = pair.split_once('=')?;
            Some(TrackScore {
                track: Track::from_str_name(&format!("TRACK_{track}")).unwrap_or_default() as i32,
                score: score.parse().ok()?,
            })
        })
        .collect();
    Certificate {
        certificate_id: row.certificate_id.clone(),
        learner_id: row.learner_id.clone(),
        program_id: row.program_id.clone(),
        issued_at: Some(to_proto(row.issued_at)),
        valid_until: row.valid_until.map(to_proto),
        scores,
    }
}

impl Training {
    /// Issues the certificate if the learner (whose progress row the caller
    /// locked) has attended and passed every track, and holds none valid now.
    pub(super) async fn complete_if_done(
        &self,
        tx: &mut Tx,
        learner_id: &str,
        program_id: &str,
        attended: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<CertificateRow>, Error> {
        if attended.is_none() || completion::valid_in(tx, learner_id, program_id, now).await?.is_some() {
            return Ok(None);
        }
        let program = catalog::program_in(tx, program_id)
            .await?
            .ok_or_else(|| Error::not_found("program", program_id))?;
        let scores = completion::scores(tx, learner_id, program_id).await?;
        let tracks = tracks_from_text(&program.tracks);
        let mut pairs = Vec::new();
        for track in &tracks {
            let name = track.as_str_name().trim_start_matches("TRACK_");
            match scores.iter().find(|(t, _)| t == name) {
                Some((_, score)) if *score >= program.passing_score => pairs.push(format!("{name}={score}")),
                _ => return Ok(None),
            }
        }
        let cert = CertificateRow {
            certificate_id: uuid::Uuid::now_v7().to_string(),
            learner_id: learner_id.to_owned(),
            program_id: program_id.to_owned(),
            issued_at: now,
            valid_until: (program.validity_days > 0).then(|| now + Duration::days(i64::from(program.validity_days))),
            scores: pairs.join(","),
        };
        completion::issue(tx, &cert).await?;
        assignments::complete(tx, learner_id, program_id, now).await?;
        let event = ProgramCompleted {
            person_id: learner_id.to_owned(),
            program_id: program_id.to_owned(),
            employee_onboarding: program.employee_onboarding,
            certificate_id: cert.certificate_id.clone(),
            completed_at: Some(to_proto(now)),
        };
        outbox::append(tx, PRODUCER, learner_id, Payload::ProgramCompleted(event), now).await?;
        tracing::info!(%program_id, certificate_id = %cert.certificate_id, "programme completed");
        Ok(Some(cert))
    }
}

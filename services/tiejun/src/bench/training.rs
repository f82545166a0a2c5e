//! The training scenario: an enrolment storm into one session.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use anyhow::Context as _;
use chrono::{Duration, Utc};
use hdrhistogram::Histogram;
use tiejun_platform::{auth::Role, clock::to_proto};
use tiejun_proto::training::v1::{
    Audience, CreateProgramRequest, EnrollRequest, EnrollmentStatus, Program, ScheduleSessionRequest, Session, Track,
    enrollment_service_client::EnrollmentServiceClient, program_service_client::ProgramServiceClient,
    session_service_client::SessionServiceClient,
};

use super::{
    EnrollArgs, Report,
    report::Latency,
    service::{Service, Which, authed},
};

/// `learners` enrolments at once into a session of `seats`.
pub async fn enroll(args: &EnrollArgs) -> anyhow::Result<Report> {
    let s = Service::start(&args.target, Which::Training).await?;
    let seeding = Instant::now();
    let trainer = s.token(&[Role::Trainer], None)?;
    let program_id = format!("bench_onboarding{}", s.run);
    let program = Program {
        program_id: program_id.clone(),
        name: "Bench".into(),
        audience: Audience::Employee as i32,
        tracks: vec![Track::CultureValues as i32],
        ..Default::default()
    };
    ProgramServiceClient::new(s.channel.clone())
        .create_program(authed(CreateProgramRequest { program: Some(program) }, &trainer)?)
        .await
        .context("CreateProgram")?;
    let starts = Utc::now() + Duration::days(7);
    let session = Session {
        program_id,
        city: "Hangzhou".into(),
        starts_at: Some(to_proto(starts)),
        ends_at: Some(to_proto(starts + Duration::hours(8))),
        capacity: args.seats,
        ..Default::default()
    };
    let session_id = SessionServiceClient::new(s.channel.clone())
        .schedule_session(authed(
            ScheduleSessionRequest {
                session: Some(session),
                idempotency_key: String::new(),
            },
            &trainer,
        )?)
        .await
        .context("ScheduleSession")?
        .into_inner()
        .session
        .context("no session")?
        .session_id;
    let seed_seconds = seeding.elapsed().as_secs_f64();

    let session_id = Arc::new(session_id);
    let trainer = Arc::new(trainer);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.learners)
        .map(|i| {
            let (channel, session_id, trainer) = (s.channel.clone(), session_id.clone(), trainer.clone());
            tokio::spawn(async move {
                let mut client = EnrollmentServiceClient::new(channel);
                let request = EnrollRequest {
                    session_id: (*session_id).clone(),
                    learner_id: format!("L{i:05}"),
                    idempotency_key: String::new(),
                };
                let call = Instant::now();
                let result = match authed(request, &trainer) {
                    Ok(request) => client
                        .enroll(request)
                        .await
                        .map(|r| r.into_inner().enrollment.map(|e| e.status())),
                    Err(err) => Err(tonic::Status::internal(err.to_string())),
                };
                (call.elapsed(), result)
            })
        })
        .collect();
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let (mut enrolled, mut waitlisted) = (0u64, 0u64);
    for task in tasks {
        let (elapsed, result) = task.await?;
        match result {
            Ok(status) => {
                histogram.record(elapsed.as_micros() as u64)?;
                match status {
                    Some(EnrollmentStatus::Enrolled) => enrolled += 1,
                    Some(EnrollmentStatus::Waitlisted) => waitlisted += 1,
                    _ => {}
                }
            }
            Err(status) => *errors.entry(format!("{:?}", status.code())).or_default() += 1,
        }
    }
    let elapsed = started.elapsed();
    let mut report = Report::new("enroll", s.backend, elapsed, histogram.len());
    report.seed_seconds = seed_seconds;
    report.errors = errors;
    report.latency = Some(Latency::of(&histogram));
    report.settings = BTreeMap::from([
        ("learners".into(), args.learners.to_string()),
        ("seats".into(), args.seats.to_string()),
    ]);
    report.figures = BTreeMap::from([
        ("enrolled".into(), enrolled.to_string()),
        ("waitlisted".into(), waitlisted.to_string()),
        ("time_to_last_answer_s".into(), format!("{:.3}", elapsed.as_secs_f64())),
    ]);
    s.stop().await?;
    Ok(report)
}

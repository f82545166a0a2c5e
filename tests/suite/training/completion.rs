//! Completion: attendance and a passing score issue exactly one certificate,
//! and a completion lapses after its validity.

use chrono::Duration as Span;
use tiejun_platform::{both_backends, testing::TestDatabase};
use tiejun_proto::training::v1::enrollment_service_client::EnrollmentServiceClient;
use tiejun_tests::{
    authed,
    training::{TrainingFixture, attend, learner, schedule, trainer},
};

async fn complete(
    f: &TrainingFixture,
    learner_id: &str,
    scores: [i32; 3],
) -> Vec<tiejun_proto::training::v1::RecordAssessmentResponse> {
    use tiejun_proto::training::v1::{RecordAssessmentRequest, Track};
    let channel = f.server.channel().await;
    let tasks: Vec<_> = [Track::CultureValues, Track::ProductKnowledge, Track::SalesSkills]
        .into_iter()
        .zip(scores)
        .map(|(track, score)| {
            let mut c = EnrollmentServiceClient::new(channel.clone());
            let request = RecordAssessmentRequest {
                learner_id: learner_id.into(),
                program_id: "employee_onboarding".into(),
                track: track as i32,
                score,
                idempotency_key: String::new(),
            };
            tokio::spawn(async move {
                c.record_assessment(authed(request, &trainer()))
                    .await
                    .expect("score")
                    .into_inner()
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

#[both_backends]
async fn attendance_and_passing_scores_issue_exactly_one_certificate(db: TestDatabase) {
    use tiejun_proto::training::v1::{
        CheckRequirementRequest, VerifyCertificateRequest, assignment_service_client::AssignmentServiceClient,
        certificate_service_client::CertificateServiceClient,
    };
    let f = TrainingFixture::start(db).await;
    f.onboarding().await;
    let session = f.session("Hangzhou", 2, 10).await;
    let seat = f.enroll(&session, "R1").await.expect("enrol").enrollment_id;
    let assignments = AssignmentServiceClient::new(f.server.channel().await);
    let requirement = async |at: Option<prost_types::Timestamp>| {
        let request = CheckRequirementRequest {
            person_id: "R1".into(),
            program_id: "employee_onboarding".into(),
            at,
        };
        let mut client = assignments.clone();
        let response = client.check_requirement(authed(request, &trainer())).await;
        response.expect("check").into_inner()
    };
    assert!(!requirement(None).await.satisfied);

    // Scores before attendance complete nothing; one failing track completes nothing.
    assert!(
        complete(&f, "R1", [90, 55, 80])
            .await
            .iter()
            .all(|r| !r.program_completed)
    );
    f.clock.advance(Span::days(2) + Span::hours(1));
    attend(&f.channel, &seat).await;
    // All three tracks scored at once, concurrently: one certificate, not three.
    let done = complete(&f, "R1", [90, 75, 80]).await;
    let certificates: Vec<_> = done.iter().filter_map(|r| r.certificate.clone()).collect();
    assert_eq!(certificates.len(), 1, "exactly one certificate");
    assert_eq!(
        f.scalar("SELECT count(*) FROM certificates WHERE learner_id = $1", "R1")
            .await,
        1
    );
    assert_eq!(
        f.scalar(
            "SELECT count(*) FROM outbox WHERE event_type = 'ProgramCompleted' AND subject = $1",
            "R1"
        )
        .await,
        1
    );
    let id = certificates[0].certificate_id.clone();
    let verified = CertificateServiceClient::new(f.server.channel().await)
        .verify_certificate(authed(
            VerifyCertificateRequest {
                certificate_id: id.clone(),
            },
            &learner("anyone"),
        ))
        .await
        .expect("verify")
        .into_inner();
    assert!(verified.valid);
    assert_eq!(verified.certificate.expect("certificate").learner_id, "R1");
    let satisfied = requirement(None).await;
    assert!(satisfied.satisfied);
    assert_eq!(satisfied.certificate_id, id);
    // Before completion it was not satisfied.
    let before = Some(tiejun_platform::clock::to_proto(tiejun_tests::leads::monday_morning()));
    assert!(!requirement(before).await.satisfied);
}

#[both_backends]
async fn a_completion_lapses_after_its_validity(db: TestDatabase) {
    use tiejun_proto::training::v1::{
        Audience, CheckRequirementRequest, Program, RecordAssessmentRequest, Session, Track,
        assignment_service_client::AssignmentServiceClient,
    };
    let f = TrainingFixture::start(db).await;
    let program = Program {
        program_id: "export_compliance".into(),
        name: "Export compliance".into(),
        audience: Audience::Customer as i32,
        tracks: vec![Track::PlatformUsage as i32],
        validity_days: 365,
        ..Default::default()
    };
    f.program(program).await;
    let starts = tiejun_tests::leads::monday_morning() + Span::days(1);
    let session = Session {
        program_id: "export_compliance".into(),
        city: "Shanghai".into(),
        starts_at: Some(tiejun_platform::clock::to_proto(starts)),
        ends_at: Some(tiejun_platform::clock::to_proto(starts + Span::hours(3))),
        capacity: 5,
        ..Default::default()
    };
    let session = schedule(&f.channel, session).await;
    let seat = f.enroll(&session, "C1").await.expect("enrol").enrollment_id;
    f.clock.advance(Span::days(1) + Span::hours(1));
    attend(&f.channel, &seat).await;
    let scored = f
        .enrollments()
        .await
        .record_assessment(authed(
            RecordAssessmentRequest {
                learner_id: "C1".into(),
                program_id: "export_compliance".into(),
                track: Track::PlatformUsage as i32,
                score: 88,
                idempotency_key: String::new(),
            },
            &trainer(),
        ))
        .await
        .expect("score")
        .into_inner();
    assert!(scored.program_completed);
    let mut a = AssignmentServiceClient::new(f.server.channel().await);
    let at = |days: i64| {
        Some(tiejun_platform::clock::to_proto(
            tiejun_tests::leads::monday_morning() + Span::days(days),
        ))
    };
    let check = |t| CheckRequirementRequest {
        person_id: "C1".into(),
        program_id: "export_compliance".into(),
        at: t,
    };
    assert!(
        a.check_requirement(authed(check(at(100)), &trainer()))
            .await
            .expect("check")
            .into_inner()
            .satisfied
    );
    assert!(
        !a.check_requirement(authed(check(at(400)), &trainer()))
            .await
            .expect("check")
            .into_inner()
            .satisfied,
        "lapsed after 365 days"
    );
}

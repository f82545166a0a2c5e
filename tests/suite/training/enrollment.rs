//! Seats and the waitlist: seats never exceed capacity under concurrent
//! enrolments, cancellations promote in FIFO order, a learner seated
//! elsewhere is skipped, deadlines and cancelled sessions refuse changes,
//! enrolment is idempotent and a learner acts only for themselves, and
//! AutoEnroll tries the city, then headquarters, then the waitlist.

use chrono::Duration as Span;
use tiejun_platform::{both_backends, testing::TestDatabase};
use tiejun_proto::training::v1::{
    CancelEnrollmentRequest, CancelSessionRequest, EnrollRequest, EnrollmentStatus, GetSessionRequest,
    ListEnrollmentsRequest, enrollment_service_client::EnrollmentServiceClient,
};
use tiejun_tests::{
    authed,
    training::{TrainingFixture, learner, trainer},
};
use tonic::Code;
use tonic_types::StatusExt as _;

async fn cancel(
    f: &TrainingFixture,
    enrollment_id: &str,
) -> Result<tiejun_proto::training::v1::CancelEnrollmentResponse, tonic::Status> {
    let request = CancelEnrollmentRequest {
        enrollment_id: enrollment_id.into(),
        reason: "cannot come".into(),
    };
    f.enrollments()
        .await
        .cancel_enrollment(authed(request, &trainer()))
        .await
        .map(|r| r.into_inner())
}

async fn auto_enroll(
    f: &TrainingFixture,
    learner_id: &str,
    city: &str,
) -> tiejun_proto::training::v1::AutoEnrollResponse {
    let request = tiejun_proto::training::v1::AutoEnrollRequest {
        learner_id: learner_id.into(),
        program_id: "employee_onboarding".into(),
        city: city.into(),
        idempotency_key: String::new(),
    };
    f.enrollments()
        .await
        .auto_enroll(authed(request, &trainer()))
        .await
        .expect("auto-enrol")
        .into_inner()
}

#[both_backends]
async fn two_hundred_concurrent_enrolments_fill_twenty_seats_and_queue_the_rest(db: TestDatabase) {
    let f = TrainingFixture::start(db).await;
    f.onboarding().await;
    let session = f.session("Hangzhou", 10, 20).await;
    let channel = f.server.channel().await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let mut c = EnrollmentServiceClient::new(channel.clone());
            let request = EnrollRequest {
                session_id: session.clone(),
                learner_id: format!("L{i:03}"),
                idempotency_key: String::new(),
            };
            tokio::spawn(async move {
                c.enroll(authed(request, &trainer()))
                    .await
                    .map(|r| r.into_inner().enrollment.expect("e"))
            })
        })
        .collect();
    let mut enrolled = 0;
    let mut positions = Vec::new();
    for task in tasks {
        let e = task.await.expect("task").expect("every enrolment is answered");
        match e.status() {
            EnrollmentStatus::Enrolled => enrolled += 1,
            EnrollmentStatus::Waitlisted => positions.push(e.waitlist_position),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(enrolled, 20);
    positions.sort_unstable();
    assert_eq!(positions, (1..=180).collect::<Vec<i32>>(), "contiguous FIFO positions");
    let s = f
        .sessions()
        .await
        .get_session(authed(
            GetSessionRequest {
                session_id: session.clone(),
            },
            &trainer(),
        ))
        .await;
    let s = s.expect("get").into_inner().session.expect("session");
    assert_eq!((s.seats_taken, s.waitlisted), (20, 180));
    assert_eq!(
        f.scalar(
            "SELECT count(*) FROM enrollments WHERE session_id = $1 AND status = 'ENROLLED'",
            &session
        )
        .await,
        20
    );
}

#[both_backends]
async fn concurrent_cancellations_and_enrolments_promote_in_order(db: TestDatabase) {
    let f = TrainingFixture::start(db).await;
    f.onboarding().await;
    let session = f.session("Hangzhou", 10, 10).await;
    let mut seated = Vec::new();
    for i in 0..10 {
        seated.push(f.enroll(&session, &format!("S{i}")).await.expect("enrol").enrollment_id);
    }
    for i in 0..10 {
        assert_eq!(
            f.enroll(&session, &format!("W{i}"))
                .await
                .expect("wait")
                .waitlist_position,
            i + 1
        );
    }
    let channel = f.server.channel().await;
    let mut tasks = Vec::new();
    for id in seated.iter().take(5) {
        let mut c = EnrollmentServiceClient::new(channel.clone());
        let request = CancelEnrollmentRequest {
            enrollment_id: id.clone(),
            reason: "sick".into(),
        };
        tasks.push(tokio::spawn(async move {
            c.cancel_enrollment(authed(request, &trainer())).await.map(drop)
        }));
    }
    for i in 0..5 {
        let mut c = EnrollmentServiceClient::new(channel.clone());
        let request = EnrollRequest {
            session_id: session.clone(),
            learner_id: format!("N{i}"),
            idempotency_key: String::new(),
        };
        tasks.push(tokio::spawn(async move {
            c.enroll(authed(request, &trainer())).await.map(drop)
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("answered");
    }
    assert_eq!(
        f.scalar(
            "SELECT count(*) FROM enrollments WHERE session_id = $1 AND status = 'ENROLLED'",
            &session
        )
        .await,
        10
    );
    assert_eq!(
        f.scalar(
            "SELECT CAST(seats_taken AS BIGINT) FROM sessions WHERE session_id = $1",
            &session
        )
        .await,
        10
    );
    // The five oldest waiting learners got the seats; the newcomers wait behind the rest.
    for i in 0..5 {
        let promoted = f
            .scalar("SELECT count(*) FROM enrollments WHERE learner_id = $1 AND status = 'ENROLLED' AND promoted_at IS NOT NULL", &format!("W{i}"))
            .await;
        assert_eq!(promoted, 1, "W{i} promoted");
    }
    let list = f
        .enrollments()
        .await
        .list_enrollments(authed(
            ListEnrollmentsRequest {
                session_id: session.clone(),
                status: EnrollmentStatus::Waitlisted as i32,
                ..Default::default()
            },
            &trainer(),
        ))
        .await
        .expect("list")
        .into_inner()
        .enrollments;
    let waiting: Vec<_> = list
        .iter()
        .map(|e| (e.learner_id.as_str(), e.waitlist_position))
        .collect();
    assert_eq!(&waiting[..5], &[("W5", 1), ("W6", 2), ("W7", 3), ("W8", 4), ("W9", 5)]);
    assert_eq!(waiting.len(), 10);

    // Staff naming neither a session nor a learner list every enrollment, newest first, by pages.
    let mut client = f.enrollments().await;
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_enrollments(authed(
                ListEnrollmentsRequest {
                    page_size: 7,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                &trainer(),
            ))
            .await
            .expect("staff list every enrollment")
            .into_inner();
        all.extend(page.enrollments);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let total = f
        .scalar("SELECT count(*) FROM enrollments WHERE session_id = $1", &session)
        .await;
    assert_eq!(
        i64::try_from(all.len()).expect("small"),
        total,
        "every enrollment, once"
    );
    let created: Vec<_> = all
        .iter()
        .map(|e| e.created_at.map(|t| (t.seconds, t.nanos)).unwrap_or_default())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first: {created:?}");
}

#[both_backends]
async fn a_waiting_learner_seated_elsewhere_is_skipped_not_blocking(db: TestDatabase) {
    let f = TrainingFixture::start(db).await;
    f.onboarding().await;
    let first = f.session("Hangzhou", 10, 1).await;
    let second = f.session("Ningbo", 12, 1).await;
    let seat = f.enroll(&first, "A").await.expect("A seated").enrollment_id;
    assert_eq!(f.enroll(&first, "B").await.expect("B waits").waitlist_position, 1);
    assert_eq!(f.enroll(&first, "C").await.expect("C waits").waitlist_position, 2);
    f.enroll(&second, "B").await.expect("B seated in Ningbo");
    let cancelled = cancel(&f, &seat).await.expect("cancel");
    let promoted = cancelled.promoted.expect("someone promoted");
    assert_eq!(promoted.learner_id, "C", "B no longer needs the seat");
    let b = f
        .scalar(
            "SELECT count(*) FROM enrollments WHERE learner_id = $1 AND status = 'CANCELLED'",
            "B",
        )
        .await;
    assert_eq!(b, 1);
}

#[both_backends]
async fn deadlines_and_cancelled_sessions_refuse_changes(db: TestDatabase) {
    let f = TrainingFixture::start(db).await;
    f.onboarding().await;
    let session = f.session("Hangzhou", 3, 5).await;
    let early = f.enroll(&session, "E1").await.expect("enrol").enrollment_id;
    // Two days later: cancellation closes 24 h before the start; enrolment is still open.
    f.clock.advance(Span::days(2) + Span::hours(1));
    let late = cancel(&f, &early).await.expect_err("too late to cancel");
    assert_eq!(
        late.get_details_error_info().expect("ErrorInfo").reason,
        "CANCELLATION_CLOSED"
    );
    f.enroll(&session, "E2").await.expect("still open for enrolment");
    f.clock.advance(Span::days(1));
    let closed = f.enroll(&session, "E3").await.expect_err("enrolment closed");
    assert_eq!(
        closed.get_details_error_info().expect("ErrorInfo").reason,
        "ENROLLMENT_CLOSED"
    );

    let other = f.session("Ningbo", 20, 5).await;
    f.enroll(&other, "E4").await.expect("enrol");
    let cancelled = f
        .sessions()
        .await
        .cancel_session(authed(
            CancelSessionRequest {
                session_id: other.clone(),
                reason: "trainer ill".into(),
            },
            &trainer(),
        ))
        .await
        .expect("cancel session")
        .into_inner();
    assert_eq!(cancelled.enrollments_cancelled, 1);
    let refused = f.enroll(&other, "E5").await.expect_err("cancelled session");
    assert_eq!(
        refused.get_details_error_info().expect("ErrorInfo").reason,
        "SESSION_NOT_OPEN"
    );
}

#[both_backends]
async fn enrolling_twice_is_idempotent_and_learners_act_only_for_themselves(db: TestDatabase) {
    let f = TrainingFixture::start(db).await;
    f.onboarding().await;
    let session = f.session("Hangzhou", 10, 5).await;
    let first = f.enroll(&session, "I1").await.expect("enrol");
    let again = f.enroll(&session, "I1").await.expect("again");
    assert_eq!(first.enrollment_id, again.enrollment_id);
    let mut c = f.enrollments().await;
    let mut request = EnrollRequest {
        session_id: session.clone(),
        learner_id: "I2".into(),
        idempotency_key: "k-1".into(),
    };
    let a = c
        .enroll(authed(request.clone(), &learner("I2")))
        .await
        .expect("own enrolment")
        .into_inner();
    let b = c
        .enroll(authed(request.clone(), &learner("I2")))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(a, b);
    request.learner_id = "I3".into();
    let other = c
        .enroll(authed(request, &learner("I2")))
        .await
        .expect_err("someone else");
    assert_eq!(other.code(), Code::PermissionDenied);
    assert_eq!(
        f.scalar(
            "SELECT CAST(seats_taken AS BIGINT) FROM sessions WHERE session_id = $1",
            &session
        )
        .await,
        2
    );
}

#[both_backends]
async fn auto_enroll_falls_back_from_the_city_to_hangzhou_to_the_waitlist(db: TestDatabase) {
    let f = TrainingFixture::start(db).await;
    f.onboarding().await;
    let ningbo = f.session("Ningbo", 5, 1).await;
    let hangzhou = f.session("Hangzhou", 8, 1).await;
    let first = auto_enroll(&f, "A1", "Ningbo").await;
    assert_eq!(
        first.session.expect("session").session_id,
        ningbo,
        "a seat in the learner's city"
    );
    let second = auto_enroll(&f, "A2", "Ningbo").await;
    assert_eq!(
        second.session.expect("session").session_id,
        hangzhou,
        "Ningbo full: headquarters"
    );
    assert_eq!(second.enrollment.expect("e").status(), EnrollmentStatus::Enrolled);
    let third = auto_enroll(&f, "A3", "Ningbo").await;
    let enrollment = third.enrollment.expect("e");
    assert_eq!(
        (third.session.expect("session").session_id, enrollment.status()),
        (ningbo, EnrollmentStatus::Waitlisted)
    );
}

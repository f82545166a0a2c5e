//! A training-enrollment server on a manual clock, with helpers to create
//! programmes and sessions.

use std::time::Duration;

use chrono::Duration as Span;
use tiejun_platform::{
    auth::{Role, TokenSpec},
    clock::to_proto,
    testing::TestDatabase,
};
use tiejun_proto::training::v1::{
    CreateProgramRequest, EnrollRequest, Program, RecordAttendanceRequest, ScheduleSessionRequest, Session,
    enrollment_service_client::EnrollmentServiceClient, program_service_client::ProgramServiceClient,
    session_service_client::SessionServiceClient,
};
use tonic::transport::Channel;

use crate::{Svc, authed, fixture::Fixture, keys, leads::monday_morning, token};

/// A running training-enrollment service: the [`Fixture`] and the calls
/// training's tests make.
#[derive(Debug)]
pub struct TrainingFixture(Fixture);

impl std::ops::Deref for TrainingFixture {
    type Target = Fixture;

    fn deref(&self) -> &Fixture {
        &self.0
    }
}

/// A trainer's token.
pub fn trainer() -> String {
    token(&[Role::Trainer])
}

/// A learner-scoped token.
pub fn learner(id: &str) -> String {
    let mut spec = TokenSpec::new(id, &[], Duration::from_secs(3600 * 24 * 30));
    spec.learner_id = Some(id.to_owned());
    keys().mint(&spec).expect("mint")
}

/// Schedules `session` on the training service behind `channel` (with a
/// trainer's token); its id.
pub async fn schedule(channel: &Channel, session: Session) -> String {
    let request = ScheduleSessionRequest {
        session: Some(session),
        idempotency_key: String::new(),
    };
    let response = SessionServiceClient::new(channel.clone())
        .schedule_session(authed(request, &trainer()))
        .await
        .expect("schedule");
    response.into_inner().session.expect("session").session_id
}

/// Records that the learner of `enrollment_id` attended (with a trainer's token).
pub async fn attend(channel: &Channel, enrollment_id: &str) {
    let request = RecordAttendanceRequest {
        enrollment_id: enrollment_id.into(),
        attended: true,
    };
    EnrollmentServiceClient::new(channel.clone())
        .record_attendance(authed(request, &trainer()))
        .await
        .expect("attended");
}

impl TrainingFixture {
    /// Starts the service on `test_db` at Monday 09:00 Shanghai time.
    pub async fn start(test_db: TestDatabase) -> Self {
        Self(Fixture::start(Svc::Training, test_db, None).await)
    }

    /// Clients.
    pub async fn programs(&self) -> ProgramServiceClient<Channel> {
        ProgramServiceClient::new(self.channel.clone())
    }

    /// Clients.
    pub async fn sessions(&self) -> SessionServiceClient<Channel> {
        SessionServiceClient::new(self.channel.clone())
    }

    /// Clients.
    pub async fn enrollments(&self) -> EnrollmentServiceClient<Channel> {
        EnrollmentServiceClient::new(self.channel.clone())
    }

    /// The employee onboarding programme.
    pub async fn onboarding(&self) {
        self.program(tiejun_training::domain::program::employee_onboarding("Onboarding"))
            .await;
    }

    /// Creates `program` (with a trainer's token).
    pub async fn program(&self, program: Program) {
        self.programs()
            .await
            .create_program(authed(CreateProgramRequest { program: Some(program) }, &trainer()))
            .await
            .expect("program");
    }

    /// A session of the onboarding programme in `city`, `days` from now, with `capacity` seats.
    pub async fn session(&self, city: &str, days: i64, capacity: i32) -> String {
        let starts = monday_morning() + Span::days(days);
        let session = Session {
            program_id: "employee_onboarding".into(),
            city: city.into(),
            venue: "HQ".into(),
            starts_at: Some(to_proto(starts)),
            ends_at: Some(to_proto(starts + Span::hours(8))),
            capacity,
            ..Default::default()
        };
        schedule(&self.channel, session).await
    }

    /// Enrols `learner_id` (with a trainer's token).
    pub async fn enroll(
        &self,
        session_id: &str,
        learner_id: &str,
    ) -> Result<tiejun_proto::training::v1::Enrollment, tonic::Status> {
        let request = EnrollRequest {
            session_id: session_id.into(),
            learner_id: learner_id.into(),
            idempotency_key: String::new(),
        };
        let response = self.enrollments().await.enroll(authed(request, &trainer())).await?;
        Ok(response.into_inner().enrollment.expect("enrollment"))
    }
}

//! The compliance report: who never enrolled and who is overdue.

use chrono::Duration as Span;
use tiejun_platform::{both_backends, testing::TestDatabase};
use tiejun_tests::{
    authed,
    training::{TrainingFixture, trainer},
};

#[both_backends]
async fn the_compliance_report_lists_who_never_enrolled_and_who_is_overdue(db: TestDatabase) {
    use tiejun_proto::training::v1::{
        AssignProgramRequest, GetComplianceReportRequest, assignment_service_client::AssignmentServiceClient,
        compliance_service_client::ComplianceServiceClient,
    };
    let f = TrainingFixture::start(db).await;
    f.onboarding().await;
    let mut a = AssignmentServiceClient::new(f.server.channel().await);
    for learner in ["N1", "N2"] {
        let request = AssignProgramRequest {
            learner_id: learner.into(),
            program_id: "employee_onboarding".into(),
            city: "Hangzhou".into(),
            due_at: None,
        };
        a.assign_program(authed(request.clone(), &trainer()))
            .await
            .expect("assign");
        a.assign_program(authed(request, &trainer()))
            .await
            .expect("assigning again is a no-op");
    }
    assert_eq!(
        f.scalar(
            "SELECT count(*) FROM assignments WHERE program_id = $1",
            "employee_onboarding"
        )
        .await,
        2
    );
    let mut report = ComplianceServiceClient::new(f.server.channel().await);
    let now = report
        .get_compliance_report(authed(GetComplianceReportRequest::default(), &trainer()))
        .await
        .expect("report")
        .into_inner();
    let open: Vec<_> = now.open.iter().map(|x| x.learner_id.as_str()).collect();
    assert_eq!(open, ["N1", "N2"], "assigned and never enrolled");
    assert!(now.overdue.is_empty());
    f.clock.advance(Span::days(61));
    let later = report
        .get_compliance_report(authed(GetComplianceReportRequest::default(), &trainer()))
        .await
        .expect("report")
        .into_inner();
    assert_eq!(later.overdue.len(), 2, "due within 60 days");
}

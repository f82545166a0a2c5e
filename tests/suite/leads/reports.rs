//! Daily reports: listed with who is missing.

use tiejun_platform::{both_backends, testing::TestDatabase};
use tiejun_proto::leads::v1::{
    ListDailyReportsRequest, SetRepQuotaRequest, SubmitDailyReportRequest, report_service_client::ReportServiceClient,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin, rep_token},
};

#[both_backends]
async fn daily_reports_are_listed_with_who_is_missing(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["R1", "R2"], 30).await;
    let mut reports = ReportServiceClient::new(f.channel().await);
    let report = SubmitDailyReportRequest {
        calls: 12,
        visits: 4,
        deals: 1,
        summary: "two factories visited".into(),
        ..Default::default()
    };
    reports
        .submit_daily_report(authed(report, &rep_token("R1")))
        .await
        .expect("submit");
    let list = reports
        .list_daily_reports(authed(
            ListDailyReportsRequest {
                team: "Hangzhou-1".into(),
                business_day: "2026-03-02".into(),
                ..Default::default()
            },
            &admin(),
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(list.reports.len(), 1);
    assert_eq!(list.reports[0].calls, 12);
    assert_eq!(list.missing_person_ids, ["R2"]);
    let quota = SetRepQuotaRequest {
        person_id: "R1".into(),
        daily_quota: 45,
    };
    f.reps()
        .await
        .set_rep_quota(authed(quota, &admin()))
        .await
        .expect("quota");
}

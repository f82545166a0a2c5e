//! A lead's history: append-only in the database, and a whole life read back
//! in its history and in the figures.

use tiejun_platform::{both_backends, on_pool_raw, testing::TestDatabase};
use tiejun_proto::leads::v1::{
    CloseLeadRequest, ConvertLeadRequest, FollowUpKind, GetRepStatsRequest, KeepPrivateRequest, ReassignLeadRequest,
    TransitionRule, report_service_client::ReportServiceClient,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin, lead_input, rep_token},
};
use tonic::Code;

use super::{create, distribute, follow_up, history_rules, lead};

#[both_backends]
async fn history_is_append_only_in_the_database(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let mut leads = f.leads().await;
    let lead = leads
        .create_lead(authed(create("湖州丝绸", "13655556666"), &admin()))
        .await
        .expect("create");
    let lead_id = lead.into_inner().lead.expect("lead").lead_id;
    let update = on_pool_raw!(&f.db, |p| sqlx::query(
        "UPDATE lead_history SET actor = 'mallory' WHERE lead_id = $1"
    )
    .bind(&lead_id)
    .execute(p)
    .await
    .map(drop));
    assert!(update.is_err(), "history rows can be rewritten");
    let delete = on_pool_raw!(&f.db, |p| sqlx::query("DELETE FROM lead_history WHERE lead_id = $1")
        .bind(&lead_id)
        .execute(p)
        .await
        .map(drop));
    assert!(delete.is_err(), "history rows can be deleted");
}

#[both_backends]
async fn a_leads_whole_life_is_in_its_history_and_in_the_figures(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["H", "K"], 30).await;
    let leads = f.import(vec![lead_input(7, "杭州", 90)]).await;
    let id = leads[0].clone();
    let mut c = f.leads().await;
    assert_eq!(distribute(&f).await.leads_assigned, 1);
    let first = lead(&f, &id).await.owner_person_id;
    let other = if first == "H" { "K" } else { "H" };
    follow_up(&f, &first, &id, FollowUpKind::Call).await;
    c.keep_private(authed(
        KeepPrivateRequest {
            lead_id: id.clone(),
            ..Default::default()
        },
        &rep_token(&first),
    ))
    .await
    .expect("keep");
    let reassign = ReassignLeadRequest {
        lead_id: id.clone(),
        to_person_id: other.into(),
        reason: "territory".into(),
    };
    c.reassign_lead(authed(reassign, &admin())).await.expect("reassign");
    let mut convert = ConvertLeadRequest {
        lead_id: id.clone(),
        notes: "annual plan".into(),
        idempotency_key: "c-1".into(),
    };
    let converted = c
        .convert_lead(authed(convert.clone(), &rep_token(other)))
        .await
        .expect("convert")
        .into_inner();
    let again = c
        .convert_lead(authed(convert.clone(), &rep_token(other)))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(converted, again, "conversion is idempotent on its key");
    convert.notes = "different".into();
    assert_eq!(
        c.convert_lead(authed(convert, &rep_token(other)))
            .await
            .expect_err("reuse")
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        f.scalar(
            "SELECT count(*) FROM outbox WHERE event_type = 'LeadConverted' AND subject = $1",
            &id
        )
        .await,
        1
    );

    let rules = history_rules(&f, &id).await;
    use TransitionRule::*;
    assert_eq!(
        rules,
        [
            Intake,
            Distribution,
            FollowUp,
            KeepPrivate,
            ManagerReassign,
            ManagerReassign,
            Convert
        ]
    );
    let closed = c
        .close_lead(authed(
            CloseLeadRequest {
                lead_id: id.clone(),
                reason: "x".into(),
            },
            &admin(),
        ))
        .await;
    assert_eq!(closed.expect_err("terminal").code(), Code::FailedPrecondition);

    let day = "2026-03-02".to_owned();
    let mut reports = ReportServiceClient::new(f.channel().await);
    let stats = |p: &str| GetRepStatsRequest {
        person_id: p.into(),
        from_day: day.clone(),
        to_day: day.clone(),
    };
    let first_stats = reports
        .get_rep_stats(authed(stats(&first), &admin()))
        .await
        .expect("stats")
        .into_inner();
    let first_stats = first_stats.stats.expect("stats");
    assert_eq!(
        (
            first_stats.received,
            first_stats.followed_up_in_time,
            first_stats.converted
        ),
        (1, 1, 0)
    );
    assert_eq!(first_stats.followed_up_in_time_bp, 10_000);
    let other_stats = reports
        .get_rep_stats(authed(stats(other), &rep_token(other)))
        .await
        .expect("own stats");
    let other_stats = other_stats.into_inner().stats.expect("stats");
    assert_eq!(
        (
            other_stats.received,
            other_stats.converted,
            other_stats.conversion_rate_bp
        ),
        (1, 1, 10_000)
    );
    let denied = reports
        .get_rep_stats(authed(stats(&first), &rep_token(other)))
        .await
        .expect_err("another's stats");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

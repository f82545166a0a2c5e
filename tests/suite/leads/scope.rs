//! Who may act on what: a rep on themselves and their own leads, a team
//! manager on their team.

use tiejun_platform::{both_backends, testing::TestDatabase};
use tiejun_proto::leads::v1::{
    CloseLeadRequest, ConvertLeadRequest, FollowUpKind, GetLeadRequest, GetRepRequest, KeepPrivateRequest,
    ListLeadHistoryRequest, ListLeadsRequest, ReassignLeadRequest, RecordFollowUpRequest, ReleaseLeadRequest,
    SetRepQuotaRequest, report_service_client::ReportServiceClient,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin, lead_input, rep_token},
};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::{claim, create, manager_of, register};

#[both_backends]
async fn a_rep_sees_only_themselves_and_their_own_leads(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let mut reps = f.reps().await;
    for id in ["E1", "E2"] {
        reps.register_rep(authed(register(id), &admin()))
            .await
            .expect("register");
    }
    reps.get_rep(authed(GetRepRequest { person_id: "E1".into() }, &rep_token("E1")))
        .await
        .expect("own");
    let other = reps
        .get_rep(authed(GetRepRequest { person_id: "E2".into() }, &rep_token("E1")))
        .await
        .expect_err("other");
    assert_eq!(other.code(), Code::PermissionDenied);

    let mut leads = f.leads().await;
    let lead = leads
        .create_lead(authed(create("宁波甬江纺织有限公司", "13900001111"), &admin()))
        .await
        .expect("create");
    let lead_id = lead.into_inner().lead.expect("lead").lead_id;
    f.assign_directly(&lead_id, "E2").await;
    let denied = leads
        .get_lead(authed(
            GetLeadRequest {
                lead_id: lead_id.clone(),
            },
            &rep_token("E1"),
        ))
        .await
        .expect_err("E2's");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let owned = leads
        .get_lead(authed(
            GetLeadRequest {
                lead_id: lead_id.clone(),
            },
            &rep_token("E2"),
        ))
        .await
        .expect("own");
    let owned = owned.into_inner().lead.expect("lead");
    assert_eq!(owned.phone, "13900001111", "the owner sees the contact");
    assert!(!owned.contact_masked);
    let list = leads
        .list_leads(authed(
            ListLeadsRequest {
                owner_person_id: "E2".into(),
                ..Default::default()
            },
            &rep_token("E1"),
        ))
        .await
        .expect_err("listing another rep's leads");
    assert_eq!(list.code(), Code::PermissionDenied);
    let history = leads
        .list_lead_history(authed(
            ListLeadHistoryRequest {
                lead_id,
                ..Default::default()
            },
            &rep_token("E1"),
        ))
        .await
        .expect_err("another rep's history");
    assert_eq!(history.code(), Code::PermissionDenied);
}

#[both_backends]
async fn a_rep_touching_another_reps_lead_is_refused(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["M", "N"], 30).await;
    let leads = f.import(vec![lead_input(1, "杭州", 90)]).await;
    let mut c = f.leads().await;
    claim(&mut c, "M", &leads[0]).await.expect("claim");
    let id = leads[0].clone();
    let n = rep_token("N");
    let follow = RecordFollowUpRequest {
        lead_id: id.clone(),
        kind: FollowUpKind::Call as i32,
        ..Default::default()
    };
    let keep = KeepPrivateRequest {
        lead_id: id.clone(),
        ..Default::default()
    };
    let convert = ConvertLeadRequest {
        lead_id: id.clone(),
        ..Default::default()
    };
    let reason = "x".to_owned();
    let release = ReleaseLeadRequest {
        lead_id: id.clone(),
        reason: reason.clone(),
    };
    let close = CloseLeadRequest { lead_id: id, reason };
    let refused = [
        ("RecordFollowUp", c.record_follow_up(authed(follow, &n)).await.err()),
        ("KeepPrivate", c.keep_private(authed(keep, &n)).await.err()),
        ("ReleaseLead", c.release_lead(authed(release, &n)).await.err()),
        ("ConvertLead", c.convert_lead(authed(convert, &n)).await.err()),
        ("CloseLead", c.close_lead(authed(close, &n)).await.err()),
    ];
    for (rpc, status) in refused {
        assert_eq!(
            status.map(|s| s.code()),
            Some(Code::PermissionDenied),
            "{rpc} on another rep's lead"
        );
    }
    // Not an ACTIVE rep: no claims.
    f.reps()
        .await
        .register_rep(authed(tiejun_tests::leads::registration("O"), &admin()))
        .await
        .expect("register");
    let more = f.import(vec![lead_input(2, "杭州", 90)]).await;
    let onboarding = claim(&mut c, "O", &more[0]).await.expect_err("onboarding");
    assert_eq!(
        onboarding.get_details_error_info().expect("ErrorInfo").reason,
        "REP_NOT_ACTIVE"
    );
}

#[both_backends]
async fn a_team_managers_token_acts_on_that_team_only(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["T1"], 30).await;
    let mut ningbo = tiejun_tests::leads::registration("T2");
    ningbo.team = "Ningbo-1".into();
    let mut reps = f.reps().await;
    reps.register_rep(authed(ningbo, &admin())).await.expect("register");
    reps.activate_rep(authed(
        tiejun_proto::leads::v1::ActivateRepRequest {
            person_id: "T2".into(),
            reason: String::new(),
        },
        &admin(),
    ))
    .await
    .expect("activate");
    let manager = manager_of("Hangzhou-1");

    let listed = reps
        .list_reps(authed(tiejun_proto::leads::v1::ListRepsRequest::default(), &manager))
        .await
        .expect("list")
        .into_inner()
        .reps;
    assert_eq!(listed.iter().map(|r| r.person_id.as_str()).collect::<Vec<_>>(), ["T1"]);
    let quota = SetRepQuotaRequest {
        person_id: "T2".into(),
        daily_quota: 35,
    };
    assert_eq!(
        reps.set_rep_quota(authed(quota, &manager))
            .await
            .expect_err("other team")
            .code(),
        Code::PermissionDenied
    );
    let quota = SetRepQuotaRequest {
        person_id: "T1".into(),
        daily_quota: 35,
    };
    reps.set_rep_quota(authed(quota, &manager)).await.expect("own team");

    let leads = f
        .import(vec![lead_input(1, "杭州", 90), lead_input(2, "杭州", 90)])
        .await;
    let mut c = f.leads().await;
    claim(&mut c, "T1", &leads[0]).await.expect("claim");
    claim(&mut c, "T2", &leads[1]).await.expect("claim");
    let own = c
        .get_lead(authed(
            GetLeadRequest {
                lead_id: leads[0].clone(),
            },
            &manager,
        ))
        .await
        .expect("get");
    assert!(
        !own.into_inner().lead.expect("lead").contact_masked,
        "own team's lead revealed"
    );
    let other = c
        .get_lead(authed(
            GetLeadRequest {
                lead_id: leads[1].clone(),
            },
            &manager,
        ))
        .await
        .expect("get");
    assert!(
        other.into_inner().lead.expect("lead").contact_masked,
        "another team's lead masked"
    );
    let reassign = ReassignLeadRequest {
        lead_id: leads[1].clone(),
        to_person_id: "T1".into(),
        reason: "x".into(),
    };
    assert_eq!(
        c.reassign_lead(authed(reassign, &manager))
            .await
            .expect_err("other team's lead")
            .code(),
        Code::PermissionDenied
    );
    // Releasing, converting and closing a held lead: the same rule.
    let release = |i: usize| ReleaseLeadRequest {
        lead_id: leads[i].clone(),
        reason: "x".into(),
    };
    let convert = ConvertLeadRequest {
        lead_id: leads[1].clone(),
        ..Default::default()
    };
    let close = CloseLeadRequest {
        lead_id: leads[1].clone(),
        reason: "x".into(),
    };
    let refused = [
        c.release_lead(authed(release(1), &manager)).await.map(drop),
        c.convert_lead(authed(convert, &manager)).await.map(drop),
        c.close_lead(authed(close, &manager)).await.map(drop),
    ];
    for (rpc, answer) in ["release", "convert", "close"].iter().zip(refused) {
        let code = answer.err().map(|status| status.code());
        assert_eq!(code, Some(Code::PermissionDenied), "{rpc} of another team's lead");
    }
    c.release_lead(authed(release(0), &manager))
        .await
        .expect("releasing a lead of the manager's own team");

    let mut reports = ReportServiceClient::new(f.channel().await);
    let team = |t: &str| tiejun_proto::leads::v1::GetTeamStatsRequest {
        team: t.into(),
        from_day: "2026-03-02".into(),
        to_day: "2026-03-02".into(),
    };
    reports
        .get_team_stats(authed(team("Hangzhou-1"), &manager))
        .await
        .expect("own team's figures");
    let denied = reports
        .get_team_stats(authed(team("Ningbo-1"), &manager))
        .await
        .expect_err("other team");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

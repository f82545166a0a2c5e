//! The capped private pool: weekly follow-up, 60 days at most, and one in
//! means one out at the cap.

use chrono::Duration as Span;
use tiejun_platform::{both_backends, testing::TestDatabase};
use tiejun_proto::leads::v1::{
    FollowUpKind, KeepPrivateRequest, LeadState, ListLeadsRequest, TransitionRule,
    lead_service_client::LeadServiceClient,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, lead_input, rep_token},
};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::{claim, distribute, follow_up, history_rules, lead, sweep};

#[both_backends]
async fn private_leads_need_weekly_follow_up_and_leave_after_60_days(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["P"], 30).await;
    let leads = f
        .import(vec![lead_input(1, "杭州", 90), lead_input(2, "杭州", 90)])
        .await;
    let mut c = f.leads().await;
    for id in &leads {
        claim(&mut c, "P", id).await.expect("claim");
        let keep = KeepPrivateRequest {
            lead_id: id.clone(),
            ..Default::default()
        };
        c.keep_private(authed(keep, &rep_token("P"))).await.expect("keep");
    }
    // Weekly calls keep the second; the first goes idle.
    for _ in 0..8 {
        f.advance(Span::days(6));
        follow_up(&f, "P", &leads[1], FollowUpKind::Visit).await;
        sweep(&f).await;
    }
    assert_eq!(
        lead(&f, &leads[0]).await.state(),
        LeadState::Pool,
        "idle private lead reclaimed"
    );
    assert_eq!(
        lead(&f, &leads[1]).await.state(),
        LeadState::Private,
        "48 days in, followed up weekly"
    );
    f.advance(Span::days(13)); // 61 days after it was kept, whatever the activity
    follow_up(&f, "P", &leads[1], FollowUpKind::Meeting).await;
    sweep(&f).await;
    assert_eq!(lead(&f, &leads[1]).await.state(), LeadState::Pool);
    let rules = history_rules(&f, &leads[1]).await;
    assert!(rules.contains(&TransitionRule::ReclaimPrivateExpired), "{rules:?}");
    assert_eq!(
        f.scalar(
            "SELECT CAST(COALESCE((SELECT size FROM private_pools WHERE person_id = $1), 0) AS BIGINT)",
            "P"
        )
        .await,
        0
    );
}

#[both_backends]
async fn the_private_pool_swaps_one_in_one_out_and_never_exceeds_30(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["S"], 50).await;
    f.import((0..50).map(|i| lead_input(i, "杭州", 50)).collect()).await;
    assert_eq!(distribute(&f).await.leads_assigned, 50);
    let mut c = f.leads().await;
    let mine: Vec<String> = c
        .list_leads(authed(
            ListLeadsRequest {
                page_size: 100,
                ..Default::default()
            },
            &rep_token("S"),
        ))
        .await
        .expect("list")
        .into_inner()
        .leads
        .into_iter()
        .map(|l| l.lead_id)
        .collect();
    for id in &mine[..30] {
        c.keep_private(authed(
            KeepPrivateRequest {
                lead_id: id.clone(),
                ..Default::default()
            },
            &rep_token("S"),
        ))
        .await
        .expect("keep up to the cap");
    }
    let full = c
        .keep_private(authed(
            KeepPrivateRequest {
                lead_id: mine[30].clone(),
                ..Default::default()
            },
            &rep_token("S"),
        ))
        .await
        .expect_err("31st");
    assert_eq!(full.code(), Code::FailedPrecondition);
    assert_eq!(
        full.get_details_error_info().expect("ErrorInfo").reason,
        "PRIVATE_POOL_FULL"
    );

    // Twenty concurrent swaps, each giving one back for one kept, plus ten without a swap.
    let channel = f.channel().await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let mut c = LeadServiceClient::new(channel.clone());
            let keep = mine[30 + i % 20].clone();
            let release = if i < 20 { vec![mine[i].clone()] } else { Vec::new() };
            tokio::spawn(async move {
                let request = KeepPrivateRequest {
                    lead_id: keep,
                    release_lead_ids: release,
                    release_reason: "swap".into(),
                };
                c.keep_private(authed(request, &rep_token("S")))
                    .await
                    .map(|r| r.into_inner().private_pool_size)
            })
        })
        .collect();
    let mut kept = 0;
    for task in tasks {
        if let Ok(size) = task.await.expect("task") {
            assert!(size <= 30);
            kept += 1;
        }
    }
    assert!(kept >= 1, "some swaps succeed");
    let private = f
        .scalar(
            "SELECT count(*) FROM leads WHERE state = 'PRIVATE' AND owner_person_id = $1",
            "S",
        )
        .await;
    assert_eq!(private, 30, "exactly at the cap after the swaps");
    assert_eq!(
        f.scalar(
            "SELECT CAST(COALESCE((SELECT size FROM private_pools WHERE person_id = $1), 0) AS BIGINT)",
            "S"
        )
        .await,
        30
    );
}

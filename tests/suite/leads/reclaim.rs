//! Follow-up deadlines and reclaim: a lead not followed up in 48 hours goes
//! to a colleague, the same city first, one sweep at a time across replicas.

use std::time::Duration;

use chrono::Duration as Span;
use tiejun_platform::{both_backends, on_pool_raw, testing::TestDatabase};
use tiejun_proto::leads::v1::{
    FollowUpKind, LeadState, ReleaseLeadRequest, RunReclaimSweepRequest, TransitionRule,
    lead_service_client::LeadServiceClient,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin, lead_input, rep_token},
};
use tonic_types::StatusExt as _;

use super::{claim, follow_up, history_rules, lead, sweep};

#[both_backends]
async fn reclaims_a_lead_not_followed_up_within_48h_and_hands_it_to_a_colleague(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["A", "B"], 30).await;
    let leads = f
        .import(vec![lead_input(1, "杭州", 90), lead_input(2, "杭州", 80)])
        .await;
    let mut c = f.leads().await;
    claim(&mut c, "A", &leads[0]).await.expect("A claims the first");
    claim(&mut c, "A", &leads[1]).await.expect("A claims the second");
    // Only the second gets a qualifying follow-up; a bare note does not count.
    follow_up(&f, "A", &leads[0], FollowUpKind::Note).await;
    f.advance(Span::hours(10));
    follow_up(&f, "A", &leads[1], FollowUpKind::Call).await;

    f.advance(Span::hours(33)); // 43 h after assignment: the first is warned, nothing reclaimed
    let s = sweep(&f).await;
    assert_eq!((s.warnings_sent, s.leads_reclaimed), (1, 0));
    assert_eq!(sweep(&f).await.warnings_sent, 0, "one warning per deadline");

    f.advance(Span::hours(6)); // 49 h
    let s = sweep(&f).await;
    assert_eq!((s.leads_reclaimed, s.leads_reassigned), (1, 1));
    let first = lead(&f, &leads[0]).await;
    assert_eq!(
        (first.state(), first.owner_person_id.as_str()),
        (LeadState::Assigned, "B")
    );
    let rules = history_rules(&f, &leads[0]).await;
    assert_eq!(
        rules[rules.len() - 2..],
        [TransitionRule::ReclaimNoFollowUp, TransitionRule::ReclaimHandover],
        "taken back, then handed over under its own rule"
    );
    assert_eq!(
        lead(&f, &leads[1]).await.owner_person_id,
        "A",
        "followed up in time: kept"
    );

    // A may not take it back within the cooldown.
    let mut c = f.leads().await;
    let release = ReleaseLeadRequest {
        lead_id: leads[0].clone(),
        reason: "not for me".into(),
    };
    c.release_lead(authed(release, &rep_token("B")))
        .await
        .expect("B releases");
    let refused = claim(&mut c, "A", &leads[0]).await.expect_err("cooldown");
    assert_eq!(
        refused.get_details_error_info().expect("ErrorInfo").reason,
        "LEAD_IN_COOLDOWN"
    );

    // The followed-up lead is still due a resolution within 7 days.
    f.advance(Span::days(6));
    let s = sweep(&f).await;
    assert_eq!(s.leads_reclaimed, 1);
    assert!(
        history_rules(&f, &leads[1])
            .await
            .contains(&TransitionRule::ReclaimUnresolved)
    );
}

#[both_backends]
async fn a_sweep_hands_each_citys_leads_to_that_city_before_any_other(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    // L holds three leads, one of Shanghai (no rep there), one of Hangzhou,
    // one of Ningbo; H (Hangzhou) and N (Ningbo) have room for one each.
    f.active_reps(&["L"], 30).await;
    let mut reps = f.reps().await;
    for (id, city) in [("H", "杭州"), ("N", "宁波")] {
        let mut r = tiejun_tests::leads::registration(id);
        r.city = city.into();
        r.daily_quota = 30;
        reps.register_rep(authed(r, &admin())).await.expect("register");
        let activate = tiejun_proto::leads::v1::ActivateRepRequest {
            person_id: id.into(),
            reason: String::new(),
        };
        reps.activate_rep(authed(activate, &admin())).await.expect("activate");
    }
    let leads = f
        .import(vec![
            lead_input(1, "上海", 90),
            lead_input(2, "杭州", 80),
            lead_input(3, "宁波", 70),
        ])
        .await;
    let mut c = f.leads().await;
    for id in &leads {
        claim(&mut c, "L", id).await.expect("L claims");
    }
    // Two days on the three are overdue; H and N have received 29 of their
    // 30 that day: one place left each.
    f.advance(Span::hours(49));
    for rep in ["H", "N"] {
        on_pool_raw!(&f.db, |p| sqlx::query(
            "INSERT INTO rep_days (person_id, business_day, distributed) VALUES ($1, $2, 29)"
        )
        .bind(rep)
        .bind("2026-03-04")
        .execute(p)
        .await
        .map(drop)
        .expect("day"));
    }
    let s = sweep(&f).await;
    assert_eq!(
        (
            s.leads_reclaimed,
            s.leads_reassigned,
            s.leads_reassigned_same_city,
            s.leads_pooled
        ),
        (3, 2, 2, 1),
        "the Shanghai lead, first due, does not take a city's only place"
    );
    let owner = |l: tiejun_proto::leads::v1::Lead| (l.state(), l.owner_person_id);
    assert_eq!(owner(lead(&f, &leads[0]).await), (LeadState::Pool, String::new()));
    assert_eq!(owner(lead(&f, &leads[1]).await), (LeadState::Assigned, "H".into()));
    assert_eq!(owner(lead(&f, &leads[2]).await), (LeadState::Assigned, "N".into()));
    assert_eq!(
        history_rules(&f, &leads[1]).await.last(),
        Some(&TransitionRule::ReclaimHandover)
    );
}

#[both_backends]
async fn two_instances_on_one_database_never_sweep_at_the_same_time(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let second =
        tiejun_tests::start_service_at(tiejun_tests::Svc::Leads, &f.url, std::sync::Arc::new(f.clock.clone())).await;
    assert!(tiejun_tests::wait_serving(second.addr, Duration::from_secs(30)).await);
    f.active_reps(&["J1", "J2"], 30).await;
    let leads = f.import((0..40).map(|i| lead_input(i, "杭州", 50)).collect()).await;
    let mut c = f.leads().await;
    for id in &leads[..10] {
        claim(&mut c, "J1", id).await.expect("claim");
    }
    f.advance(Span::hours(49));
    let channels = [f.channel().await, second.channel().await];
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let mut c = LeadServiceClient::new(channels[i % 2].clone());
            tokio::spawn(async move { c.run_reclaim_sweep(authed(RunReclaimSweepRequest {}, &admin())).await })
        })
        .collect();
    let mut reclaimed = 0;
    for task in tasks {
        reclaimed += task.await.expect("task").expect("sweep").into_inner().leads_reclaimed;
    }
    assert_eq!(reclaimed, 10, "each overdue lead reclaimed once, by one replica");
    let runs: Vec<(String, chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> = on_pool_raw!(&f.db, |p| {
        sqlx::query_as("SELECT instance, started_at, finished_at FROM job_runs WHERE job = 'sweep' ORDER BY started_at")
            .fetch_all(p)
            .await
            .expect("runs")
    });
    assert_eq!(runs.len(), 20);
    let instances: std::collections::HashSet<_> = runs.iter().map(|r| &r.0).collect();
    assert_eq!(instances.len(), 2, "both replicas ran sweeps");
    for pair in runs.windows(2) {
        assert!(
            pair[1].1 >= pair[0].2,
            "sweeps overlapped: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
}

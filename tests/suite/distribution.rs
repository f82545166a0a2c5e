//! lead-distribution's rules end to end, on both backends: fair daily
//! distribution, quotas and single ownership under concurrency, follow-up
//! deadlines and reclaim, cooldown, the capped private pool, conversion,
//! history, figures, WatchRepEvents, and one sweep at a time across replicas.

use std::{collections::HashMap, time::Duration};

use chrono::Duration as Span;
use tiejun_platform::{both_backends, db::Database, on_pool_raw, testing::TestDatabase};
use tiejun_proto::leads::v1::{
    ClaimLeadRequest, CloseLeadRequest, ConvertLeadRequest, DistributionTrigger, FollowUpKind,
    GetDistributionRunRequest, GetLeadRequest, GetRepStatsRequest, KeepPrivateRequest, LeadState,
    ListDailyReportsRequest, ListDistributionRunsRequest, ListLeadHistoryRequest, ListLeadsRequest,
    ReassignLeadRequest, RecordFollowUpRequest, ReleaseLeadRequest, RunDistributionRequest, RunReclaimSweepRequest,
    SetRepQuotaRequest, SubmitDailyReportRequest, TransitionRule, WatchRepEventsRequest,
    lead_service_client::LeadServiceClient, report_service_client::ReportServiceClient,
    watch_rep_events_response::Event,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin, lead_input, rep_token},
};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:02}")).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

async fn distribute(f: &LeadsFixture) -> tiejun_proto::leads::v1::RunDistributionResponse {
    f.leads()
        .await
        .run_distribution(authed(RunDistributionRequest::default(), &admin()))
        .await
        .expect("run")
        .into_inner()
}

async fn sweep(f: &LeadsFixture) -> tiejun_proto::leads::v1::RunReclaimSweepResponse {
    f.leads()
        .await
        .run_reclaim_sweep(authed(RunReclaimSweepRequest {}, &admin()))
        .await
        .expect("sweep")
        .into_inner()
}

async fn owners(db: &Database) -> HashMap<String, String> {
    let rows: Vec<(String, String)> = on_pool_raw!(db, |p| sqlx::query_as(
        "SELECT lead_id, owner_person_id FROM leads WHERE owner_person_id IS NOT NULL"
    )
    .fetch_all(p)
    .await
    .expect("owners"));
    rows.into_iter().collect()
}

async fn claim(client: &mut LeadServiceClient<Channel>, person: &str, lead_id: &str) -> Result<i32, tonic::Status> {
    let request = ClaimLeadRequest {
        lead_id: lead_id.into(),
        idempotency_key: String::new(),
    };
    client
        .claim_lead(authed(request, &rep_token(person)))
        .await
        .map(|r| r.into_inner().claims_left_today)
}

async fn ten_reps_with_quota_40_each_get_exactly_40_and_the_best_leads_spread_evenly(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let reps = ids("E", 10);
    f.active_reps(&refs(&reps), 40).await;
    // 400 leads, best first: scores 100, 100, …, 61 (ten per score), ties broken by age.
    let leads = f
        .import((0..400).map(|i| lead_input(i, "杭州", 100 - (i / 10) as i32)).collect())
        .await;
    let run = distribute(&f).await;
    assert_eq!((run.leads_assigned, run.reps_served, run.reps_short), (400, 10, 0));

    let owners = owners(&f.db).await;
    for rep in &reps {
        assert_eq!(owners.values().filter(|o| *o == rep).count(), 40, "{rep}");
    }
    let mut best: HashMap<&str, usize> = HashMap::new();
    for lead in &leads[..40] {
        *best.entry(owners[lead].as_str()).or_default() += 1;
    }
    assert_eq!(best.len(), 10, "every rep got some of the best 40: {best:?}");
    assert!(
        best.values().all(|&n| (3..=5).contains(&n)),
        "best 40 spread 4±1 per rep: {best:?}"
    );

    // A second run the same day only tops up: nothing is left to give.
    let again = distribute(&f).await;
    assert_eq!(again.leads_assigned, 0);
    assert_eq!(again.rotation_seed, run.rotation_seed, "the day's seed is reused");

    // The next day the rotation is drawn anew.
    f.advance(Span::days(1));
    let next = distribute(&f).await;
    assert_ne!(next.rotation_seed, run.rotation_seed);
    let rotations: Vec<String> = on_pool_raw!(&f.db, |p| sqlx::query_scalar(
        "SELECT rotation FROM distribution_runs ORDER BY started_at"
    )
    .fetch_all(p)
    .await
    .expect("rotations"));
    assert_ne!(rotations.first(), rotations.last(), "rotation differs between days");

    // Each assignment says why.
    let history = f
        .leads()
        .await
        .list_lead_history(authed(
            ListLeadHistoryRequest {
                lead_id: leads[0].clone(),
                ..Default::default()
            },
            &admin(),
        ))
        .await
        .expect("history")
        .into_inner()
        .entries;
    let dealt = history
        .iter()
        .find(|e| e.rule() == TransitionRule::Distribution)
        .expect("distribution entry");
    assert_eq!(dealt.distribution_run_id, run.run_id);
    assert!(dealt.reason.starts_with("round 1"), "{}", dealt.reason);
}

async fn quotas_and_single_ownership_hold_under_50_concurrent_clients(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let reps = ids("C", 10);
    f.active_reps(&refs(&reps), 30).await;
    let leads = f.import((0..500).map(|i| lead_input(i, "杭州", 50)).collect()).await;
    let channel = f.channel().await;
    let mut tasks = Vec::new();
    for client in 0..50usize {
        let channel = channel.clone();
        let rep = reps[client % reps.len()].clone();
        let leads = leads.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = LeadServiceClient::new(channel);
            match client % 5 {
                // Distribution runs racing each other and the claims.
                0 => {
                    let _ = c
                        .run_distribution(authed(RunDistributionRequest::default(), &admin()))
                        .await;
                }
                // Keeps of whatever the rep holds right now.
                1 => {
                    let mine = c
                        .list_leads(authed(
                            ListLeadsRequest {
                                state: LeadState::Assigned as i32,
                                ..Default::default()
                            },
                            &rep_token(&rep),
                        ))
                        .await
                        .map(|r| r.into_inner().leads)
                        .unwrap_or_default();
                    for lead in mine.iter().take(5) {
                        let keep = KeepPrivateRequest {
                            lead_id: lead.lead_id.clone(),
                            ..Default::default()
                        };
                        let _ = c.keep_private(authed(keep, &rep_token(&rep))).await;
                    }
                }
                // Claims, racing for the same leads.
                _ => {
                    for lead in leads.iter().skip(client * 7 % 100).take(15) {
                        let _ = claim(&mut c, &rep, lead).await;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    let _ = distribute(&f).await;

    // Claims ≤ 10, and received (distributed + claimed) ≤ quota, per rep and day.
    let days: Vec<(String, i32, i32)> = on_pool_raw!(&f.db, |p| sqlx::query_as(
        "SELECT person_id, distributed, claimed FROM rep_days"
    )
    .fetch_all(p)
    .await
    .expect("days"));
    for (rep, distributed, claimed) in &days {
        assert!(*claimed <= 10, "{rep} claimed {claimed}");
        assert!(
            *distributed <= 30,
            "{rep} was distributed {distributed} with a quota of 30"
        );
    }
    // One owner per lead: the owner column agrees with exactly one open ownership period.
    let disagreements: i64 = on_pool_raw!(&f.db, |p| sqlx::query_scalar(
        "SELECT count(*) FROM leads l WHERE (l.owner_person_id IS NOT NULL) <> EXISTS \
         (SELECT 1 FROM assignments a WHERE a.lead_id = l.lead_id AND a.ended_at IS NULL \
          AND a.person_id = l.owner_person_id)"
    )
    .fetch_one(p)
    .await
    .expect("check"));
    assert_eq!(disagreements, 0);
    let held: i64 = f
        .scalar(
            "SELECT count(*) FROM leads WHERE state IN ('ASSIGNED', 'PRIVATE') AND $1 = $1",
            "",
        )
        .await;
    let open: i64 = f
        .scalar(
            "SELECT count(*) FROM assignments WHERE ended_at IS NULL AND $1 = $1",
            "",
        )
        .await;
    assert_eq!(held, open);
    // After the last run every rep has exactly their quota (the pool was big enough).
    for (rep, distributed, claimed) in &days {
        assert_eq!(distributed + claimed, 30, "{rep}: {distributed} + {claimed}");
    }
    // Private counts agree with the leads and stay within the cap.
    let counts: Vec<(String, i32, i64)> = on_pool_raw!(&f.db, |p| sqlx::query_as(
        "SELECT r.person_id, COALESCE((SELECT size FROM private_pools pp WHERE pp.person_id = r.person_id), 0), \
         (SELECT count(*) FROM leads l WHERE l.owner_person_id = r.person_id AND l.state = 'PRIVATE') FROM reps r"
    )
    .fetch_all(p)
    .await
    .expect("counts"));
    for (rep, count, actual) in counts {
        assert_eq!(i64::from(count), actual, "{rep}");
        assert!(count <= 30);
    }
}

both_backends!(
    fair_distribution,
    ten_reps_with_quota_40_each_get_exactly_40_and_the_best_leads_spread_evenly
);
both_backends!(
    concurrency,
    quotas_and_single_ownership_hold_under_50_concurrent_clients
);

async fn history_rules(f: &LeadsFixture, lead_id: &str) -> Vec<TransitionRule> {
    let request = ListLeadHistoryRequest {
        lead_id: lead_id.into(),
        ..Default::default()
    };
    let history = f
        .leads()
        .await
        .list_lead_history(authed(request, &admin()))
        .await
        .expect("history");
    history.into_inner().entries.iter().map(|e| e.rule()).collect()
}

async fn follow_up(f: &LeadsFixture, person: &str, lead_id: &str, kind: FollowUpKind) {
    let request = RecordFollowUpRequest {
        lead_id: lead_id.into(),
        kind: kind as i32,
        ..Default::default()
    };
    f.leads()
        .await
        .record_follow_up(authed(request, &rep_token(person)))
        .await
        .expect("follow-up");
}

async fn lead(f: &LeadsFixture, lead_id: &str) -> tiejun_proto::leads::v1::Lead {
    let request = GetLeadRequest {
        lead_id: lead_id.into(),
    };
    f.leads()
        .await
        .get_lead(authed(request, &admin()))
        .await
        .expect("get")
        .into_inner()
        .lead
        .expect("lead")
}

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
    assert_eq!(
        c.record_follow_up(authed(follow, &n)).await.expect_err("follow").code(),
        Code::PermissionDenied
    );
    let keep = KeepPrivateRequest {
        lead_id: id.clone(),
        ..Default::default()
    };
    assert_eq!(
        c.keep_private(authed(keep, &n)).await.expect_err("keep").code(),
        Code::PermissionDenied
    );
    let release = ReleaseLeadRequest {
        lead_id: id.clone(),
        reason: "x".into(),
    };
    assert_eq!(
        c.release_lead(authed(release, &n)).await.expect_err("release").code(),
        Code::PermissionDenied
    );
    let convert = ConvertLeadRequest {
        lead_id: id.clone(),
        ..Default::default()
    };
    assert_eq!(
        c.convert_lead(authed(convert, &n)).await.expect_err("convert").code(),
        Code::PermissionDenied
    );
    let close = CloseLeadRequest {
        lead_id: id.clone(),
        reason: "x".into(),
    };
    assert_eq!(
        c.close_lead(authed(close, &n)).await.expect_err("close").code(),
        Code::PermissionDenied
    );
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

async fn watch_rep_events_sees_an_assignment(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["W"], 30).await;
    let leads = f.import(vec![lead_input(3, "杭州", 90)]).await;
    let mut stream = f
        .leads()
        .await
        .watch_rep_events(authed(
            WatchRepEventsRequest {
                person_id: "W".into(),
                after_sequence: None,
            },
            &rep_token("W"),
        ))
        .await
        .expect("watch")
        .into_inner();
    let reassign = ReassignLeadRequest {
        lead_id: leads[0].clone(),
        to_person_id: "W".into(),
        reason: "hot".into(),
    };
    f.leads()
        .await
        .reassign_lead(authed(reassign, &admin()))
        .await
        .expect("reassign");
    let event = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("an event within 5 s")
        .expect("stream open")
        .expect("an event");
    let Some(Event::Assigned(assigned)) = event.event else {
        panic!("not an assignment: {event:?}")
    };
    let lead = assigned.lead.expect("lead");
    assert_eq!(lead.lead_id, leads[0]);
    assert!(!lead.contact_masked, "the owner sees the contact");
    assert_eq!(
        (lead.state(), lead.owner_person_id.as_str()),
        (LeadState::Assigned, "W")
    );

    // Taken away by a manager: the feed says so.
    f.active_reps(&["W2"], 30).await;
    let away = ReassignLeadRequest {
        lead_id: leads[0].clone(),
        to_person_id: "W2".into(),
        reason: "rebalance".into(),
    };
    f.leads()
        .await
        .reassign_lead(authed(away, &admin()))
        .await
        .expect("reassign away");
    let event = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("an event within 5 s")
        .expect("stream open")
        .expect("an event");
    let Some(Event::Reclaimed(reclaimed)) = event.event else {
        panic!("not a reclaim: {event:?}")
    };
    assert_eq!(
        (reclaimed.lead_id.as_str(), reclaimed.rule()),
        (leads[0].as_str(), TransitionRule::ManagerReassign)
    );

    // The feed keeps a week: a sweep eight days on forgets the older events.
    let close = CloseLeadRequest {
        lead_id: leads[0].clone(),
        reason: "not a fit".into(),
    };
    f.leads()
        .await
        .close_lead(authed(close, &admin()))
        .await
        .expect("close");
    const FEED: &str = "SELECT count(*) FROM rep_events WHERE person_id <> $1";
    assert_eq!(
        f.scalar(FEED, "").await,
        3,
        "W's assignment and reclaim, W2's assignment"
    );
    f.advance(Span::days(8));
    let fresh = f.import(vec![lead_input(4, "杭州", 90)]).await;
    claim(&mut f.leads().await, "W", &fresh[0])
        .await
        .expect("a claim a week later");
    sweep(&f).await;
    assert_eq!(f.scalar(FEED, "").await, 1, "only the claim of this week is left");

    let other = f
        .leads()
        .await
        .watch_rep_events(authed(
            WatchRepEventsRequest {
                person_id: "X".into(),
                after_sequence: None,
            },
            &rep_token("W"),
        ))
        .await
        .expect_err("another rep's events");
    assert_eq!(other.code(), Code::PermissionDenied);
}

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

both_backends!(
    one_sweep_at_a_time,
    two_instances_on_one_database_never_sweep_at_the_same_time
);
both_backends!(
    reclaim_after_48h,
    reclaims_a_lead_not_followed_up_within_48h_and_hands_it_to_a_colleague
);
both_backends!(
    same_city_handover,
    a_sweep_hands_each_citys_leads_to_that_city_before_any_other
);
both_backends!(
    private_deadlines,
    private_leads_need_weekly_follow_up_and_leave_after_60_days
);
both_backends!(
    private_pool_cap,
    the_private_pool_swaps_one_in_one_out_and_never_exceeds_30
);
both_backends!(other_reps_leads, a_rep_touching_another_reps_lead_is_refused);
both_backends!(whole_life, a_leads_whole_life_is_in_its_history_and_in_the_figures);
both_backends!(watch, watch_rep_events_sees_an_assignment);
both_backends!(daily_reports, daily_reports_are_listed_with_who_is_missing);

async fn claims_stop_at_10_a_day_and_at_the_quota(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["Q1", "Q2"], 30).await;
    let leads = f.import((0..100).map(|i| lead_input(i, "杭州", 50)).collect()).await;
    let mut c = f.leads().await;
    for (i, id) in leads[..10].iter().enumerate() {
        assert_eq!(
            claim(&mut c, "Q1", id).await.expect("claim"),
            9 - i as i32,
            "claims left"
        );
    }
    let eleventh = claim(&mut c, "Q1", &leads[10]).await.expect_err("11th claim");
    assert_eq!(
        eleventh.get_details_error_info().expect("ErrorInfo").reason,
        "DAILY_CLAIM_LIMIT"
    );

    // The next business day the counters start again.
    f.advance(Span::days(1));
    claim(&mut c, "Q1", &leads[10]).await.expect("a new day, a new claim");
    // The distribution fills both quotas (Q1 already received one today)...
    assert_eq!(distribute(&f).await.leads_assigned, 29 + 30);
    // ...after which a claim would take Q2 over its quota.
    let pool = c
        .list_leads(authed(
            ListLeadsRequest {
                state: LeadState::Pool as i32,
                ..Default::default()
            },
            &admin(),
        ))
        .await
        .expect("pool")
        .into_inner()
        .leads;
    let over = claim(&mut c, "Q2", &pool[0].lead_id).await.expect_err("over quota");
    assert_eq!(
        over.get_details_error_info().expect("ErrorInfo").reason,
        "DAILY_QUOTA_EXHAUSTED"
    );
}

both_backends!(claim_limits, claims_stop_at_10_a_day_and_at_the_quota);

fn manager_of(team: &str) -> String {
    let mut spec = tiejun_platform::auth::TokenSpec::new(
        "manager",
        &[tiejun_platform::auth::Role::SalesManager],
        Duration::from_secs(3600),
    );
    spec.team = Some(team.to_owned());
    tiejun_tests::keys().mint(&spec).expect("mint")
}

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

async fn scheduled_runs(f: &LeadsFixture) -> i64 {
    f.scalar("SELECT count(*) FROM distribution_runs WHERE trigger = $1", "SCHEDULED")
        .await
}

async fn the_distribution_runs_by_itself_once_after_8_in_the_morning(db: TestDatabase) {
    use tiejun_platform::clock::ManualClock;
    // 07:58 in Shanghai, jobs ticking every 100 ms.
    let clock = ManualClock::new(tiejun_tests::leads::monday_morning() - Span::minutes(62));
    let url = db.url.clone();
    let f = LeadsFixture::start(db).await;
    let jobs = tiejun_tests::start_service_with_jobs(
        tiejun_tests::Svc::Leads,
        &url,
        std::sync::Arc::new(clock.clone()),
        Duration::from_millis(100),
    )
    .await;
    assert!(tiejun_tests::wait_serving(jobs.addr, Duration::from_secs(30)).await);
    f.active_reps(&["D1", "D2"], 30).await;
    f.import((0..10).map(|i| lead_input(i, "杭州", 50)).collect()).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(scheduled_runs(&f).await, 0, "nothing before 08:00");
    clock.advance(Span::minutes(3)); // 08:01
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while scheduled_runs(&f).await == 0 {
        assert!(std::time::Instant::now() < deadline, "no scheduled run after 08:00");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(scheduled_runs(&f).await, 1, "one scheduled run a day");
    assert_eq!(
        f.scalar("SELECT count(*) FROM leads WHERE state = $1", "ASSIGNED")
            .await,
        10
    );
    let runs = f
        .leads()
        .await
        .list_distribution_runs(authed(ListDistributionRunsRequest::default(), &admin()))
        .await
        .expect("runs")
        .into_inner()
        .runs;
    assert_eq!(
        runs.iter()
            .map(|r| (r.trigger(), r.ran_by.as_str()))
            .collect::<Vec<_>>(),
        [(DistributionTrigger::Scheduled, "system")]
    );
}

async fn a_distribution_run_reads_back_for_an_audit(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["H0", "H1", "H2"], 30).await;
    let mut reps = f.reps().await;
    for id in ["N0", "N1", "N2"] {
        let ningbo = tiejun_proto::leads::v1::RegisterRepRequest {
            person_id: id.into(),
            name: format!("Rep {id}"),
            team: "Ningbo-1".into(),
            city: "宁波".into(),
            daily_quota: 30,
        };
        reps.register_rep(authed(ningbo, &admin())).await.expect("register");
        let activate = tiejun_proto::leads::v1::ActivateRepRequest {
            person_id: id.into(),
            reason: String::new(),
        };
        reps.activate_rep(authed(activate, &admin())).await.expect("activate");
    }
    let cities = ["杭州", "宁波", "上海"];
    let leads = f
        .import((0..120).map(|i| lead_input(i, cities[i % 3], 50)).collect())
        .await;
    let first = distribute(&f).await;
    f.import((120..130).map(|i| lead_input(i, "杭州", 50)).collect()).await;
    let top_up = distribute(&f).await;
    let mut c = f.leads().await;
    let get = |run_id: &str, token: &str| authed(GetDistributionRunRequest { run_id: run_id.into() }, token);
    let run = c
        .get_distribution_run(get(&first.run_id, &admin()))
        .await
        .expect("get")
        .into_inner()
        .run
        .expect("run");
    assert_eq!(
        (
            run.trigger(),
            run.ran_by.as_str(),
            run.rotation_seed,
            run.leads_assigned
        ),
        (DistributionTrigger::OnDemand, "test", first.rotation_seed, 120)
    );
    // The rotation follows from the recorded seed and the reps in it alone.
    let mut reps_in_it = run.rotation.clone();
    reps_in_it.sort();
    assert_eq!(
        tiejun_leads::domain::distribution::rotation(&reps_in_it, run.rotation_seed as u64),
        run.rotation
    );
    assert_eq!(run.rotation.len(), 6);
    // What each rep received adds up, in rotation order, with the same-city share.
    assert_eq!(run.shares.iter().map(|s| s.leads_assigned).sum::<i32>(), 120);
    assert_eq!(
        run.shares.iter().map(|s| s.same_city).sum::<i32>(),
        run.same_city_assigned
    );
    assert_eq!(
        run.same_city_assigned, 80,
        "every Hangzhou and Ningbo lead went to its city"
    );
    assert_eq!(run.same_city_bp, Some(6666));
    let order: Vec<&str> = run.shares.iter().map(|s| s.person_id.as_str()).collect();
    assert_eq!(order, run.rotation.iter().map(String::as_str).collect::<Vec<_>>());
    // Who ran it is who the history names.
    let history = c
        .list_lead_history(authed(
            ListLeadHistoryRequest {
                lead_id: leads[0].clone(),
                ..Default::default()
            },
            &admin(),
        ))
        .await
        .expect("history")
        .into_inner()
        .entries;
    assert_eq!(history.last().map(|e| e.actor.as_str()), Some("test"));

    // Newest first, paginated, by day.
    let page = |size: i32, token: &str, day: &str| {
        authed(
            ListDistributionRunsRequest {
                business_day: day.into(),
                page_size: size,
                page_token: token.into(),
            },
            &admin(),
        )
    };
    let one = c
        .list_distribution_runs(page(1, "", ""))
        .await
        .expect("page 1")
        .into_inner();
    assert_eq!(
        one.runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        [top_up.run_id.as_str()]
    );
    assert!(one.runs[0].shares.is_empty(), "listings leave the shares out");
    let two = c
        .list_distribution_runs(page(1, &one.next_page_token, ""))
        .await
        .expect("page 2")
        .into_inner();
    assert_eq!(two.runs[0].run_id, first.run_id);
    let today = &first.business_day;
    let other_day = c.list_distribution_runs(page(50, "", "2026-01-01")).await.expect("day");
    assert!(other_day.into_inner().runs.is_empty());
    assert_eq!(
        c.list_distribution_runs(page(50, "", today))
            .await
            .expect("today")
            .into_inner()
            .runs
            .len(),
        2
    );
    let bad = c
        .list_distribution_runs(page(50, "", "yesterday"))
        .await
        .expect_err("bad day");
    assert_eq!(bad.code(), Code::InvalidArgument);

    // A team-limited manager sees their own team's rows.
    let theirs = c
        .get_distribution_run(get(&first.run_id, &manager_of("Ningbo-1")))
        .await
        .expect("manager")
        .into_inner()
        .run
        .expect("run");
    let mut ids: Vec<&str> = theirs.shares.iter().map(|s| s.person_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["N0", "N1", "N2"]);
    assert_eq!(theirs.leads_assigned, 120, "the run's totals stay whole");
    let missing = c
        .get_distribution_run(get("no-such-run", &admin()))
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), Code::NotFound);
    let rep = c
        .get_distribution_run(get(&first.run_id, &rep_token("H0")))
        .await
        .expect_err("rep");
    assert_eq!(rep.code(), Code::PermissionDenied);
}

both_backends!(run_audit, a_distribution_run_reads_back_for_an_audit);

both_backends!(team_scope, a_team_managers_token_acts_on_that_team_only);
both_backends!(
    scheduled_distribution,
    the_distribution_runs_by_itself_once_after_8_in_the_morning
);

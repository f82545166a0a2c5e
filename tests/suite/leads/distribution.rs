//! The daily distribution: fair shares at the quota, single ownership under
//! concurrent clients, the run by itself after 08:00, and a run's audit.

use std::{collections::HashMap, time::Duration};

use chrono::Duration as Span;
use tiejun_platform::{both_backends, db::Database, on_pool_raw, testing::TestDatabase};
use tiejun_proto::leads::v1::{
    DistributionTrigger, GetDistributionRunRequest, KeepPrivateRequest, LeadState, ListDistributionRunsRequest,
    ListLeadsRequest, RunDistributionRequest, TransitionRule, lead_service_client::LeadServiceClient,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin, lead_input, rep_token},
};
use tonic::Code;

use super::{claim, distribute, history, ids, manager_of};

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
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

async fn scheduled_runs(f: &LeadsFixture) -> i64 {
    f.scalar("SELECT count(*) FROM distribution_runs WHERE trigger = $1", "SCHEDULED")
        .await
}

#[both_backends]
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
    let history = history(&f, &leads[0]).await;
    let dealt = history
        .iter()
        .find(|e| e.rule() == TransitionRule::Distribution)
        .expect("distribution entry");
    assert_eq!(dealt.distribution_run_id, run.run_id);
    assert!(dealt.reason.starts_with("round 1"), "{}", dealt.reason);
}

#[both_backends]
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

#[both_backends]
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

#[both_backends]
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
    let mut reps_in_it: Vec<tiejun_leads::domain::ids::PersonId> = run.rotation.iter().map(Into::into).collect();
    reps_in_it.sort();
    let rotated = tiejun_leads::domain::distribution::rotation(&reps_in_it, run.rotation_seed as u64);
    assert_eq!(rotated.iter().map(|p| p.as_str()).collect::<Vec<_>>(), run.rotation);
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
    let history = history(&f, &leads[0]).await;
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

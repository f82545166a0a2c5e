//! The 08:00 rush on lead-distribution: every write of the lead path at
//! once on the same rows — two dozen reps claiming, three distributions, two
//! sweeps reclaiming a thousand overdue leads and handing them over,
//! private-pool swaps at the cap, and three reps departing — on SQLite, on
//! PostgreSQL, and on PostgreSQL with two replicas behind the gateway as
//! Kubernetes runs them. Nothing may come back ABORTED (PostgreSQL's
//! deadlock counter must not move), and every invariant holds afterwards:
//! one owner per lead with its open ownership period, nothing held by a
//! departed rep, the quota and the claim limit per rep and day, the private
//! pool's cap and size, and a history that ends where each lead is.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::Duration as Span;
use rand::{SeedableRng as _, seq::SliceRandom as _};
use tiejun_platform::{
    both_backends,
    db::{Backend, Database},
    on_pool_raw,
    testing::{TestDatabase, postgres_required},
};
use tiejun_proto::leads::v1::{
    ClaimLeadRequest, DepartRepRequest, KeepPrivateRequest, LeadState, ListLeadsRequest, RegisterRepRequest,
    RunDistributionRequest, RunReclaimSweepRequest, lead_service_client::LeadServiceClient,
    rep_service_client::RepServiceClient,
};
use tiejun_tests::{
    Running, authed,
    fixture::Fixture,
    gateway::{self, fast_tuning},
    leads::{LeadsFixture, admin, lead_input, rep_token},
};
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

const CITIES: [&str; 3] = ["杭州", "宁波", "温州"];

/// Who does what in the rush.
#[derive(Debug, Clone)]
struct Cast {
    claimers: Vec<String>,
    swappers: Vec<String>,
    departing: Vec<String>,
    /// Pool leads when the rush starts (the claimers' targets).
    pool: Vec<String>,
    /// Per swapper: (fresh ASSIGNED leads to keep, PRIVATE leads to give back).
    swaps: BTreeMap<String, (Vec<String>, Vec<String>)>,
}

/// What every call of the rush answered: code (and reason) → count.
type Tally = BTreeMap<String, usize>;

fn outcome(result: Result<(), tonic::Status>) -> String {
    match result {
        Ok(()) => "OK".into(),
        Err(status) => match status.get_details_error_info() {
            Some(info) => format!("{:?} {}", status.code(), info.reason),
            None => format!("{:?} {}", status.code(), status.message()),
        },
    }
}

async fn register(reps: &mut RepServiceClient<Channel>, id: &str, city: &str, quota: i32) {
    let r = RegisterRepRequest {
        person_id: id.into(),
        name: format!("Rep {id}"),
        team: "Rush-1".into(),
        city: city.into(),
        daily_quota: quota,
    };
    reps.register_rep(authed(r, &admin())).await.expect("register");
    let activate = tiejun_proto::leads::v1::ActivateRepRequest {
        person_id: id.into(),
        reason: String::new(),
    };
    reps.activate_rep(authed(activate, &admin())).await.expect("activate");
}

async fn own(leads: &mut LeadServiceClient<Channel>, person: &str, state: LeadState) -> Vec<String> {
    let request = ListLeadsRequest {
        state: state as i32,
        page_size: 500,
        ..Default::default()
    };
    leads
        .list_leads(authed(request, &rep_token(person)))
        .await
        .expect("own leads")
        .into_inner()
        .leads
        .into_iter()
        .map(|l| l.lead_id)
        .collect()
}

/// Monday 09:00: 30 reps, 2,400 leads, a distribution of 1,170; the
/// swappers keep 30 each (the cap). At 13:00 the departing reps claim five
/// leads each. Then Wednesday 10:00: everything distributed on Monday and
/// not kept is overdue, the departing reps' claims are due within the
/// warning's 6 hours, and each swapper claims five fresh leads.
async fn prepare(f: &LeadsFixture) -> Cast {
    let mut reps = f.reps().await;
    let ids = |prefix: &str, n: usize| (0..n).map(|i| format!("{prefix}{i:02}")).collect::<Vec<_>>();
    let (claimers, swappers, departing) = (ids("C", 24), ids("S", 3), ids("D", 3));
    for (i, id) in claimers.iter().chain(&swappers).chain(&departing).enumerate() {
        // The departing reps get 30 on Monday, then 35: room for five claims.
        let quota = if departing.contains(id) { 30 } else { 40 };
        register(&mut reps, id, CITIES[i % CITIES.len()], quota).await;
    }
    let cities = ["杭州", "宁波", "温州", "上海"];
    f.import(
        (0..2400)
            .map(|i| lead_input(i, cities[i % 4], 1 + (i % 100) as i32))
            .collect(),
    )
    .await;
    let mut leads = f.leads().await;
    let run = leads
        .run_distribution(authed(RunDistributionRequest::default(), &admin()))
        .await
        .expect("Monday's distribution")
        .into_inner();
    assert_eq!(run.leads_assigned, 27 * 40 + 3 * 30);
    for s in &swappers {
        for lead_id in own(&mut leads, s, LeadState::Assigned).await.iter().take(30) {
            let keep = KeepPrivateRequest {
                lead_id: lead_id.clone(),
                ..Default::default()
            };
            leads.keep_private(authed(keep, &rep_token(s))).await.expect("keep");
        }
    }
    f.advance(Span::hours(4));
    let monday_pool: Vec<String> = on_pool_raw!(&f.db, |p| sqlx::query_scalar(
        "SELECT lead_id FROM leads WHERE state = 'POOL' ORDER BY lead_id LIMIT 15"
    )
    .fetch_all(p)
    .await
    .expect("the pool"));
    for (d, chunk) in departing.iter().zip(monday_pool.chunks(5)) {
        let quota = tiejun_proto::leads::v1::SetRepQuotaRequest {
            person_id: d.clone(),
            daily_quota: 35,
        };
        reps.set_rep_quota(authed(quota, &admin())).await.expect("quota");
        for lead_id in chunk {
            let claim = ClaimLeadRequest {
                lead_id: lead_id.clone(),
                idempotency_key: String::new(),
            };
            leads
                .claim_lead(authed(claim, &rep_token(d)))
                .await
                .expect("Monday claim");
        }
    }
    f.advance(Span::hours(45));
    let mut pool: Vec<String> = on_pool_raw!(&f.db, |p| sqlx::query_scalar(
        "SELECT lead_id FROM leads WHERE state = 'POOL' ORDER BY lead_id"
    )
    .fetch_all(p)
    .await
    .expect("the pool"));
    assert_eq!(pool.len(), 2400 - 1170 - 15);
    let mut swaps = BTreeMap::new();
    for s in &swappers {
        let mut fresh = Vec::new();
        while fresh.len() < 5 {
            let lead_id = pool.pop().expect("pool leads left");
            let claim = ClaimLeadRequest {
                lead_id: lead_id.clone(),
                idempotency_key: String::new(),
            };
            leads
                .claim_lead(authed(claim, &rep_token(s)))
                .await
                .expect("fresh claim");
            fresh.push(lead_id);
        }
        let private = own(&mut leads, s, LeadState::Private).await;
        assert_eq!(private.len(), 30, "{s} is at the cap");
        swaps.insert(s.clone(), (fresh, private[..5].to_vec()));
    }
    Cast {
        claimers,
        swappers,
        departing,
        pool,
        swaps,
    }
}

/// Everything at once, through `channel`; what each kind of call answered.
/// The distributions start once a first claim went through, so claims are
/// in flight when they do (on SQLite, whose writers take turns, a
/// distribution that ran first would fill every rep's quota alone).
async fn rush(channel: Channel, cast: &Cast) -> BTreeMap<&'static str, Tally> {
    let mut tasks = tokio::task::JoinSet::new();
    let cast = Arc::new(cast.clone());
    let (claimed, first_claim) = tokio::sync::watch::channel(false);
    let claimed = Arc::new(claimed);
    for (i, rep) in cast.claimers.iter().enumerate() {
        let (mut c, cast, rep, claimed) = (
            LeadServiceClient::new(channel.clone()),
            cast.clone(),
            rep.clone(),
            claimed.clone(),
        );
        tasks.spawn(async move {
            let mut targets = cast.pool.clone();
            targets.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(i as u64));
            let mut out = Vec::new();
            for lead_id in targets.into_iter().take(20) {
                let claim = ClaimLeadRequest {
                    lead_id,
                    idempotency_key: String::new(),
                };
                let answer = outcome(c.claim_lead(authed(claim, &rep_token(&rep))).await.map(drop));
                if answer == "OK" {
                    claimed.send_replace(true);
                }
                out.push(("claim", answer));
            }
            out
        });
    }
    for _ in 0..3 {
        let (mut c, mut first_claim) = (LeadServiceClient::new(channel.clone()), first_claim.clone());
        tasks.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), first_claim.wait_for(|done| *done)).await;
            let run = c
                .run_distribution(authed(RunDistributionRequest::default(), &admin()))
                .await;
            vec![("distribution", outcome(run.map(drop)))]
        });
    }
    for _ in 0..2 {
        let mut c = LeadServiceClient::new(channel.clone());
        tasks.spawn(async move {
            let sweep = c.run_reclaim_sweep(authed(RunReclaimSweepRequest {}, &admin())).await;
            vec![("sweep", outcome(sweep.map(drop)))]
        });
    }
    for (rep, (fresh, private)) in &cast.swaps {
        let (mut c, rep, fresh, private) = (
            LeadServiceClient::new(channel.clone()),
            rep.clone(),
            fresh.clone(),
            private.clone(),
        );
        tasks.spawn(async move {
            let mut out = Vec::new();
            for (keep, give_back) in fresh.into_iter().zip(private) {
                let swap = KeepPrivateRequest {
                    lead_id: keep,
                    release_lead_ids: vec![give_back],
                    release_reason: "a better one".into(),
                };
                out.push((
                    "swap",
                    outcome(c.keep_private(authed(swap, &rep_token(&rep))).await.map(drop)),
                ));
            }
            out
        });
    }
    for rep in &cast.departing {
        let (mut c, rep) = (RepServiceClient::new(channel.clone()), rep.clone());
        tasks.spawn(async move {
            let depart = DepartRepRequest {
                person_id: rep,
                reason: "left the company".into(),
            };
            vec![(
                "departure",
                outcome(c.depart_rep(authed(depart, &admin())).await.map(drop)),
            )]
        });
    }
    let mut tally: BTreeMap<&'static str, Tally> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        for (kind, code) in done.expect("a rush task") {
            *tally.entry(kind).or_default().entry(code).or_default() += 1;
        }
    }
    tally
}

fn assert_answers(tally: &BTreeMap<&'static str, Tally>) {
    for kind in ["distribution", "sweep", "swap", "departure"] {
        let answers = &tally[kind];
        assert_eq!(
            answers.keys().collect::<Vec<_>>(),
            ["OK"],
            "every {kind} succeeds: {tally:?}"
        );
    }
    let allowed = [
        "OK",
        "FailedPrecondition LEAD_NOT_IN_POOL",
        "FailedPrecondition DAILY_CLAIM_LIMIT",
        "FailedPrecondition DAILY_QUOTA_EXHAUSTED",
    ];
    let claims = &tally["claim"];
    assert!(
        claims.keys().all(|k| allowed.contains(&k.as_str())),
        "claims end in success or a business rule, never a conflict: {claims:?}"
    );
    assert!(
        claims.get("OK").copied().unwrap_or(0) > 0,
        "some claims succeed: {claims:?}"
    );
}

async fn count(db: &Database, sql: &'static str) -> i64 {
    on_pool_raw!(db, |p| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(p)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}")))
}

async fn assert_invariants(db: &Database, cast: &Cast) {
    let checks: [(&str, &'static str); 9] = [
        ("no lead lost", "SELECT 2400 - count(*) FROM leads"),
        (
            "held leads have their owner's one open ownership period, and only they have one",
            "SELECT count(*) FROM leads l WHERE (l.state IN ('ASSIGNED', 'PRIVATE')) <> EXISTS (SELECT 1 FROM \
             assignments a WHERE a.lead_id = l.lead_id AND a.ended_at IS NULL AND a.person_id = l.owner_person_id)",
        ),
        (
            "one open ownership period per held lead",
            "SELECT (SELECT count(*) FROM assignments WHERE ended_at IS NULL) - \
             (SELECT count(*) FROM leads WHERE state IN ('ASSIGNED', 'PRIVATE'))",
        ),
        (
            "a departed rep holds nothing",
            "SELECT count(*) FROM leads l JOIN reps r ON r.person_id = l.owner_person_id WHERE r.status = 'DEPARTED'",
        ),
        (
            "at most 10 claims a day",
            "SELECT count(*) FROM rep_days WHERE claimed > 10",
        ),
        (
            "never more than the quota in a day",
            "SELECT count(*) FROM rep_days d JOIN reps r ON r.person_id = d.person_id \
             WHERE d.distributed + d.claimed > r.daily_quota",
        ),
        (
            "each private pool counts its PRIVATE leads",
            "SELECT count(*) FROM reps r WHERE COALESCE((SELECT size FROM private_pools p WHERE p.person_id = \
             r.person_id), 0) <> (SELECT count(*) FROM leads l WHERE l.owner_person_id = r.person_id \
             AND l.state = 'PRIVATE')",
        ),
        (
            "no pool above the cap",
            "SELECT count(*) FROM private_pools WHERE size > 30",
        ),
        (
            "every history ends where its lead is",
            "SELECT count(*) FROM leads l JOIN lead_history h ON h.lead_id = l.lead_id AND h.sequence = \
             (SELECT MAX(x.sequence) FROM lead_history x WHERE x.lead_id = l.lead_id) \
             WHERE h.to_state <> l.state OR COALESCE(h.to_owner, '') <> COALESCE(l.owner_person_id, '')",
        ),
    ];
    for (what, sql) in checks {
        assert_eq!(count(db, sql).await, 0, "{what}");
    }
    for s in &cast.swappers {
        let size: i64 = on_pool_raw!(db, |p| sqlx::query_scalar(
            "SELECT CAST(size AS BIGINT) FROM private_pools WHERE person_id = $1"
        )
        .bind(s)
        .fetch_one(p)
        .await
        .expect("pool"));
        assert_eq!(size, 30, "{s}: every swap kept the pool at the cap");
    }
    let reclaimed = count(
        db,
        "SELECT count(*) FROM lead_history WHERE rule IN ('RECLAIM_NO_FOLLOW_UP', 'RECLAIM_UNRESOLVED')",
    )
    .await;
    assert!(reclaimed > 0, "the sweeps reclaimed overdue leads during the rush");
}

/// PostgreSQL's count of deadlocks in this database so far, once every
/// server on it has stopped (a backend reports its counts when it exits).
async fn deadlocks(url: &str) -> i64 {
    let db = Database::connect(url, &Default::default()).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let n = on_pool_raw!(&db, |p| sqlx::query_scalar(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    )
    .fetch_one(p)
    .await
    .expect("deadlocks"));
    db.close().await;
    n
}

async fn stop(server: Running) {
    server.shutdown.cancel();
    server.join().await.expect("the server stops cleanly");
}

#[both_backends]
async fn the_0800_rush_holds_every_invariant(db: TestDatabase) {
    let backend = db.backend;
    let f = LeadsFixture::start(db).await;
    let before = if backend == Backend::Postgres {
        deadlocks(&f.url).await
    } else {
        0
    };
    let cast = prepare(&f).await;
    let tally = rush(f.channel().await, &cast).await;
    assert_answers(&tally);
    assert_invariants(&f.db, &cast).await;
    let Fixture { server, url, .. } = f.0;
    if backend == Backend::Postgres {
        stop(server).await;
        assert_eq!(deadlocks(&url).await, before, "no deadlock in the rush");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_0800_rush_through_the_gateway_on_two_replicas() {
    let Some(db) = TestDatabase::postgres().await else {
        assert!(!postgres_required());
        return;
    };
    let f = LeadsFixture::start(db).await;
    let second =
        tiejun_tests::start_service_at(tiejun_tests::Svc::Leads, &f.url, std::sync::Arc::new(f.clock.clone())).await;
    assert!(tiejun_tests::wait_serving(second.addr, Duration::from_secs(30)).await);
    let urls = [f.server.addr, second.addr].map(|a| format!("http://{a}")).to_vec();
    let backend = tiejun_gateway::BackendSpec::parse(tiejun_leads::PACKAGE, &urls).expect("endpoints");
    let gateway = gateway::start(
        vec![backend],
        fast_tuning(),
        Arc::new(tiejun_gateway::SystemResolver),
        |_| {},
    )
    .await;
    assert!(tiejun_tests::wait_serving(gateway.addr, Duration::from_secs(30)).await);
    let before = deadlocks(&f.url).await;
    let cast = prepare(&f).await;
    let tally = rush(gateway.channel().await, &cast).await;
    assert_answers(&tally);
    assert_invariants(&f.db, &cast).await;
    drop(gateway);
    stop(second).await;
    let Fixture { server, url, .. } = f.0;
    stop(server).await;
    assert_eq!(deadlocks(&url).await, before, "no deadlock in the rush");
}

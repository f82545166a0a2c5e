//! Process faults (issue #10): the suite as separate `tiejun serve`
//! processes on a PostgreSQL cluster of its own (synchronous commit on),
//! behind the gateway, under a running load of writes that each start an
//! effect somewhere (a rep hired → an onboarding assignment by event; a
//! lead; a member; an enrolment into a 5-seat session; a member who
//! subscribes and pays, retrying the payment with its key until answered). While the load runs: SIGKILL lead-distribution and start
//! it again, SIGKILL the gateway and start it again, crash PostgreSQL and
//! start it again. Then every write the client saw acknowledged is in the
//! database, every RepHired event was applied exactly once, no lead has two
//! owners, the session holds exactly its 5 seats, no payment counted twice; the gateway answered UNAVAILABLE (not hung) while leads was down;
//! the services said NOT_SERVING while the database was away and SERVING
//! again within 5 s of its return.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::Connection as _;
use tiejun_platform::{
    auth::{JwtKeys, Role, TokenSpec},
    testing::{Durability, PgCluster, postgres_required},
};
use tiejun_proto::{
    billing::v1::{
        CreateFeatureRequest, CreatePlanRequest, FeatureTier, Money, RecordPaymentRequest, RegisterMemberRequest,
        SubscribeRequest, account_service_client::AccountServiceClient, catalog_service_client::CatalogServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    },
    leads::v1::{
        CreateLeadRequest, GetRepRequest, LeadInput, RegisterRepRequest, lead_service_client::LeadServiceClient,
        rep_service_client::RepServiceClient,
    },
    training::v1::{
        CreateProgramRequest, EnrollRequest, Program, ScheduleSessionRequest, Session, Track,
        enrollment_service_client::EnrollmentServiceClient, program_service_client::ProgramServiceClient,
        session_service_client::SessionServiceClient,
    },
};
use tonic::{Code, Request, transport::Channel};
use tonic_health::pb::health_check_response::ServingStatus;

mod common;

use common::{Processes, SECRET, until};

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().expect("ascii token"));
    request.set_timeout(Duration::from_secs(3));
    request
}

/// What the client saw acknowledged.
#[derive(Default)]
struct Acked {
    reps: Vec<String>,
    leads: Vec<String>,
    accounts: Vec<String>,
    enrollments: usize,
    paid_invoices: Vec<String>,
}

/// The seats the load fights over.
const SEATS: i32 = 5;

/// Writes through the gateway until `stop`; records what was acknowledged.
async fn load(
    gateway: SocketAddr,
    token: String,
    session_id: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
    failed: Arc<AtomicU64>,
) {
    let channel = Channel::from_shared(format!("http://{gateway}"))
        .expect("url")
        .connect_timeout(Duration::from_millis(500))
        .connect_lazy();
    let (mut reps, mut leads, mut members) = (
        RepServiceClient::new(channel.clone()),
        LeadServiceClient::new(channel.clone()),
        AccountServiceClient::new(channel.clone()),
    );
    let (mut enrollments, mut subs) = (
        EnrollmentServiceClient::new(channel.clone()),
        SubscriptionServiceClient::new(channel),
    );
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let outcome = match i % 5 {
            3 => {
                let enroll = EnrollRequest {
                    session_id: session_id.clone(),
                    learner_id: format!("S{i:06}"),
                    idempotency_key: format!("seat-{i}"),
                };
                enrollments
                    .enroll(authed(enroll, &token))
                    .await
                    .map(|_| acked.lock().expect("lock").enrollments += 1)
            }
            4 => paid_member(&mut members, &mut subs, &token, i)
                .await
                .map(|invoice| acked.lock().expect("lock").paid_invoices.push(invoice)),
            0 => {
                let id = format!("F{i:06}");
                let register = RegisterRepRequest {
                    person_id: id.clone(),
                    name: "故障测试".into(),
                    team: "Hangzhou-1".into(),
                    city: "Hangzhou".into(),
                    daily_quota: 40,
                };
                reps.register_rep(authed(register, &token))
                    .await
                    .map(|_| acked.lock().expect("lock").reps.push(id))
            }
            1 => {
                let lead = LeadInput {
                    company_name: format!("故障{i}号贸易有限公司"),
                    contact_name: "王".into(),
                    phone: format!("135{i:08}"),
                    city: "Hangzhou".into(),
                    industry: "五金".into(),
                    source: "website".into(),
                    score: 50,
                    ..Default::default()
                };
                let request = CreateLeadRequest {
                    lead: Some(lead),
                    idempotency_key: format!("fault-{i}"),
                };
                leads.create_lead(authed(request, &token)).await.map(|r| {
                    if let Some(lead) = r.into_inner().lead {
                        acked.lock().expect("lock").leads.push(lead.lead_id);
                    }
                })
            }
            _ => {
                let member = RegisterMemberRequest {
                    company_name: format!("故障会员{i}"),
                    contact_name: "李".into(),
                    phone: format!("136{i:08}"),
                    city: "Hangzhou".into(),
                    ..Default::default()
                };
                members.register_member(authed(member, &token)).await.map(|r| {
                    if let Some(account) = r.into_inner().account {
                        acked.lock().expect("lock").accounts.push(account.account_id);
                    }
                })
            }
        };
        if outcome.is_err() {
            failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A member who subscribes and pays; the payment is retried with its key
/// until acknowledged, as a client would, and must count once.
async fn paid_member(
    members: &mut AccountServiceClient<Channel>,
    subs: &mut SubscriptionServiceClient<Channel>,
    token: &str,
    i: u64,
) -> Result<String, tonic::Status> {
    let member = RegisterMemberRequest {
        company_name: format!("付费会员{i}"),
        contact_name: "赵".into(),
        phone: format!("137{i:08}"),
        city: "Hangzhou".into(),
        ..Default::default()
    };
    let account = members
        .register_member(authed(member, token))
        .await?
        .into_inner()
        .account
        .ok_or_else(|| tonic::Status::internal("no account"))?;
    let subscribe = SubscribeRequest {
        account_id: account.account_id,
        plan_id: "faultplan".into(),
        idempotency_key: format!("sub-{i}"),
        ..Default::default()
    };
    let invoice = subs
        .subscribe(authed(subscribe, token))
        .await?
        .into_inner()
        .invoice
        .ok_or_else(|| tonic::Status::internal("no invoice"))?;
    let pay = RecordPaymentRequest {
        idempotency_key: format!("pay-{i}"),
        invoice_id: invoice.invoice_id.clone(),
        amount: invoice.amount,
        method: "bank_transfer".into(),
        ..Default::default()
    };
    let mut last = None;
    for _ in 0..20 {
        match subs.record_payment(authed(pay.clone(), token)).await {
            Ok(_) => return Ok(invoice.invoice_id),
            Err(status) => last = Some(status),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(last.unwrap_or_else(|| tonic::Status::unknown("no attempt")))
}

async fn scalar(url: &str, sql: &'static str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect(sql)
}

async fn ids(url: &str, sql: &'static str) -> std::collections::HashSet<String> {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(sql)
        .fetch_all(&mut conn)
        .await
        .expect(sql)
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_services_a_killed_gateway_and_a_crashed_database_lose_no_acknowledged_write() {
    let cluster = match PgCluster::dedicated(Durability::SurvivesCrash) {
        Ok(cluster) => cluster,
        Err(err) if !postgres_required() => {
            eprintln!("SKIPPED: no PostgreSQL ({err:#})");
            return;
        }
        Err(err) => panic!("PostgreSQL required: {err:#}"),
    };
    // Fast event retries and no drain delay, so recovery is quick to watch.
    let mut suite = Processes::start(
        &cluster,
        "fault",
        &[
            "--relay-interval",
            "100ms",
            "--event-retry-min",
            "100ms",
            "--event-retry-max",
            "1s",
            "--drain-delay",
            "0s",
        ],
        &["--probe-interval", "200ms", "--drain-delay", "0s"],
    )
    .await;
    let urls = suite.urls.clone();

    let keys = JwtKeys::from_secret(SECRET.as_bytes()).expect("keys");
    let token = keys
        .mint(&TokenSpec::new("faults", &[Role::Admin], Duration::from_secs(3600)))
        .expect("mint");
    let gateway_channel = Channel::from_shared(suite.url("gateway")).expect("url").connect_lazy();
    let program = Program {
        program_id: "employee_onboarding".into(),
        name: "Onboarding".into(),
        audience: tiejun_proto::training::v1::Audience::Employee as i32,
        mandatory: true,
        tracks: vec![Track::CultureValues as i32],
        passing_score: 60,
        due_within_days: 60,
        employee_onboarding: true,
        ..Default::default()
    };
    ProgramServiceClient::new(gateway_channel.clone())
        .create_program(authed(CreateProgramRequest { program: Some(program) }, &token))
        .await
        .expect("the onboarding programme");
    let starts = chrono::Utc::now() + chrono::Duration::days(14);
    let session = Session {
        program_id: "employee_onboarding".into(),
        city: "Hangzhou".into(),
        starts_at: Some(tiejun_platform::clock::to_proto(starts)),
        ends_at: Some(tiejun_platform::clock::to_proto(starts + chrono::Duration::hours(8))),
        capacity: SEATS,
        ..Default::default()
    };
    let session_id = SessionServiceClient::new(gateway_channel.clone())
        .schedule_session(authed(
            ScheduleSessionRequest {
                session: Some(session),
                idempotency_key: String::new(),
            },
            &token,
        ))
        .await
        .expect("a session")
        .into_inner()
        .session
        .expect("session")
        .session_id;
    let mut catalog = CatalogServiceClient::new(gateway_channel.clone());
    catalog
        .create_feature(authed(
            CreateFeatureRequest {
                feature_key: "fault_badge".into(),
                name: "Badge".into(),
                description: String::new(),
                tier: FeatureTier::Paid as i32,
            },
            &token,
        ))
        .await
        .expect("a paid feature");
    catalog
        .create_plan(authed(
            CreatePlanRequest {
                plan_id: "faultplan".into(),
                name: "Fault plan".into(),
                price: Some(Money {
                    amount_minor: 298_000,
                    currency: "CNY".into(),
                }),
                feature_keys: vec!["fault_badge".into()],
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("a plan");

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let failed = Arc::new(AtomicU64::new(0));
    let loader = tokio::spawn(load(
        suite.addr("gateway"),
        token.clone(),
        session_id.clone(),
        stop.clone(),
        acked.clone(),
        failed.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 1. A leads replica killed: the gateway answers UNAVAILABLE at once.
    suite.process("leads").kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let down = RepServiceClient::new(gateway_channel.clone())
        .get_rep(authed(
            GetRepRequest {
                person_id: "F000003".into(),
            },
            &token,
        ))
        .await
        .expect_err("leads is down");
    assert_eq!(down.code(), Code::Unavailable, "{down:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "answered after {:?}",
        asked.elapsed()
    );
    suite.process("leads").spawn();
    assert!(
        until(suite.addr("leads"), ServingStatus::Serving, Duration::from_secs(30))
            .await
            .is_some()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 2. The gateway killed and started again on its port.
    suite.process("gateway").kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    suite.process("gateway").spawn();
    assert!(
        until(suite.addr("gateway"), ServingStatus::Serving, Duration::from_secs(30))
            .await
            .is_some()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 3. PostgreSQL crashes: every service goes NOT_SERVING, then SERVING
    // again within 5 s of the database's return.
    cluster.kill().expect("crash PostgreSQL");
    for p in ["leads", "billing", "training"] {
        assert!(
            until(suite.addr(p), ServingStatus::NotServing, Duration::from_secs(15))
                .await
                .is_some(),
            "{p} kept saying SERVING without its database"
        );
    }
    cluster.start_again().expect("PostgreSQL back");
    let back = Instant::now();
    for p in ["leads", "billing", "training"] {
        assert!(
            until(suite.addr(p), ServingStatus::Serving, Duration::from_secs(10))
                .await
                .is_some(),
            "{p} did not come back"
        );
    }
    let recovered = back.elapsed();
    assert!(recovered <= Duration::from_secs(5), "SERVING again after {recovered:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    loader.await.expect("load task");

    let acked = std::mem::take(&mut *acked.lock().expect("lock"));
    assert!(
        acked.reps.len() >= 10 && acked.leads.len() >= 10 && acked.accounts.len() >= 10,
        "the load made progress: {} reps, {} leads, {} members",
        acked.reps.len(),
        acked.leads.len(),
        acked.accounts.len()
    );
    let reps = ids(&urls["leads"], "SELECT person_id FROM reps").await;
    let leads_in_db = ids(&urls["leads"], "SELECT lead_id FROM leads").await;
    let accounts = ids(&urls["billing"], "SELECT account_id FROM accounts").await;
    let lost: Vec<&String> = acked
        .reps
        .iter()
        .filter(|id| !reps.contains(*id))
        .chain(acked.leads.iter().filter(|id| !leads_in_db.contains(*id)))
        .chain(acked.accounts.iter().filter(|id| !accounts.contains(*id)))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");

    // Every RepHired applied exactly once (the relay retries until it is).
    let hired = reps.len() as i64;
    let started = Instant::now();
    let mut assigned = 0;
    while started.elapsed() < Duration::from_secs(30) {
        assigned = scalar(
            &urls["training"],
            "SELECT count(*) FROM assignments WHERE source = 'REP_HIRED'",
        )
        .await;
        if assigned >= hired {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(assigned, hired, "one onboarding assignment per rep hired");
    assert_eq!(
        scalar(
            &urls["training"],
            "SELECT count(*) FROM (SELECT learner_id FROM assignments \
            WHERE source = 'REP_HIRED' GROUP BY learner_id HAVING count(*) > 1) d"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &urls["leads"],
            "SELECT count(*) FROM (SELECT lead_id FROM assignments \
            WHERE ended_at IS NULL GROUP BY lead_id HAVING count(*) > 1) d"
        )
        .await,
        0,
        "no lead has two owners"
    );
    let mut training = sqlx::PgConnection::connect(&urls["training"]).await.expect("connect");
    let seated: i64 =
        sqlx::query_scalar("SELECT count(*) FROM enrollments WHERE session_id = $1 AND status = 'ENROLLED'")
            .bind(&session_id)
            .fetch_one(&mut training)
            .await
            .expect("seats");
    assert!(acked.enrollments >= SEATS as usize, "the load filled the session");
    assert_eq!(seated, i64::from(SEATS), "every seat taken, none over capacity");
    assert_eq!(
        scalar(
            &urls["billing"],
            "SELECT count(*) FROM (SELECT invoice_id FROM payments \
            GROUP BY invoice_id HAVING count(*) > 1) d"
        )
        .await,
        0,
        "no payment counted twice"
    );
    let paid = ids(
        &urls["billing"],
        "SELECT invoice_id FROM invoices WHERE status = 'PAID'",
    )
    .await;
    let unpaid: Vec<&String> = acked.paid_invoices.iter().filter(|i| !paid.contains(*i)).collect();
    assert!(!acked.paid_invoices.is_empty(), "the load paid invoices");
    assert!(unpaid.is_empty(), "acknowledged payments not recorded: {unpaid:?}");
    eprintln!(
        "faults: {} reps, {} leads, {} members, {} enrolments, {} payments acknowledged; {} calls failed \
         during the faults; SERVING {recovered:?} after PostgreSQL returned",
        acked.reps.len(),
        acked.leads.len(),
        acked.accounts.len(),
        acked.enrollments,
        acked.paid_invoices.len(),
        failed.load(Ordering::Relaxed)
    );
}

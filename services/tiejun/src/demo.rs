//! `tiejun up --demo`: a realistic data set, loaded through the gateway with
//! the admin token exactly as an operator would, each fact reached the way the
//! product reaches it (the reps are active because they passed onboarding).
//! Loading twice is harmless:
//! what exists already is left as it is.

use std::net::SocketAddr;

use anyhow::Context as _;
use chrono::{Duration, Utc};
use tiejun_platform::clock::{self, DEFAULT_ZONE, to_proto};
use tiejun_proto::{
    billing::v1::{
        BillingPeriod, CreateFeatureRequest, CreatePlanRequest, FeatureTier, Money,
        catalog_service_client::CatalogServiceClient,
    },
    leads::v1::{
        GetRepRequest, ImportLeadsRequest, LeadInput, RegisterRepRequest, RepStatus,
        lead_service_client::LeadServiceClient, rep_service_client::RepServiceClient,
    },
    training::v1::{
        Audience, Course, CreateCourseRequest, CreateProgramRequest, EnrollRequest, EnrollmentStatus,
        ListEnrollmentsRequest, Program, RecordAssessmentRequest, RecordAttendanceRequest, ScheduleSessionRequest,
        Session, Track, enrollment_service_client::EnrollmentServiceClient,
        program_service_client::ProgramServiceClient, session_service_client::SessionServiceClient,
    },
};
use tiejun_training::domain::program::employee_onboarding;
use tonic::{Code, Request, transport::Channel};

fn authed<T>(message: T, token: &str) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

/// Ok, or "it exists already" (a second `--demo`).
fn fresh<T>(result: Result<T, tonic::Status>) -> anyhow::Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(status) if status.code() == Code::AlreadyExists => Ok(false),
        Err(status) => Err(anyhow::anyhow!("{}: {}", status.code(), status.message())),
    }
}

/// Loads the demo data set through the gateway at `gateway`.
pub async fn load(gateway: SocketAddr, token: &str) -> anyhow::Result<()> {
    let channel = Channel::from_shared(format!("http://{gateway}"))?
        .connect()
        .await
        .context("connecting to the gateway")?;
    load_via(&channel, token).await
}

/// Loads the demo data set through `channel` (a gateway). Loading it twice
/// leaves one copy: what exists already is kept.
pub async fn load_via(channel: &Channel, token: &str) -> anyhow::Result<()> {
    let channel = channel.clone();
    billing(&channel, token).await.context("billing demo data")?;
    training(&channel, token).await.context("training demo data")?;
    leads(&channel, token).await.context("lead-distribution demo data")?;
    Ok(())
}

async fn billing(channel: &Channel, token: &str) -> anyhow::Result<()> {
    let mut catalog = CatalogServiceClient::new(channel.clone());
    let features = [
        (
            "supplier_listing",
            "A supplier page and product listings",
            FeatureTier::Free,
        ),
        (
            "buyer_inquiries",
            "Receive and answer buyer inquiries",
            FeatureTier::Free,
        ),
        (
            "trade_leads_board",
            "Post and browse buying and selling leads",
            FeatureTier::Free,
        ),
        (
            "verified_badge",
            "Verified company badge (TrustPass-style verification)",
            FeatureTier::Paid,
        ),
        (
            "top_search_ranking",
            "Priority placement in search results",
            FeatureTier::Paid,
        ),
        ("showroom_unlimited", "Unlimited product showroom", FeatureTier::Paid),
        (
            "export_customer_service",
            "A dedicated export service manager",
            FeatureTier::Paid,
        ),
    ];
    for (key, name, tier) in features {
        let request = CreateFeatureRequest {
            feature_key: key.into(),
            name: name.into(),
            description: String::new(),
            tier: tier as i32,
        };
        fresh(catalog.create_feature(authed(request, token)?).await)?;
    }
    let plans = [
        (
            "trustpass",
            "TrustPass (verified membership)",
            2_980 * 100,
            vec!["verified_badge"],
        ),
        (
            "china_supplier",
            "China Supplier (premium membership)",
            40_000 * 100,
            vec![
                "verified_badge",
                "top_search_ranking",
                "showroom_unlimited",
                "export_customer_service",
            ],
        ),
    ];
    for (id, name, fen, keys) in plans {
        let request = CreatePlanRequest {
            plan_id: id.into(),
            name: name.into(),
            price: Some(Money {
                amount_minor: fen,
                currency: "CNY".into(),
            }),
            period: BillingPeriod::Annual as i32,
            feature_keys: keys.into_iter().map(str::to_owned).collect(),
        };
        fresh(catalog.create_plan(authed(request, token)?).await)?;
    }
    Ok(())
}

async fn training(channel: &Channel, token: &str) -> anyhow::Result<()> {
    let mut programs = ProgramServiceClient::new(channel.clone());
    let courses = [
        (
            "culture_and_values",
            "Culture and values: customer first, teamwork, integrity",
            Track::CultureValues,
            16,
            vec![],
        ),
        (
            "product_knowledge",
            "The marketplace, memberships and what they do for a supplier",
            Track::ProductKnowledge,
            24,
            vec![],
        ),
        (
            "sales_skills",
            "Prospecting, visits and closing, the iron army way",
            Track::SalesSkills,
            32,
            vec!["product_knowledge"],
        ),
        (
            "platform_for_suppliers",
            "Publishing products and answering buyers on the platform",
            Track::PlatformUsage,
            6,
            vec![],
        ),
        (
            "export_negotiation",
            "Academy: negotiating with overseas buyers",
            Track::SalesSkills,
            8,
            vec!["sales_skills"],
        ),
    ];
    for (id, name, track, hours, pre) in courses {
        let course = Course {
            course_id: id.into(),
            name: name.into(),
            track: track as i32,
            prerequisite_course_ids: pre.into_iter().map(str::to_owned).collect(),
            hours,
        };
        fresh(
            programs
                .create_course(authed(CreateCourseRequest { course: Some(course) }, token)?)
                .await,
        )?;
    }
    let onboarding = Program {
        passing_score: 70,
        due_within_days: 60,
        course_ids: vec![
            "culture_and_values".into(),
            "product_knowledge".into(),
            "sales_skills".into(),
        ],
        ..employee_onboarding("New salesperson onboarding (culture and values, product knowledge, sales skills)")
    };
    let customer = Program {
        program_id: "customer_onboarding".into(),
        name: "New member training: getting value from the platform".into(),
        audience: Audience::Customer as i32,
        mandatory: true,
        tracks: vec![Track::PlatformUsage as i32],
        passing_score: 60,
        due_within_days: 90,
        validity_days: 365,
        course_ids: vec!["platform_for_suppliers".into()],
        ..Default::default()
    };
    let mut created = false;
    for program in [onboarding, customer] {
        created |= fresh(
            programs
                .create_program(authed(CreateProgramRequest { program: Some(program) }, token)?)
                .await,
        )?;
    }
    if !created {
        return Ok(()); // loaded before: do not schedule the sessions twice
    }
    let mut sessions = SessionServiceClient::new(channel.clone());
    // A week from today, 09:00 in Shanghai.
    let day = (Utc::now() + Duration::days(7))
        .with_timezone(&DEFAULT_ZONE)
        .date_naive();
    let first = clock::business_day_start(day, DEFAULT_ZONE) + Duration::hours(9);
    let plan = [
        ("employee_onboarding", "Hangzhou", "Xixi campus, training hall A", 0, 40),
        (
            "employee_onboarding",
            "Hangzhou",
            "Xixi campus, training hall A",
            28,
            40,
        ),
        ("employee_onboarding", "Shenzhen", "Nanshan office", 7, 25),
        ("customer_onboarding", "Hangzhou", "Customer centre", 2, 60),
        ("customer_onboarding", "Ningbo", "Ningbo office", 9, 30),
        (
            "customer_onboarding",
            "Yiwu",
            "International trade city, hall 3",
            16,
            30,
        ),
        ("customer_onboarding", "Guangzhou", "Pazhou exhibition centre", 23, 50),
    ];
    for (program, city, venue, offset, capacity) in plan {
        let starts = first + Duration::days(offset);
        let session = Session {
            program_id: program.into(),
            city: city.into(),
            venue: venue.into(),
            starts_at: Some(to_proto(starts)),
            ends_at: Some(to_proto(starts + Duration::hours(8))),
            capacity,
            ..Default::default()
        };
        let request = ScheduleSessionRequest {
            session: Some(session),
            idempotency_key: format!("demo-{program}-{city}-{offset}"),
        };
        sessions
            .schedule_session(authed(request, token)?)
            .await
            .context("scheduling a demo session")?;
    }
    Ok(())
}

/// The demo team: employee number, name, team, city.
const TEAM: [(&str, &str, &str, &str); 5] = [
    ("E1001", "张伟", "Hangzhou-1", "Hangzhou"),
    ("E1002", "李娜", "Hangzhou-1", "Hangzhou"),
    ("E1003", "王强", "Hangzhou-1", "Ningbo"),
    ("E1004", "刘洋", "Yiwu-1", "Yiwu"),
    ("E1005", "陈静", "Yiwu-1", "Yiwu"),
];

/// How far ahead of now the demo's induction session starts: time enough for
/// RepHired to reach training (its relay runs every 500 ms) and seat the team.
const INDUCTION_LEAD: Duration = Duration::seconds(5);

async fn leads(channel: &Channel, token: &str) -> anyhow::Result<()> {
    onboard_team(channel, token).await?;
    let cities = ["Hangzhou", "Ningbo", "Yiwu", "Wenzhou", "Shaoxing"];
    let city_names = ["杭州", "宁波", "义乌", "温州", "绍兴"];
    let trades = ["纺织", "五金", "小商品", "鞋业", "家具", "电子", "服装", "箱包"];
    let rows: Vec<ImportLeadsRequest> = (0..120)
        .map(|i| ImportLeadsRequest {
            row: i + 1,
            lead: Some(LeadInput {
                company_name: format!(
                    "{}{}{}号贸易有限公司",
                    city_names[i as usize % 5],
                    trades[i as usize % 8],
                    i
                ),
                contact_name: format!("联系人{i}"),
                phone: format!("1376{:07}", 1_000_000 + i),
                email: format!("sales{i}@example.com"),
                city: cities[i as usize % 5].into(),
                industry: trades[i as usize % 8].into(),
                source: ["Canton Fair", "website", "referral"][i as usize % 3].into(),
                score: 40 + (i as i32 * 7) % 60,
            }),
        })
        .collect();
    LeadServiceClient::new(channel.clone())
        .import_leads(authed(tokio_stream::iter(rows), token)?)
        .await
        .context("importing demo leads")?;
    Ok(())
}

/// The team's story, told the way the product tells it: the five are hired
/// today, seated by RepHired in an induction at headquarters that starts a
/// few seconds from now, attend it, pass the three tracks, and ProgramCompleted
/// makes them ACTIVE. Nobody is activated by hand, so the compliance report,
/// the certificates and the reps' statuses all say the same thing. A team
/// loaded before (every rep ACTIVE) is left as it is.
async fn onboard_team(channel: &Channel, token: &str) -> anyhow::Result<()> {
    let mut reps = RepServiceClient::new(channel.clone());
    let mut waiting = Vec::new();
    for (id, ..) in TEAM {
        let found = reps
            .get_rep(authed(GetRepRequest { person_id: id.into() }, token)?)
            .await;
        match found {
            Ok(found) if found.get_ref().rep.as_ref().map(|r| r.status) == Some(RepStatus::Active as i32) => {}
            Ok(_) => waiting.push(id),
            Err(status) if status.code() == Code::NotFound => waiting.push(id),
            Err(status) => anyhow::bail!("reading demo rep {id}: {}: {}", status.code(), status.message()),
        }
    }
    if waiting.is_empty() {
        return Ok(());
    }
    let starts = Utc::now() + INDUCTION_LEAD;
    let induction = Session {
        program_id: "employee_onboarding".into(),
        city: "Hangzhou".into(),
        venue: "Headquarters, induction room".into(),
        starts_at: Some(to_proto(starts)),
        ends_at: Some(to_proto(starts + Duration::hours(8))),
        capacity: 40,
        ..Default::default()
    };
    let mut sessions = SessionServiceClient::new(channel.clone());
    let session_id = sessions
        .schedule_session(authed(
            ScheduleSessionRequest {
                session: Some(induction),
                idempotency_key: String::new(),
            },
            token,
        )?)
        .await
        .context("scheduling the demo induction")?
        .into_inner()
        .session
        .context("the induction")?
        .session_id;
    for (id, name, team, city) in TEAM.into_iter().filter(|(id, ..)| waiting.contains(id)) {
        let register = RegisterRepRequest {
            person_id: id.into(),
            name: name.into(),
            team: team.into(),
            city: city.into(),
            daily_quota: 40,
        };
        fresh(reps.register_rep(authed(register, token)?).await).context("registering a demo rep")?;
    }
    let mut enrollments = EnrollmentServiceClient::new(channel.clone());
    let seated = seat(&mut enrollments, token, &session_id, &waiting, starts).await?;
    tokio::time::sleep(
        (starts - Utc::now() + Duration::milliseconds(200))
            .to_std()
            .unwrap_or_default(),
    )
    .await;
    for (learner, enrollment_id) in seated {
        enrollments
            .record_attendance(authed(
                RecordAttendanceRequest {
                    enrollment_id,
                    attended: true,
                },
                token,
            )?)
            .await
            .with_context(|| format!("recording {learner}'s attendance"))?;
        for (track, score) in [
            (Track::CultureValues, 92),
            (Track::ProductKnowledge, 85),
            (Track::SalesSkills, 78),
        ] {
            enrollments
                .record_assessment(authed(
                    RecordAssessmentRequest {
                        learner_id: learner.clone(),
                        program_id: "employee_onboarding".into(),
                        track: track as i32,
                        score,
                        idempotency_key: format!("demo-{learner}-{}", track.as_str_name()),
                    },
                    token,
                )?)
                .await
                .with_context(|| format!("recording {learner}'s assessment"))?;
        }
    }
    active(&mut reps, token, &waiting).await
}

/// Each waiting rep's enrollment in the induction: the one RepHired made, or
/// one made here if the event has not seated them by the time it starts.
async fn seat(
    enrollments: &mut EnrollmentServiceClient<Channel>,
    token: &str,
    session_id: &str,
    waiting: &[&str],
    starts: chrono::DateTime<Utc>,
) -> anyhow::Result<Vec<(String, String)>> {
    let deadline = starts - Duration::seconds(1);
    loop {
        let listed = enrollments
            .list_enrollments(authed(
                ListEnrollmentsRequest {
                    session_id: session_id.into(),
                    page_size: 500,
                    ..Default::default()
                },
                token,
            )?)
            .await
            .context("listing the induction's enrollments")?
            .into_inner()
            .enrollments;
        let seated: Vec<_> = listed
            .into_iter()
            .filter(|e| e.status == EnrollmentStatus::Enrolled as i32 && waiting.contains(&e.learner_id.as_str()))
            .map(|e| (e.learner_id, e.enrollment_id))
            .collect();
        if seated.len() == waiting.len() {
            return Ok(seated);
        }
        if Utc::now() >= deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut seated = Vec::new();
    for learner in waiting {
        let enrollment = enrollments
            .enroll(authed(
                EnrollRequest {
                    session_id: session_id.into(),
                    learner_id: (*learner).into(),
                    idempotency_key: format!("demo-induction-{session_id}-{learner}"),
                },
                token,
            )?)
            .await
            .with_context(|| format!("seating {learner} in the induction"))?
            .into_inner()
            .enrollment
            .context("the enrollment")?;
        seated.push((enrollment.learner_id, enrollment.enrollment_id));
    }
    Ok(seated)
}

/// Waits for ProgramCompleted to make every waiting rep ACTIVE.
async fn active(reps: &mut RepServiceClient<Channel>, token: &str, waiting: &[&str]) -> anyhow::Result<()> {
    let give_up = Utc::now() + Duration::seconds(30);
    for id in waiting {
        loop {
            let rep = reps
                .get_rep(authed(
                    GetRepRequest {
                        person_id: (*id).into(),
                    },
                    token,
                )?)
                .await
                .with_context(|| format!("reading demo rep {id}"))?
                .into_inner()
                .rep
                .context("the rep")?;
            if rep.status == RepStatus::Active as i32 {
                break;
            }
            anyhow::ensure!(
                Utc::now() < give_up,
                "demo rep {id} was not activated by their completed onboarding within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

//! `tiejun up --demo`: a realistic data set, loaded through the gateway with
//! the admin token exactly as an operator would. Loading twice is harmless:
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
        ActivateRepRequest, ImportLeadsRequest, LeadInput, RegisterRepRequest, lead_service_client::LeadServiceClient,
        rep_service_client::RepServiceClient,
    },
    training::v1::{
        Audience, Course, CreateCourseRequest, CreateProgramRequest, Program, ScheduleSessionRequest, Session, Track,
        program_service_client::ProgramServiceClient, session_service_client::SessionServiceClient,
    },
};
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
        program_id: "employee_onboarding".into(),
        name: "New salesperson onboarding (culture and values, product knowledge, sales skills)".into(),
        audience: Audience::Employee as i32,
        mandatory: true,
        tracks: vec![
            Track::CultureValues as i32,
            Track::ProductKnowledge as i32,
            Track::SalesSkills as i32,
        ],
        passing_score: 70,
        due_within_days: 60,
        course_ids: vec![
            "culture_and_values".into(),
            "product_knowledge".into(),
            "sales_skills".into(),
        ],
        employee_onboarding: true,
        ..Default::default()
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

async fn leads(channel: &Channel, token: &str) -> anyhow::Result<()> {
    let mut reps = RepServiceClient::new(channel.clone());
    let team = [
        ("E1001", "张伟", "Hangzhou-1", "Hangzhou"),
        ("E1002", "李娜", "Hangzhou-1", "Hangzhou"),
        ("E1003", "王强", "Hangzhou-1", "Ningbo"),
        ("E1004", "刘洋", "Yiwu-1", "Yiwu"),
        ("E1005", "陈静", "Yiwu-1", "Yiwu"),
    ];
    for (id, name, team, city) in team {
        let register = RegisterRepRequest {
            person_id: id.into(),
            name: name.into(),
            team: team.into(),
            city: city.into(),
            daily_quota: 40,
        };
        fresh(reps.register_rep(authed(register, token)?).await).context("registering a demo rep")?;
        let activate = ActivateRepRequest {
            person_id: id.into(),
            reason: "demo: onboarding done".into(),
        };
        let _ = reps.activate_rep(authed(activate, token)?).await;
    }
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

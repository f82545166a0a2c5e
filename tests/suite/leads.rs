//! lead-distribution from outside: reps, intake with duplicate detection,
//! masking, import, idempotency, departure, history (the claim rules are in
//! `claims.rs`, distribution and reclaim in `distribution.rs`). Both
//! backends.

use tiejun_platform::{both_backends, on_pool_raw, testing::TestDatabase};
use tiejun_proto::leads::v1::{
    ActivateRepRequest, CreateLeadRequest, DepartRepRequest, GetLeadRequest, GetRepRequest, ImportLeadsRequest,
    LeadInput, LeadState, ListLeadHistoryRequest, ListLeadsRequest, RegisterRepRequest, RepStatus, ResumeRepRequest,
    SetRepQuotaRequest, SuspendRepRequest, SuspensionKind, TransitionRule, lead_service_client::LeadServiceClient,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin, lead_input, registration, rep_token},
};
use tonic::Code;
use tonic_types::StatusExt as _;

fn register(person_id: &str) -> RegisterRepRequest {
    registration(person_id)
}

fn input(company: &str, phone: &str) -> LeadInput {
    LeadInput {
        company_name: company.into(),
        phone: phone.into(),
        email: "wang.jingli@example.com".into(),
        ..lead_input(0, "杭州", 70)
    }
}

fn create(company: &str, phone: &str) -> CreateLeadRequest {
    CreateLeadRequest {
        lead: Some(input(company, phone)),
        idempotency_key: String::new(),
    }
}

async fn rep_lifecycle_follows_the_status_machine(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let mut reps = f.reps().await;
    let rep = reps
        .register_rep(authed(register("E1001"), &admin()))
        .await
        .expect("register")
        .into_inner()
        .rep
        .expect("rep");
    assert_eq!((rep.status(), rep.daily_quota), (RepStatus::Onboarding, 40));
    assert_eq!(
        f.scalar(
            "SELECT count(*) FROM outbox WHERE subject = $1 AND event_type = 'RepHired'",
            "E1001"
        )
        .await,
        1
    );

    // The same registration again is a no-op; other details are a conflict.
    reps.register_rep(authed(register("E1001"), &admin()))
        .await
        .expect("repeat is idempotent");
    assert_eq!(
        f.scalar("SELECT count(*) FROM outbox WHERE subject = $1", "E1001")
            .await,
        1,
        "RepHired once"
    );
    let mut other = register("E1001");
    other.team = "Ningbo-2".into();
    let conflict = reps.register_rep(authed(other, &admin())).await.expect_err("conflict");
    assert_eq!(conflict.code(), Code::AlreadyExists);

    // Onboarding reps cannot be paused; activation works once.
    let paused = reps
        .suspend_rep(authed(
            SuspendRepRequest {
                person_id: "E1001".into(),
                kind: SuspensionKind::Paused as i32,
                reason: "x".into(),
            },
            &admin(),
        ))
        .await
        .expect_err("onboarding rep paused");
    assert_eq!(paused.code(), Code::FailedPrecondition);
    assert_eq!(
        paused.get_details_error_info().expect("ErrorInfo").reason,
        "REP_STATUS_TRANSITION"
    );
    let active = reps
        .activate_rep(authed(
            ActivateRepRequest {
                person_id: "E1001".into(),
                reason: String::new(),
            },
            &admin(),
        ))
        .await
        .expect("activate")
        .into_inner()
        .rep
        .expect("rep");
    assert_eq!(active.status(), RepStatus::Active);
    let on_leave = reps
        .suspend_rep(authed(
            SuspendRepRequest {
                person_id: "E1001".into(),
                kind: SuspensionKind::OnLeave as i32,
                reason: "leave".into(),
            },
            &admin(),
        ))
        .await
        .expect("leave")
        .into_inner();
    assert_eq!(on_leave.rep.expect("rep").status(), RepStatus::OnLeave);
    let resumed = reps
        .resume_rep(authed(
            ResumeRepRequest {
                person_id: "E1001".into(),
            },
            &admin(),
        ))
        .await
        .expect("resume");
    assert_eq!(resumed.into_inner().rep.expect("rep").status(), RepStatus::Active);

    // Quota 30–50, with a field violation naming the field.
    let bad = reps
        .set_rep_quota(authed(
            SetRepQuotaRequest {
                person_id: "E1001".into(),
                daily_quota: 29,
            },
            &admin(),
        ))
        .await
        .expect_err("29 refused");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(
        bad.get_details_bad_request().expect("BadRequest").field_violations[0].field,
        "daily_quota"
    );
    let set = reps
        .set_rep_quota(authed(
            SetRepQuotaRequest {
                person_id: "E1001".into(),
                daily_quota: 50,
            },
            &admin(),
        ))
        .await
        .expect("50 accepted");
    assert_eq!(set.into_inner().rep.expect("rep").daily_quota, 50);

    let missing = reps
        .get_rep(authed(
            GetRepRequest {
                person_id: "E404".into(),
            },
            &admin(),
        ))
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), Code::NotFound);
}

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

async fn duplicates_are_refused_for_every_normalisation(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let mut leads = f.leads().await;
    let first = leads
        .create_lead(authed(create("杭州某某科技有限公司", "13812345678"), &admin()))
        .await
        .expect("first")
        .into_inner()
        .lead
        .expect("lead");
    for (company, phone) in [
        ("Other Co", "+86 138 1234 5678"),
        ("Other Co", "0086-138-1234-5678"),
        ("Other Co", "１３８１２３４５６７８"),
        ("Other Co", "138.1234.5678"),
        ("杭州某某科技", "13700000000"),
        ("杭州 某某科技 股份有限公司", "13700000000"),
        ("杭州某某科技（有限公司）", "13700000000"),
    ] {
        let err = leads
            .create_lead(authed(create(company, phone), &admin()))
            .await
            .expect_err("duplicate");
        assert_eq!(err.code(), Code::AlreadyExists, "{company} / {phone}");
        let info = err.get_details_resource_info().expect("ResourceInfo");
        assert_eq!(info.resource_name, first.lead_id, "names the existing lead");
        // The message names the existing lead's id (a UUID may hold "138"),
        // never its phone.
        let without_id = err.message().replace(&first.lead_id, "");
        assert!(
            !without_id.contains("138") && !without_id.contains("12345678"),
            "no contact data of the other lead: {}",
            err.message()
        );
    }
    assert_eq!(
        f.scalar("SELECT count(*) FROM leads WHERE kind = $1", "NEW_BUSINESS")
            .await,
        1
    );
}

async fn pool_leads_are_masked_until_assigned(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let mut leads = f.leads().await;
    let created = leads
        .create_lead(authed(create("温州鞋业", "13812345678"), &admin()))
        .await
        .expect("create");
    let lead = created.into_inner().lead.expect("lead");
    assert_eq!(lead.state(), LeadState::Pool);
    assert_eq!(
        (lead.phone.as_str(), lead.email.as_str()),
        ("138****5678", "w***@example.com")
    );
    assert!(lead.contact_masked);

    f.reps()
        .await
        .register_rep(authed(register("E7"), &admin()))
        .await
        .expect("register");
    let pool = leads
        .list_leads(authed(
            ListLeadsRequest {
                state: LeadState::Pool as i32,
                ..Default::default()
            },
            &rep_token("E7"),
        ))
        .await
        .expect("a rep lists the pool")
        .into_inner()
        .leads;
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0].phone, "138****5678");
    let got = leads
        .get_lead(authed(
            GetLeadRequest {
                lead_id: lead.lead_id.clone(),
            },
            &admin(),
        ))
        .await
        .expect("get");
    assert!(
        got.into_inner().lead.expect("lead").contact_masked,
        "even staff see pool leads masked"
    );
}

async fn import_reports_every_row_and_a_bad_row_aborts_nothing(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let mut leads = f.leads().await;
    let rows = vec![
        ImportLeadsRequest {
            row: 1,
            lead: Some(input("义乌小商品", "13811110001")),
        },
        ImportLeadsRequest {
            row: 2,
            lead: Some(input("x", "not a phone")),
        },
        ImportLeadsRequest {
            row: 3,
            lead: Some(input("义乌小商品有限公司", "13811110002")),
        },
        ImportLeadsRequest { row: 4, lead: None },
        ImportLeadsRequest {
            row: 5,
            lead: Some(input("Robert'); DROP TABLE leads;--", "13811110005")),
        },
    ];
    let response = leads
        .import_leads(authed(tokio_stream::iter(rows), &admin()))
        .await
        .expect("import")
        .into_inner();
    assert_eq!((response.created, response.refused), (2, 3));
    let codes: Vec<_> = response
        .results
        .iter()
        .map(|r| (r.row, r.error_code.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            (1, ""),
            (2, "INVALID_ARGUMENT"),
            (3, "ALREADY_EXISTS"),
            (4, "INVALID_ARGUMENT"),
            (5, "")
        ]
    );
    assert!(
        response.results[1].error_message.contains("lead.phone"),
        "{}",
        response.results[1].error_message
    );
    assert_eq!(response.results[2].existing_lead_id, response.results[0].lead_id);
    let stored = leads
        .get_lead(authed(
            GetLeadRequest {
                lead_id: response.results[4].lead_id.clone(),
            },
            &admin(),
        ))
        .await
        .expect("stored verbatim");
    assert_eq!(
        stored.into_inner().lead.expect("lead").company_name,
        "Robert'); DROP TABLE leads;--"
    );
}

async fn create_lead_is_idempotent_on_its_key(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let mut leads = f.leads().await;
    let mut request = create("台州模具", "13822223333");
    request.idempotency_key = "import-42".into();
    let first = leads
        .create_lead(authed(request.clone(), &admin()))
        .await
        .expect("first")
        .into_inner();
    let retry = leads
        .create_lead(authed(request.clone(), &admin()))
        .await
        .expect("retry replays")
        .into_inner();
    assert_eq!(first, retry);
    request.lead.as_mut().expect("lead").score = 99;
    let reused = leads
        .create_lead(authed(request, &admin()))
        .await
        .expect_err("different request");
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(
        reused.get_details_error_info().expect("ErrorInfo").reason,
        "IDEMPOTENCY_KEY_REUSED"
    );
}

async fn concurrent_intake_of_one_company_creates_it_once(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let channel = f.channel().await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let mut leads = LeadServiceClient::new(channel.clone());
            let request = create("绍兴轻纺城贸易有限公司", &format!("1390000{i:04}"));
            tokio::spawn(async move { leads.create_lead(authed(request, &admin())).await })
        })
        .collect();
    let (mut created, mut duplicates) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => created += 1,
            Err(status) if status.code() == Code::AlreadyExists => duplicates += 1,
            Err(status) => panic!("unexpected {status:?}"),
        }
    }
    assert_eq!((created, duplicates), (1, 19));
}

async fn departure_returns_every_held_lead_to_the_pool_with_history(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let mut reps = f.reps().await;
    reps.register_rep(authed(register("E9"), &admin()))
        .await
        .expect("register");
    reps.activate_rep(authed(
        ActivateRepRequest {
            person_id: "E9".into(),
            reason: String::new(),
        },
        &admin(),
    ))
    .await
    .expect("activate");
    let mut leads = f.leads().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let lead = leads
            .create_lead(authed(
                create(&format!("金华五金{i}厂"), &format!("1370000000{i}")),
                &admin(),
            ))
            .await;
        ids.push(lead.expect("create").into_inner().lead.expect("lead").lead_id);
    }
    for id in &ids[..2] {
        f.assign_directly(id, "E9").await;
    }
    let departed = reps
        .depart_rep(authed(
            DepartRepRequest {
                person_id: "E9".into(),
                reason: "left the company".into(),
            },
            &admin(),
        ))
        .await
        .expect("depart")
        .into_inner();
    assert_eq!(departed.leads_returned, 2);
    assert_eq!(departed.rep.expect("rep").status(), RepStatus::Departed);
    assert_eq!(
        f.scalar("SELECT count(*) FROM leads WHERE owner_person_id = $1", "E9")
            .await,
        0
    );
    let history = leads
        .list_lead_history(authed(
            ListLeadHistoryRequest {
                lead_id: ids[0].clone(),
                ..Default::default()
            },
            &admin(),
        ))
        .await
        .expect("history")
        .into_inner()
        .entries;
    let rules: Vec<_> = history.iter().map(|e| e.rule()).collect();
    assert_eq!(rules, [TransitionRule::Intake, TransitionRule::OwnerDeparted]);
    assert_eq!(history[1].from_owner_person_id, "E9");
    assert_eq!(history[1].reason, "left the company");
    // Departure is terminal.
    let back = reps
        .resume_rep(authed(ResumeRepRequest { person_id: "E9".into() }, &admin()))
        .await
        .expect_err("terminal");
    assert_eq!(back.code(), Code::FailedPrecondition);
}

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

both_backends!(rep_lifecycle, rep_lifecycle_follows_the_status_machine);
both_backends!(rep_scope, a_rep_sees_only_themselves_and_their_own_leads);
both_backends!(duplicate_detection, duplicates_are_refused_for_every_normalisation);
both_backends!(masking, pool_leads_are_masked_until_assigned);
both_backends!(import, import_reports_every_row_and_a_bad_row_aborts_nothing);
both_backends!(idempotent_intake, create_lead_is_idempotent_on_its_key);
both_backends!(concurrent_intake, concurrent_intake_of_one_company_creates_it_once);
both_backends!(departure, departure_returns_every_held_lead_to_the_pool_with_history);
both_backends!(append_only_history, history_is_append_only_in_the_database);

/// Every numeric bound the schema puts on a lead-distribution rule, beside
/// the domain constant it must equal: (table, column, the constant's range).
fn rule_bounds() -> Vec<(&'static str, &'static str, std::ops::RangeInclusive<i32>)> {
    use tiejun_leads::domain::rules::{CLAIMS_PER_DAY, PRIVATE_POOL_CAP, QUOTA_RANGE, SCORE_RANGE};
    vec![
        ("reps", "daily_quota", QUOTA_RANGE),
        ("leads", "score", SCORE_RANGE),
        ("rep_days", "claimed", 0..=CLAIMS_PER_DAY),
        ("private_pools", "size", 0..=PRIVATE_POOL_CAP),
    ]
}

async fn the_database_holds_each_rule_bound_at_the_domains_constant(db: TestDatabase) {
    let backend = db.backend;
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["B1"], 30).await;
    f.import(vec![lead_input(1, "杭州", 50)]).await;
    on_pool_raw!(&f.db, |p| {
        sqlx::query("INSERT INTO rep_days (person_id, business_day) VALUES ('B1', '2026-03-02')")
            .execute(p)
            .await
            .expect("day");
        sqlx::query("INSERT INTO private_pools (person_id) VALUES ('B1')")
            .execute(p)
            .await
            .expect("pool");
    });
    for (table, column, range) in rule_bounds() {
        let set = |value: i32| {
            let sql = format!("UPDATE {table} SET {column} = {value}");
            let db = f.db.clone();
            async move {
                on_pool_raw!(&db, |p| sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(p)
                    .await
                    .map(drop))
            }
        };
        for value in [*range.start(), *range.end()] {
            set(value)
                .await
                .unwrap_or_else(|e| panic!("{table}.{column} = {value} is within the rule: {e}"));
        }
        for value in [range.start() - 1, range.end() + 1] {
            let refused = set(value)
                .await
                .expect_err(&format!("{table}.{column} = {value} breaks the rule"));
            assert!(
                refused.as_database_error().is_some_and(|e| e.is_check_violation()),
                "{table}.{column} = {value}: {refused}"
            );
        }
    }
    if backend == tiejun_platform::db::Backend::Postgres {
        // And the list above is every such bound: a new one must be added to it.
        let defs: Vec<(String, String)> = on_pool_raw!(&f.db, |p| sqlx::query_as(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE contype = 'c' AND connamespace = 'public'::regnamespace"
        )
        .fetch_all(p)
        .await
        .expect("constraints"));
        let listed = rule_bounds();
        for (table, def) in defs {
            let Some((column, lo, hi)) = range_check(&def) else {
                continue;
            };
            let known = listed.iter().find(|(t, c, _)| *t == table && *c == column);
            let known = known.unwrap_or_else(|| panic!("{table}: {def} bounds a rule rule_bounds() does not list"));
            assert_eq!((lo, hi), (*known.2.start(), *known.2.end()), "{table}.{column}: {def}");
        }
    }
}

/// `CHECK (((c >= lo) AND (c <= hi)))`, as PostgreSQL prints a BETWEEN.
fn range_check(def: &str) -> Option<(String, i32, i32)> {
    let inner = def
        .strip_prefix("CHECK (")?
        .trim_end_matches(')')
        .trim_start_matches('(');
    let (low, high) = inner.split_once(" AND ")?;
    let (column, lo) = low.trim_matches(|c| c == '(' || c == ')').split_once(" >= ")?;
    let (column2, hi) = high.trim_matches(|c| c == '(' || c == ')').split_once(" <= ")?;
    (column == column2).then(|| Some((column.to_owned(), lo.parse().ok()?, hi.parse().ok()?)))?
}

both_backends!(
    rule_bounds_in_the_schema,
    the_database_holds_each_rule_bound_at_the_domains_constant
);

//! The claim rule has one home, `domain::claim::check`; on PostgreSQL the
//! database applies the same predicate inside one statement. This holds the
//! two to each other: for every combination of the rep's status, the lead's
//! state, a cooldown and the day's counters, a real ClaimLead answers
//! exactly what the domain says, on both backends; and the day's limits
//! (10 claims, the quota) hold across a day's claims.

use chrono::Duration as Span;
use tiejun_leads::domain::claim::{ClaimFacts, check};
use tiejun_platform::{both_backends, on_pool_raw, stored::Stored as _, testing::TestDatabase};
use tiejun_proto::leads::v1::{ClaimLeadRequest, LeadState, ListLeadsRequest, RepStatus};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin, lead_input, monday_morning, rep_token},
};
use tonic_types::StatusExt as _;

use super::{claim, distribute};

/// What a claim answered: "OK", or the code and the ErrorInfo reason.
fn answer(result: Result<tonic::Response<tiejun_proto::leads::v1::ClaimLeadResponse>, tonic::Status>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(status) => format!(
            "{:?} {}",
            status.code(),
            status.get_details_error_info().map(|i| i.reason).unwrap_or_default()
        ),
    }
}

/// What the domain says the claim should answer.
fn expected(facts: &ClaimFacts) -> String {
    match check(facts) {
        Ok(()) => "OK".into(),
        Err(refusal) => answer(Err(refusal.error(&"rep".into(), &"lead".into()).into())),
    }
}

async fn exec(f: &LeadsFixture, sql: &'static str, args: &[&str]) {
    on_pool_raw!(&f.db, |p| {
        let mut q = sqlx::query(sql);
        for a in args {
            q = q.bind(*a);
        }
        q.execute(p).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
}

#[both_backends]
async fn the_database_and_the_domain_agree_on_every_claim(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["OWNER"], 40).await;
    let day = monday_morning()
        .with_timezone(&tiejun_platform::clock::DEFAULT_ZONE)
        .date_naive()
        .to_string();
    let until = monday_morning() + chrono::Duration::days(1);
    let reps = [None, Some(RepStatus::Active), Some(RepStatus::Paused)];
    let leads = [
        None,
        Some(LeadState::Pool),
        Some(LeadState::Assigned),
        Some(LeadState::Closed),
    ];
    let days = [(0, 0), (9, 9), (10, 10), (3, 40)];
    let mut n = 0;
    let mut disagreements = Vec::new();
    for rep in reps {
        for lead in leads {
            for cooling in [false, true] {
                for (claimed, received) in days {
                    n += 1;
                    let person = format!("M{n:03}");
                    if let Some(status) = rep {
                        f.active_reps(&[&person], 40).await;
                        exec(
                            &f,
                            "UPDATE reps SET status = $2 WHERE person_id = $1",
                            &[&person, status.stored()],
                        )
                        .await;
                        let (c, d) = (claimed.to_string(), (received - claimed).to_string());
                        exec(
                            &f,
                            "INSERT INTO rep_days (person_id, business_day, claimed, distributed) \
                             VALUES ($1, $2, CAST($3 AS INTEGER), CAST($4 AS INTEGER))",
                            &[&person, &day, &c, &d],
                        )
                        .await;
                    }
                    let lead_id = match lead {
                        None => format!("no-such-lead-{n}"),
                        Some(state) => {
                            let id = f.import(vec![lead_input(n, "杭州", 50)]).await.remove(0);
                            match state {
                                LeadState::Assigned => f.assign_directly(&id, "OWNER").await,
                                LeadState::Closed => {
                                    exec(&f, "UPDATE leads SET state = 'CLOSED' WHERE lead_id = $1", &[&id]).await
                                }
                                _ => {}
                            }
                            if cooling && rep.is_some() {
                                on_pool_raw!(&f.db, |p| sqlx::query(
                                    "INSERT INTO lead_cooldowns (lead_id, person_id, until) VALUES ($1, $2, $3)"
                                )
                                .bind(&id)
                                .bind(&person)
                                .bind(until)
                                .execute(p)
                                .await
                                .map(drop)
                                .expect("cooldown"));
                            }
                            id
                        }
                    };
                    let facts = ClaimFacts {
                        rep: rep.map(|s| (s, 40)),
                        lead,
                        cooling: cooling && rep.is_some() && lead.is_some(),
                        claimed_today: claimed,
                        received_today: received,
                    };
                    let request = ClaimLeadRequest {
                        lead_id,
                        idempotency_key: String::new(),
                    };
                    let got = answer(f.leads().await.claim_lead(authed(request, &rep_token(&person))).await);
                    let want = expected(&facts);
                    if got != want {
                        disagreements.push(format!("{facts:?}: the service said {got}, the rule {want}"));
                    }
                }
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {n} cases disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

#[both_backends]
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

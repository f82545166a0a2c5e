//! Reps: the status machine from registration to departure, and a departure
//! returning every held lead to the pool.

use tiejun_platform::{both_backends, testing::TestDatabase};
use tiejun_proto::leads::v1::{
    ActivateRepRequest, DepartRepRequest, GetRepRequest, RepStatus, ResumeRepRequest, SetRepQuotaRequest,
    SuspendRepRequest, SuspensionKind, TransitionRule,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin},
};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::{create, history, register};

fn suspension(person_id: &str, kind: SuspensionKind, reason: &str) -> SuspendRepRequest {
    SuspendRepRequest {
        person_id: person_id.into(),
        kind: kind as i32,
        reason: reason.into(),
    }
}

#[both_backends]
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
        .suspend_rep(authed(suspension("E1001", SuspensionKind::Paused, "x"), &admin()))
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
        .suspend_rep(authed(suspension("E1001", SuspensionKind::OnLeave, "leave"), &admin()))
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

#[both_backends]
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
    let history = history(&f, &ids[0]).await;
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

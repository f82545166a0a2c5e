//! The customer journey of DESIGN §1, end to end through the gateway, with
//! the services talking only through their events.

use std::time::Duration;

use chrono::Duration as Span;
use tiejun_platform::{
    auth::Role,
    both_backends,
    clock::{Clock as _, to_proto},
    testing::TestDatabase,
};
use tiejun_proto::{
    billing::v1::{
        Account, GetRenewalRateRequest, InvoiceKind, InvoiceStatus, ListAccountsRequest, ListInvoicesRequest,
        RecordPaymentRequest, RenewalGrouping, RunRenewalCycleRequest, account_service_client::AccountServiceClient,
        billing_report_service_client::BillingReportServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    },
    leads::v1::{
        ConvertLeadRequest, CreateLeadRequest, FollowUpKind, GetRepRequest, LeadKind, LeadState, ListLeadsRequest,
        RecordFollowUpRequest, RepStatus, RunDistributionRequest, lead_service_client::LeadServiceClient,
        rep_service_client::RepServiceClient,
    },
    training::v1::{
        Audience, CreateProgramRequest, EnrollmentStatus, ListAssignmentsRequest, ListEnrollmentsRequest, Program,
        RecordAssessmentRequest, Session, Track, assignment_service_client::AssignmentServiceClient,
        enrollment_service_client::EnrollmentServiceClient, program_service_client::ProgramServiceClient,
    },
};
use tiejun_tests::{
    authed,
    billing::{BillingCalls, billing_admin},
    connected::{Connected, eventually},
    leads::{lead_input, registration, rep_token},
    token,
    training::{attend, schedule, trainer},
};
use tonic::transport::Channel;

/// How long an event may take to flow from one service to the next.
const FLOW: Duration = Duration::from_secs(15);

fn admin() -> String {
    token(&[Role::Admin])
}

/// The employee onboarding and a mandatory customer programme, each with a
/// session in Hangzhou; returns the onboarding session's start.
async fn training_catalog(channel: &Channel, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let mut programs = ProgramServiceClient::new(channel.clone());
    let tracks = vec![
        Track::CultureValues as i32,
        Track::ProductKnowledge as i32,
        Track::SalesSkills as i32,
    ];
    for (id, audience, onboarding) in [
        ("employee_onboarding", Audience::Employee, true),
        ("customer_onboarding", Audience::Customer, false),
    ] {
        let program = Program {
            program_id: id.into(),
            name: id.into(),
            audience: audience as i32,
            mandatory: true,
            tracks: tracks.clone(),
            employee_onboarding: onboarding,
            ..Default::default()
        };
        programs
            .create_program(authed(CreateProgramRequest { program: Some(program) }, &trainer()))
            .await
            .expect("program");
    }
    let starts = now + Span::days(3);
    for (program, at) in [
        ("employee_onboarding", starts),
        ("customer_onboarding", now + Span::days(20)),
    ] {
        let session = Session {
            program_id: program.into(),
            city: "Hangzhou".into(),
            venue: "HQ".into(),
            starts_at: Some(to_proto(at)),
            ends_at: Some(to_proto(at + Span::hours(8))),
            capacity: 20,
            ..Default::default()
        };
        schedule(channel, session).await;
    }
    starts
}

async fn enrollment_of(channel: &Channel, learner: &str) -> Option<tiejun_proto::training::v1::Enrollment> {
    EnrollmentServiceClient::new(channel.clone())
        .list_enrollments(authed(
            ListEnrollmentsRequest {
                learner_id: learner.into(),
                ..Default::default()
            },
            &trainer(),
        ))
        .await
        .ok()?
        .into_inner()
        .enrollments
        .into_iter()
        .find(|e| e.status() == EnrollmentStatus::Enrolled)
}

async fn account_sold_by(channel: &Channel, rep: &str) -> Option<Account> {
    AccountServiceClient::new(channel.clone())
        .list_accounts(authed(
            ListAccountsRequest {
                sold_by_person_id: rep.into(),
                ..Default::default()
            },
            &billing_admin(),
        ))
        .await
        .ok()?
        .into_inner()
        .accounts
        .into_iter()
        .next()
}

#[both_backends]
async fn journey(db: TestDatabase) {
    let suite = Connected::start(db).await;
    let channel = suite.channel().await;
    let start = suite.clock.now();
    let onboarding_starts = training_catalog(&channel, start).await;

    // A rep is hired: training assigns the onboarding and enrols them.
    RepServiceClient::new(channel.clone())
        .register_rep(authed(registration("E1001"), &admin()))
        .await
        .expect("hired");
    let enrollment = eventually(FLOW, || enrollment_of(&channel, "E1001"))
        .await
        .expect("RepHired → onboarding assigned and enrolled");

    // They attend and pass every track: a certificate, and they become ACTIVE.
    suite.clock.set(onboarding_starts + Span::hours(1));
    attend(&channel, &enrollment.enrollment_id).await;
    let mut enrollments = EnrollmentServiceClient::new(channel.clone());
    for track in [Track::CultureValues, Track::ProductKnowledge, Track::SalesSkills] {
        enrollments
            .record_assessment(authed(
                RecordAssessmentRequest {
                    learner_id: "E1001".into(),
                    program_id: "employee_onboarding".into(),
                    track: track as i32,
                    score: 90,
                    idempotency_key: String::new(),
                },
                &trainer(),
            ))
            .await
            .expect("scored");
    }
    let reps = RepServiceClient::new(channel.clone());
    eventually(FLOW, || {
        let mut reps = reps.clone();
        async move {
            let rep = reps
                .get_rep(authed(
                    GetRepRequest {
                        person_id: "E1001".into(),
                    },
                    &admin(),
                ))
                .await
                .ok()?
                .into_inner()
                .rep?;
            (rep.status() == RepStatus::Active).then_some(())
        }
    })
    .await
    .expect("ProgramCompleted → the rep is ACTIVE");

    // Distribution hands them a lead; they follow up and convert it.
    let mut leads = LeadServiceClient::new(channel.clone());
    let lead_id = leads
        .create_lead(authed(
            CreateLeadRequest {
                lead: Some(lead_input(1, "Hangzhou", 70)),
                idempotency_key: String::new(),
            },
            &admin(),
        ))
        .await
        .expect("lead")
        .into_inner()
        .lead
        .expect("lead")
        .lead_id;
    leads
        .run_distribution(authed(RunDistributionRequest::default(), &admin()))
        .await
        .expect("distribution");
    let rep = rep_token("E1001");
    leads
        .record_follow_up(authed(
            RecordFollowUpRequest {
                lead_id: lead_id.clone(),
                kind: FollowUpKind::Call as i32,
                notes: "interested in TrustPass".into(),
                ..Default::default()
            },
            &rep,
        ))
        .await
        .expect("the lead was handed to the rep, who followed up");
    leads
        .convert_lead(authed(
            ConvertLeadRequest {
                lead_id: lead_id.clone(),
                ..Default::default()
            },
            &rep,
        ))
        .await
        .expect("converted");
    let account = eventually(FLOW, || account_sold_by(&channel, "E1001"))
        .await
        .expect("LeadConverted → a member account sold by the rep");
    assert_eq!(account.lead_id, lead_id);
    // AccountOpened → the converted lead names its account, as the proto says "once known".
    let leads_client = leads.clone();
    let known = eventually(FLOW, || {
        let mut leads = leads_client.clone();
        let (lead_id, rep) = (lead_id.clone(), rep.clone());
        async move {
            let lead = leads
                .get_lead(authed(tiejun_proto::leads::v1::GetLeadRequest { lead_id }, &rep))
                .await
                .expect("the rep reads the lead")
                .into_inner()
                .lead
                .expect("lead");
            (!lead.account_id.is_empty()).then_some(lead.account_id)
        }
    })
    .await;
    assert_eq!(
        known.as_deref(),
        Some(account.account_id.as_str()),
        "the converted lead's account_id"
    );
    let accounts_of_lead = |lead: String| {
        let channel = channel.clone();
        async move {
            AccountServiceClient::new(channel)
                .list_accounts(authed(
                    ListAccountsRequest {
                        lead_id: lead,
                        ..Default::default()
                    },
                    &billing_admin(),
                ))
                .await
                .expect("accounts")
                .into_inner()
                .accounts
        }
    };
    let by_lead = accounts_of_lead(lead_id.clone()).await;
    assert_eq!(
        by_lead.iter().map(|a| a.account_id.as_str()).collect::<Vec<_>>(),
        [account.account_id.as_str()],
        "ListAccounts by lead_id finds the lead's account alone"
    );
    assert!(
        accounts_of_lead("no-such-lead".into()).await.is_empty(),
        "and nothing for another lead"
    );

    // They subscribe and pay: the customer's contact is put in training.
    let billing = BillingCalls(channel.clone());
    billing.catalog(&[("trustpass", 2_980)]).await;
    let subscribed_at = suite.clock.now();
    let subscription = billing
        .subscribe_and_pay(&account.account_id, "trustpass", "E1001")
        .await;
    let contact = account.contact_person_id.clone();
    eventually(FLOW, || {
        let channel = channel.clone();
        let contact = contact.clone();
        async move {
            let assigned = AssignmentServiceClient::new(channel.clone())
                .list_assignments(authed(
                    ListAssignmentsRequest {
                        learner_id: contact.clone(),
                        ..Default::default()
                    },
                    &trainer(),
                ))
                .await
                .ok()?
                .into_inner()
                .assignments;
            let customer = assigned.iter().any(|a| a.program_id == "customer_onboarding");
            (customer && enrollment_of(&channel, &contact).await.is_some()).then_some(())
        }
    })
    .await
    .expect("CustomerActivated → customer onboarding assigned and enrolled");

    // 45 days before the period ends: a renewal invoice, and a renewal lead for the seller.
    suite.clock.set(subscribed_at + Span::days(365 - 44));
    let mut subs = SubscriptionServiceClient::new(channel.clone());
    subs.run_renewal_cycle(authed(RunRenewalCycleRequest {}, &admin()))
        .await
        .expect("renewal cycle");
    eventually(FLOW, || {
        let mut leads = leads.clone();
        async move {
            let held = leads
                .list_leads(authed(
                    ListLeadsRequest {
                        owner_person_id: "E1001".into(),
                        kind: LeadKind::Renewal as i32,
                        state: LeadState::Assigned as i32,
                        ..Default::default()
                    },
                    &admin(),
                ))
                .await
                .ok()?
                .into_inner()
                .leads;
            (!held.is_empty()).then_some(())
        }
    })
    .await
    .expect("RenewalDue → a renewal lead assigned to the rep who sold it");
    let of_account = |account_id: String| {
        let mut leads = leads.clone();
        async move {
            let mut listed = leads
                .list_leads(authed(
                    ListLeadsRequest {
                        account_id,
                        ..Default::default()
                    },
                    &admin(),
                ))
                .await
                .expect("leads of an account")
                .into_inner()
                .leads;
            listed.sort_by_key(|l| l.kind);
            listed.into_iter().map(|l| (l.kind(), l.account_id)).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        of_account(account.account_id.clone()).await,
        [
            (LeadKind::NewBusiness, account.account_id.clone()),
            (LeadKind::Renewal, account.account_id.clone())
        ],
        "ListLeads by account_id: the converted lead and the renewal lead, no other"
    );
    assert!(of_account("no-such-account".into()).await.is_empty());

    // The renewal is paid; after the period ends the rep's renewal rate is 100%.
    let invoices_of = |kind: InvoiceKind| {
        let mut subs = subs.clone();
        let subscription = subscription.clone();
        async move {
            subs.list_invoices(authed(
                ListInvoicesRequest {
                    subscription_id: subscription,
                    kind: kind as i32,
                    ..Default::default()
                },
                &billing_admin(),
            ))
            .await
            .expect("invoices")
            .into_inner()
            .invoices
        }
    };
    let renewals = invoices_of(InvoiceKind::Renewal).await;
    assert!(
        !renewals.is_empty() && renewals.iter().all(|i| i.kind() == InvoiceKind::Renewal),
        "ListInvoices by kind lists the renewal invoices only: {renewals:?}"
    );
    let initial = invoices_of(InvoiceKind::Initial).await;
    assert!(
        initial.len() == 1 && initial[0].kind() == InvoiceKind::Initial,
        "and the first period's alone: {initial:?}"
    );
    let renewal = renewals
        .into_iter()
        .find(|i| i.status() == InvoiceStatus::Open)
        .expect("an open renewal invoice");
    subs.record_payment(authed(
        RecordPaymentRequest {
            idempotency_key: format!("renewal-{}", renewal.invoice_id),
            invoice_id: renewal.invoice_id,
            amount: renewal.amount,
            method: "bank_transfer".into(),
            ..Default::default()
        },
        &billing_admin(),
    ))
    .await
    .expect("renewal paid");
    suite.clock.set(subscribed_at + Span::days(367));
    subs.run_renewal_cycle(authed(RunRenewalCycleRequest {}, &admin()))
        .await
        .expect("renewal cycle");
    let rate = BillingReportServiceClient::new(channel.clone())
        .get_renewal_rate(authed(
            GetRenewalRateRequest {
                from: Some(to_proto(start)),
                to: Some(to_proto(start + Span::days(730))),
                group_by: RenewalGrouping::Rep as i32,
            },
            &admin(),
        ))
        .await
        .expect("renewal rate")
        .into_inner();
    let row = rate
        .rows
        .iter()
        .find(|r| r.group_key == "E1001")
        .unwrap_or_else(|| panic!("a row for E1001 in {rate:?}"));
    assert_eq!(
        (row.up_for_renewal, row.renewed, row.renewal_rate_bp),
        (1, 1, 10_000),
        "{row:?}"
    );
}

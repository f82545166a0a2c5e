//! Intake: duplicates refused for every normalisation, contacts masked in the
//! pool, imports that report every row, idempotent and concurrent creation.

use tiejun_platform::{both_backends, testing::TestDatabase};
use tiejun_proto::leads::v1::{
    GetLeadRequest, ImportLeadsRequest, LeadState, ListLeadsRequest, lead_service_client::LeadServiceClient,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin, rep_token},
};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::{create, input, register};

#[both_backends]
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

#[both_backends]
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

#[both_backends]
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

#[both_backends]
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

#[both_backends]
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

//! Events under faults: a consumer away, a producer restarted before
//! delivering, a repeated delivery, a poison event parked and replayed, and
//! two relays on one PostgreSQL database. Nothing is lost, nothing is
//! applied twice.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tiejun_platform::{auth::Role, both_backends, clock::to_proto, events::EventArgs, testing::TestDatabase};
use tiejun_proto::{
    events::v1::{
        DeliverRequest, DeliverResponse, EventEnvelope, RepHired,
        event_consumer_service_client::EventConsumerServiceClient,
        event_consumer_service_server::{EventConsumerService, EventConsumerServiceServer},
        event_envelope::Payload,
    },
    leads::v1::{
        ListParkedEventsRequest, ReplayParkedEventsRequest, outbox_service_client::OutboxServiceClient,
        rep_service_client::RepServiceClient,
    },
};
use tiejun_tests::{
    Svc, authed,
    connected::{Connected, applied_once, count, eventually, fast_events, onboarding_programme},
    leads::registration,
    token,
};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

const FLOW: Duration = Duration::from_secs(20);

fn admin() -> String {
    token(&[Role::Admin])
}

async fn hire(suite: &Connected, ids: impl IntoIterator<Item = String>) {
    let mut reps = RepServiceClient::new(suite.direct(Svc::Leads).await);
    for id in ids {
        reps.register_rep(authed(registration(&id), &admin()))
            .await
            .expect("hired");
    }
}

/// Patient delivery: enough attempts to outlast an outage of a few seconds.
fn patient() -> EventArgs {
    EventArgs {
        event_max_attempts: 1000,
        ..fast_events()
    }
}

#[both_backends]
async fn consumer_down_while_events_are_produced(db: TestDatabase) {
    let mut suite = Connected::start_with(db, patient()).await;
    onboarding_programme(&suite).await;
    suite.stop(Svc::Training).await;
    hire(&suite, (0..5).map(|i| format!("E{i:04}"))).await;
    tokio::time::sleep(Duration::from_millis(600)).await; // several failed rounds
    suite.restart(Svc::Training).await;
    applied_once(&suite, 5).await;
}

#[both_backends]
async fn producer_dies_before_delivery(db: TestDatabase) {
    let mut suite = Connected::start_with(db, patient()).await;
    onboarding_programme(&suite).await;
    // Committed while nobody can receive them, then the producer goes away.
    suite.stop(Svc::Training).await;
    hire(&suite, (0..3).map(|i| format!("P{i:04}"))).await;
    suite.stop(Svc::Leads).await;
    suite.restart(Svc::Training).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(suite.database_url(Svc::Training), "SELECT count(*) FROM inbox").await,
        0,
        "nothing delivered while the producer was down"
    );
    suite.restart(Svc::Leads).await;
    applied_once(&suite, 3).await;
}

#[both_backends]
async fn delivered_twice(db: TestDatabase) {
    let suite = Connected::start(db).await;
    onboarding_programme(&suite).await;
    let envelope = EventEnvelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        producer: "leads".into(),
        subject: "D0001".into(),
        occurred_at: Some(to_proto(chrono::Utc::now())),
        payload: Some(Payload::RepHired(RepHired {
            person_id: "D0001".into(),
            name: "Twice".into(),
            team: "Hangzhou-1".into(),
            city: "杭州".into(),
            hired_at: None,
        })),
        ..Default::default()
    };
    let mut consumer = EventConsumerServiceClient::new(suite.direct(Svc::Training).await);
    let service = token(&[Role::Service]);
    let first = consumer
        .deliver(authed(
            DeliverRequest {
                event: Some(envelope.clone()),
            },
            &service,
        ))
        .await
        .expect("first delivery")
        .into_inner();
    let second = consumer
        .deliver(authed(DeliverRequest { event: Some(envelope) }, &service))
        .await
        .expect("second delivery")
        .into_inner();
    assert_eq!((first.duplicate, second.duplicate), (false, true));
    let url = suite.database_url(Svc::Training);
    assert_eq!(count(url, "SELECT count(*) FROM assignments").await, 1);
    assert_eq!(count(url, "SELECT count(*) FROM inbox").await, 1);
}

/// Every consumer refuses an envelope without its id, producer or payload,
/// and a payload without the id it is about, naming the field (the same
/// `id::required` the RPCs use), before anything is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_without_its_ids_is_refused_naming_the_field_by_every_consumer() {
    use tiejun_proto::events::v1::{CustomerActivated, LeadConverted, RenewalDue};
    use tonic_types::StatusExt as _;
    let suite = Connected::start(TestDatabase::sqlite()).await;
    let service = token(&[Role::Service]);
    let whole = EventEnvelope {
        event_id: "E-1".into(),
        producer: "test".into(),
        occurred_at: Some(to_proto(chrono::Utc::now())),
        payload: Some(Payload::RepHired(RepHired::default())),
        ..Default::default()
    };
    let envelope_cases = [
        (None, "event"),
        (
            Some(EventEnvelope {
                event_id: " ".into(),
                ..whole.clone()
            }),
            "event.event_id",
        ),
        (
            Some(EventEnvelope {
                producer: String::new(),
                ..whole.clone()
            }),
            "event.producer",
        ),
        (
            Some(EventEnvelope {
                payload: None,
                ..whole.clone()
            }),
            "event.payload",
        ),
    ];
    let mut cases: Vec<(Svc, Option<EventEnvelope>, &str)> = [Svc::Leads, Svc::Billing, Svc::Training]
        .into_iter()
        .flat_map(|svc| {
            envelope_cases
                .iter()
                .map(move |(event, field)| (svc, event.clone(), *field))
        })
        .collect();
    let converted = LeadConverted {
        person_id: "E0001".into(),
        company_name: "杭州测试有限公司".into(),
        contact_name: "联系人".into(),
        phone: "13600000001".into(),
        city: "杭州".into(),
        ..Default::default()
    };
    let payload = |p| {
        Some(EventEnvelope {
            payload: Some(p),
            ..whole.clone()
        })
    };
    cases.push((
        Svc::Billing,
        payload(Payload::LeadConverted(converted.clone())),
        "event.lead_converted.lead_id",
    ));
    cases.push((
        Svc::Billing,
        payload(Payload::LeadConverted(LeadConverted {
            lead_id: "L-1".into(),
            person_id: String::new(),
            ..converted.clone()
        })),
        "event.lead_converted.person_id",
    ));
    cases.push((
        Svc::Billing,
        payload(Payload::LeadConverted(LeadConverted {
            lead_id: "L-1".into(),
            city: String::new(),
            ..converted.clone()
        })),
        "event.lead_converted.city",
    ));
    cases.push((
        Svc::Leads,
        payload(Payload::RenewalDue(RenewalDue::default())),
        "event.renewal_due.subscription_id",
    ));
    cases.push((
        Svc::Training,
        payload(Payload::RepHired(RepHired::default())),
        "event.rep_hired.person_id",
    ));
    cases.push((
        Svc::Training,
        payload(Payload::CustomerActivated(CustomerActivated::default())),
        "event.customer_activated.contact_person_id",
    ));
    for (svc, event, field) in cases {
        let status = EventConsumerServiceClient::new(suite.direct(svc).await)
            .deliver(authed(DeliverRequest { event }, &service))
            .await
            .expect_err(field);
        let named: Vec<String> = status
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        assert_eq!(
            (status.code(), named),
            (tonic::Code::InvalidArgument, vec![field.to_owned()]),
            "{svc:?} without {field}: {status:?}"
        );
    }
    for svc in [Svc::Leads, Svc::Billing, Svc::Training] {
        assert_eq!(
            count(suite.database_url(svc), "SELECT count(*) FROM inbox").await,
            0,
            "{svc:?}"
        );
    }
}

#[both_backends]
async fn poison_parked_then_replayed(db: TestDatabase) {
    // No onboarding programme yet: training refuses RepHired until there is one.
    let suite = Connected::start(db).await;
    hire(&suite, ["X0001".to_owned()]).await;
    let mut outbox = OutboxServiceClient::new(suite.channel().await);
    let parked = eventually(FLOW, || {
        let mut outbox = outbox.clone();
        async move {
            let events = outbox
                .list_parked_events(authed(ListParkedEventsRequest::default(), &admin()))
                .await
                .ok()?
                .into_inner()
                .events;
            events.into_iter().next()
        }
    })
    .await
    .expect("parked after its attempts");
    assert_eq!((parked.consumer.as_str(), parked.attempts), ("training", 4));
    assert!(
        parked.last_error.contains("NO_ONBOARDING_PROGRAM"),
        "{}",
        parked.last_error
    );
    assert_eq!(
        count(suite.database_url(Svc::Training), "SELECT count(*) FROM inbox").await,
        0
    );

    // The fix, then the replay.
    onboarding_programme(&suite).await;
    let replayed = outbox
        .replay_parked_events(authed(
            ReplayParkedEventsRequest {
                event_id: String::new(),
                all: true,
            },
            &admin(),
        ))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(replayed.replayed, 1);
    applied_once(&suite, 1).await;
    let none = outbox
        .replay_parked_events(authed(
            ReplayParkedEventsRequest {
                event_id: parked.event.expect("envelope").event_id,
                all: false,
            },
            &admin(),
        ))
        .await
        .expect_err("nothing parked any more");
    assert_eq!(none.code(), tonic::Code::NotFound);
}

/// A consumer that records, per event, how many deliveries were in flight
/// at once, and how many deliveries overlapped at all.
#[derive(Debug, Default, Clone)]
struct Recorder {
    state: Arc<Mutex<RecorderState>>,
}

#[derive(Debug, Default)]
struct RecorderState {
    in_flight: HashMap<String, u32>,
    delivered: HashMap<String, u32>,
    same_event_overlaps: u32,
}

#[tonic::async_trait]
impl EventConsumerService for Recorder {
    async fn deliver(&self, request: Request<DeliverRequest>) -> Result<Response<DeliverResponse>, Status> {
        let id = request.into_inner().event.map(|e| e.event_id).unwrap_or_default();
        {
            let mut s = self.state.lock().expect("lock");
            let n = s.in_flight.entry(id.clone()).or_default();
            *n += 1;
            if *n > 1 {
                s.same_event_overlaps += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut s = self.state.lock().expect("lock");
        *s.in_flight.entry(id.clone()).or_default() -= 1;
        *s.delivered.entry(id).or_default() += 1;
        Ok(Response::new(DeliverResponse { duplicate: false }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_on_one_postgresql_never_deliver_one_event_concurrently() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let recorder = Recorder::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let consumer = listener.local_addr().expect("addr");
    let serving = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EventConsumerServiceServer::new(recorder.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let events = EventArgs {
        events_to: vec![format!("training=http://{consumer}")],
        ..fast_events()
    };
    let replicas: Vec<_> = two_leads_replicas(&db.url, &events).await;
    let mut reps = RepServiceClient::new(replicas[0].channel().await);
    for i in 0..40 {
        reps.register_rep(authed(registration(&format!("R{i:04}")), &admin()))
            .await
            .expect("hired");
    }
    let delivered = eventually(FLOW, || {
        let state = recorder.state.clone();
        async move {
            let s = state.lock().expect("lock");
            (s.delivered.len() == 40).then(|| s.delivered.values().sum::<u32>())
        }
    })
    .await
    .expect("every event delivered");
    let s = recorder.state.lock().expect("lock");
    assert_eq!(s.same_event_overlaps, 0, "an event was delivered by two relays at once");
    assert_eq!(delivered, 40, "and each exactly once while both relays ran");
    drop(s);
    serving.abort();
}

/// Two leads replicas on one database, both relaying.
async fn two_leads_replicas(url: &str, events: &EventArgs) -> Vec<tiejun_tests::Running> {
    let mut out = Vec::new();
    for _ in 0..2 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let settings = tiejun_platform::config::ServiceSettings {
            server: tiejun_platform::config::ServerArgs::listening_on(addr),
            database: tiejun_platform::config::DatabaseArgs::for_url(url),
            keys: tiejun_tests::keys(),
            clock: tiejun_platform::clock::system(),
            jobs: tiejun_platform::config::JobArgs::disabled(),
            events: events.clone(),
            organisation: Default::default(),
        };
        let running = tiejun_tests::spawn_on(Svc::Leads, settings, listener);
        assert!(tiejun_tests::wait_serving(addr, Duration::from_secs(30)).await);
        out.push(running);
    }
    out
}

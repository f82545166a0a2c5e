//! WatchRepEvents, on both backends: a watcher sees its assignment as it
//! happens; resumed from a cursor, a rep app that
//! reconnects (to another replica) in the middle of the 08:00 distribution,
//! while the rep claims and a manager hands them leads, gets every
//! assignment exactly once and in order; the feed is numbered in commit
//! order even when transactions commit out of the order they wrote in; a
//! cursor older than the feed keeps, or ahead of it, is OUT_OF_RANGE.

use std::time::Duration;

use chrono::Duration as Span;
use tiejun_platform::{both_backends, on_pool_raw, testing::TestDatabase};
use tiejun_proto::leads::v1::{
    ClaimLeadRequest, CloseLeadRequest, LeadState, ReassignLeadRequest, RunDistributionRequest, RunReclaimSweepRequest,
    TransitionRule, WatchRepEventsRequest, WatchRepEventsResponse, lead_service_client::LeadServiceClient,
    watch_rep_events_response::Event,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin, lead_input, rep_token},
};
use tonic::{Code, Streaming, transport::Channel};
use tonic_types::StatusExt as _;

use super::{claim, sweep};

const REP: &str = "WR1";

async fn watch(
    channel: Channel,
    after_sequence: Option<i64>,
) -> Result<Streaming<WatchRepEventsResponse>, tonic::Status> {
    let request = WatchRepEventsRequest {
        person_id: REP.into(),
        after_sequence,
    };
    LeadServiceClient::new(channel)
        .watch_rep_events(authed(request, &rep_token(REP)))
        .await
        .map(tonic::Response::into_inner)
}

/// The next event within `within`, or `None`.
async fn next(stream: &mut Streaming<WatchRepEventsResponse>, within: Duration) -> Option<WatchRepEventsResponse> {
    tokio::time::timeout(within, stream.message())
        .await
        .ok()
        .map(|m| m.expect("the stream stays open").expect("an event"))
}

/// The lead an ASSIGNED event names.
fn assigned(event: &WatchRepEventsResponse) -> Option<String> {
    match &event.event {
        Some(Event::Assigned(a)) => a.lead.as_ref().map(|l| l.lead_id.clone()),
        _ => None,
    }
}

#[both_backends]
async fn a_watcher_reconnecting_mid_distribution_misses_nothing_and_sees_nothing_twice(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    let replica =
        tiejun_tests::start_service_at(tiejun_tests::Svc::Leads, &f.url, std::sync::Arc::new(f.clock.clone())).await;
    assert!(tiejun_tests::wait_serving(replica.addr, Duration::from_secs(30)).await);
    let colleagues = ["WR2", "WR3", "WR4"];
    f.active_reps(&[REP], 50).await;
    f.active_reps(&colleagues, 50).await;
    let leads = f
        .import((0..260).map(|i| lead_input(i, "杭州", 40 + (i % 50) as i32)).collect())
        .await;

    let mut first = watch(f.channel().await, None).await.expect("watch");
    // The 08:00 distribution, the rep claiming and a manager handing them
    // leads, all at once.
    let channel = f.channel().await;
    let distribution = {
        let mut c = LeadServiceClient::new(channel.clone());
        tokio::spawn(async move {
            c.run_distribution(authed(RunDistributionRequest::default(), &admin()))
                .await
        })
    };
    let claims = {
        let mut c = LeadServiceClient::new(channel.clone());
        let wanted: Vec<String> = leads[200..215].to_vec();
        tokio::spawn(async move {
            for lead_id in wanted {
                let request = ClaimLeadRequest {
                    lead_id,
                    idempotency_key: String::new(),
                };
                // A lead the distribution gave away first is refused: fine.
                let _ = c.claim_lead(authed(request, &rep_token(REP))).await;
            }
        })
    };
    let handed = {
        let mut c = LeadServiceClient::new(channel.clone());
        let wanted: Vec<String> = leads[215..225].to_vec();
        tokio::spawn(async move {
            for lead_id in wanted {
                let request = ReassignLeadRequest {
                    lead_id,
                    to_person_id: REP.into(),
                    reason: "a hot one".into(),
                };
                let _ = c.reassign_lead(authed(request, &admin())).await;
            }
        })
    };

    // The phone drops after a dozen events…
    let mut seen = Vec::new();
    while seen.len() < 12 {
        let event = next(&mut first, Duration::from_secs(20))
            .await
            .expect("the first dozen events within 20 s");
        seen.push(event);
    }
    drop(first);
    let cursor = seen.last().expect("events").sequence;
    distribution.await.expect("task").expect("distribution");
    claims.await.expect("task");
    handed.await.expect("task");
    // …more happens while it is away…
    let mut c = f.leads().await;
    for lead_id in &leads[225..230] {
        let request = ClaimLeadRequest {
            lead_id: lead_id.clone(),
            idempotency_key: String::new(),
        };
        let _ = c.claim_lead(authed(request, &rep_token(REP))).await;
    }
    // …and it reconnects to the other replica from where it was.
    let mut resumed = watch(replica.channel().await, Some(cursor)).await.expect("resume");
    let given: i64 = f
        .scalar("SELECT COUNT(*) FROM assignments WHERE person_id = $1", REP)
        .await;
    assert!(given > 12, "the rep was given only {given} leads");
    while (seen.len() as i64) < given {
        let Some(event) = next(&mut resumed, Duration::from_secs(10)).await else {
            break;
        };
        seen.push(event);
    }
    // Nothing more: no duplicate arrives late.
    assert!(
        next(&mut resumed, Duration::from_millis(800)).await.is_none(),
        "more events than assignments"
    );

    let sequences: Vec<i64> = seen.iter().map(|e| e.sequence).collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "sequences increase across the reconnect: {sequences:?}"
    );
    let mut streamed: Vec<String> = seen.iter().filter_map(assigned).collect();
    assert_eq!(streamed.len(), seen.len(), "only assignments happened");
    let mut expected: Vec<String> = on_pool_raw!(&f.db, |p| sqlx::query_scalar(
        "SELECT lead_id FROM assignments WHERE person_id = $1"
    )
    .bind(REP)
    .fetch_all(p)
    .await
    .expect("assignments"));
    streamed.sort();
    expected.sort();
    assert_eq!(streamed, expected, "every assignment streamed once, none twice");
}

/// The property the cursor rests on, at the store: a transaction that
/// wrote its event first but commits last is numbered after the one that
/// committed first, so a reader that has passed the first one's number
/// still gets it. (Numbered at insert, it would have had the smaller
/// number, behind a cursor already past it.) PostgreSQL only: SQLite has
/// one writer, whose commits are in the order they wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_committed_late_is_numbered_after_what_was_read() {
    use tiejun_leads::store::feed::{self, Kind};
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let f = LeadsFixture::start(db).await;
    f.active_reps(&[REP], 30).await;
    let leads = f
        .import(vec![lead_input(1, "杭州", 50), lead_input(2, "杭州", 50)])
        .await;
    let now = chrono::Utc::now();
    let mut early = f.db.begin().await.expect("begin");
    feed::push(
        &mut early,
        &REP.into(),
        Kind::Assigned,
        &leads[0].as_str().into(),
        TransitionRule::SelfClaim,
        None,
        now,
    )
    .await
    .expect("push");
    let mut late = f.db.begin().await.expect("begin");
    feed::push(
        &mut late,
        &REP.into(),
        Kind::Assigned,
        &leads[1].as_str().into(),
        TransitionRule::SelfClaim,
        None,
        now,
    )
    .await
    .expect("push");
    late.commit().await.expect("commit");
    let read = numbered_after(&f, 0).await;
    let cursor = read
        .last()
        .map(|(seq, _)| *seq)
        .expect("the committed event is numbered");
    assert_eq!(
        read.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(),
        [leads[1].as_str()]
    );
    early.commit().await.expect("commit");
    let after = numbered_after(&f, cursor).await;
    assert_eq!(
        after.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(),
        [leads[0].as_str()],
        "the event written first and committed last comes after the cursor"
    );
}

/// Waits (up to 5 s) until every committed feed event of the rep is numbered.
async fn numbered(f: &LeadsFixture) {
    for _ in 0..100 {
        let waiting: i64 = f
            .scalar(
                "SELECT COUNT(*) FROM rep_events WHERE seq IS NULL AND person_id = $1",
                REP,
            )
            .await;
        if waiting == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the feed was not numbered within 5 s");
}

/// The rep's feed after `after` once the numbering has caught up: (number, lead).
async fn numbered_after(f: &LeadsFixture, after: i64) -> Vec<(i64, String)> {
    numbered(f).await;
    on_pool_raw!(&f.db, |p| sqlx::query_as(
        "SELECT seq, lead_id FROM rep_events WHERE person_id = $1 AND seq > $2 ORDER BY seq"
    )
    .bind(REP)
    .bind(after)
    .fetch_all(p)
    .await
    .expect("feed"))
}

#[both_backends]
async fn a_cursor_outside_the_feed_is_out_of_range_and_one_inside_replays(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&[REP], 30).await;
    let leads = f
        .import(vec![lead_input(1, "杭州", 50), lead_input(2, "杭州", 50)])
        .await;
    let mut live = watch(f.channel().await, None).await.expect("watch");
    let mut c = f.leads().await;
    let claim = |lead_id: &str| ClaimLeadRequest {
        lead_id: lead_id.into(),
        idempotency_key: String::new(),
    };
    c.claim_lead(authed(claim(&leads[0]), &rep_token(REP)))
        .await
        .expect("claim");
    let event = next(&mut live, Duration::from_secs(5))
        .await
        .expect("the claim's event");
    drop(live);

    // A cursor just before it replays it, then goes live.
    let mut replay = watch(f.channel().await, Some(event.sequence - 1))
        .await
        .expect("replay");
    let again = next(&mut replay, Duration::from_secs(5)).await.expect("replayed");
    assert_eq!((again.sequence, assigned(&again)), (event.sequence, assigned(&event)));
    c.claim_lead(authed(claim(&leads[1]), &rep_token(REP)))
        .await
        .expect("claim");
    let live_again = next(&mut replay, Duration::from_secs(5)).await.expect("then live");
    assert_eq!(assigned(&live_again).as_deref(), Some(leads[1].as_str()));
    assert!(live_again.sequence > event.sequence);
    drop(replay);

    let refused = |status: tonic::Status, reason: &str| {
        assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
        let details = status.get_error_details();
        assert_eq!(details.error_info().map(|i| i.reason.as_str()), Some(reason));
        let fields: Vec<_> = details
            .bad_request()
            .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
            .unwrap_or_default();
        assert_eq!(fields, ["after_sequence"]);
    };
    refused(
        watch(f.channel().await, Some(live_again.sequence + 1_000))
            .await
            .expect_err("ahead"),
        "CURSOR_AHEAD",
    );
    let negative = watch(f.channel().await, Some(-1)).await.expect_err("negative");
    assert_eq!(negative.code(), Code::InvalidArgument);

    // Eight days on, the sweep prunes the feed's week: the old cursor is
    // refused, the newest still resumes.
    f.advance(Span::days(8));
    f.leads()
        .await
        .run_reclaim_sweep(authed(RunReclaimSweepRequest {}, &admin()))
        .await
        .expect("sweep");
    let expired = || async {
        numbered(&f).await;
        refused(
            watch(f.channel().await, Some(event.sequence - 1))
                .await
                .expect_err("expired"),
            "CURSOR_EXPIRED",
        );
    };
    expired().await;
    // And with a newer event kept than the old cursor's.
    let newer = f.import(vec![lead_input(3, "杭州", 50)]).await;
    c.reassign_lead(authed(
        ReassignLeadRequest {
            lead_id: newer[0].clone(),
            to_person_id: REP.into(),
            reason: "after the prune".into(),
        },
        &admin(),
    ))
    .await
    .expect("reassign");
    expired().await;
    let kept: i64 = f
        .scalar("SELECT COUNT(*) FROM rep_events WHERE person_id = $1", REP)
        .await;
    assert!(kept >= 1, "the newer event is kept");
    let newest: i64 = f
        .scalar("SELECT top FROM rep_feed WHERE one = 1 AND $1 <> ''", "x")
        .await;
    watch(f.channel().await, Some(newest))
        .await
        .expect("the newest cursor resumes after a prune");
}

#[both_backends]
async fn watch_rep_events_sees_an_assignment(db: TestDatabase) {
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["W"], 30).await;
    let leads = f.import(vec![lead_input(3, "杭州", 90)]).await;
    let mut stream = f
        .leads()
        .await
        .watch_rep_events(authed(
            WatchRepEventsRequest {
                person_id: "W".into(),
                after_sequence: None,
            },
            &rep_token("W"),
        ))
        .await
        .expect("watch")
        .into_inner();
    let reassign = ReassignLeadRequest {
        lead_id: leads[0].clone(),
        to_person_id: "W".into(),
        reason: "hot".into(),
    };
    f.leads()
        .await
        .reassign_lead(authed(reassign, &admin()))
        .await
        .expect("reassign");
    let event = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("an event within 5 s")
        .expect("stream open")
        .expect("an event");
    let Some(Event::Assigned(assigned)) = event.event else {
        panic!("not an assignment: {event:?}")
    };
    let lead = assigned.lead.expect("lead");
    assert_eq!(lead.lead_id, leads[0]);
    assert!(!lead.contact_masked, "the owner sees the contact");
    assert_eq!(
        (lead.state(), lead.owner_person_id.as_str()),
        (LeadState::Assigned, "W")
    );

    // Taken away by a manager: the feed says so.
    f.active_reps(&["W2"], 30).await;
    let away = ReassignLeadRequest {
        lead_id: leads[0].clone(),
        to_person_id: "W2".into(),
        reason: "rebalance".into(),
    };
    f.leads()
        .await
        .reassign_lead(authed(away, &admin()))
        .await
        .expect("reassign away");
    let event = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("an event within 5 s")
        .expect("stream open")
        .expect("an event");
    let Some(Event::Reclaimed(reclaimed)) = event.event else {
        panic!("not a reclaim: {event:?}")
    };
    assert_eq!(
        (reclaimed.lead_id.as_str(), reclaimed.rule()),
        (leads[0].as_str(), TransitionRule::ManagerReassign)
    );

    // The feed keeps a week: a sweep eight days on forgets the older events.
    let close = CloseLeadRequest {
        lead_id: leads[0].clone(),
        reason: "not a fit".into(),
    };
    f.leads()
        .await
        .close_lead(authed(close, &admin()))
        .await
        .expect("close");
    const FEED: &str = "SELECT count(*) FROM rep_events WHERE person_id <> $1";
    assert_eq!(
        f.scalar(FEED, "").await,
        3,
        "W's assignment and reclaim, W2's assignment"
    );
    f.advance(Span::days(8));
    let fresh = f.import(vec![lead_input(4, "杭州", 90)]).await;
    claim(&mut f.leads().await, "W", &fresh[0])
        .await
        .expect("a claim a week later");
    sweep(&f).await;
    assert_eq!(f.scalar(FEED, "").await, 1, "only the claim of this week is left");

    let other = f
        .leads()
        .await
        .watch_rep_events(authed(
            WatchRepEventsRequest {
                person_id: "X".into(),
                after_sequence: None,
            },
            &rep_token("W"),
        ))
        .await
        .expect_err("another rep's events");
    assert_eq!(other.code(), Code::PermissionDenied);
}

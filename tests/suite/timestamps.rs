//! Instants in requests, generated from the descriptors: every
//! `google.protobuf.Timestamp` a request of the three services can carry,
//! at any depth, is set outside 0001-01-01T00:00:00Z ..=
//! 9999-12-31T23:59:59.999999999Z (a second either side, and nanos out of
//! range) in an otherwise well-formed request: the answer is
//! INVALID_ARGUMENT with a BadRequest naming exactly that field. Set to the
//! range's own ends, it is anything but INTERNAL or UNKNOWN (the values
//! reach the database on both backends). A request type that gains a
//! timestamp without a well-formed example here fails the test.

use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind as FieldKind, MessageDescriptor, Value};
use tiejun_platform::{
    clock::{EARLIEST_SECONDS, LATEST_SECONDS},
    testing::TestDatabase,
};
use tiejun_tests::{
    connected::Connected,
    raw::{self, Kind},
};
use tonic::Code;
use tonic_types::StatusExt as _;

const PACKAGES: [&str; 3] = ["tiejun.leads.v1", "tiejun.billing.v1", "tiejun.training.v1"];

/// Calls made first, so that the examples below reach the database.
const SETUP: &[(&str, &str)] = &[(
    "/tiejun.training.v1.ProgramService/CreateProgram",
    r#"{"program": {"programId": "ts_1", "name": "Timestamps", "audience": "AUDIENCE_EMPLOYEE", "tracks": ["TRACK_SALES_SKILLS"],
        "passingScore": 60, "dueWithinDays": 30, "validityDays": 365}}"#,
)];

/// A well-formed request for every RPC whose request carries an instant.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "/tiejun.leads.v1.LeadService/RecordFollowUp",
        r#"{"leadId": "L-TS-1", "kind": "FOLLOW_UP_KIND_CALL", "notes": "rang",
            "occurredAt": "2026-01-01T00:00:00Z"}"#,
    ),
    (
        "/tiejun.billing.v1.SubscriptionService/RecordPayment",
        r#"{"invoiceId": "INV-TS-1", "amount": {"amountMinor": 100, "currency": "CNY"},
            "method": "bank_transfer", "receivedAt": "2026-01-01T00:00:00Z", "idempotencyKey": "ts-1"}"#,
    ),
    (
        "/tiejun.billing.v1.BillingReportService/GetRenewalRate",
        r#"{"from": "2026-01-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}"#,
    ),
    (
        "/tiejun.billing.v1.BillingReportService/ListRenewals",
        r#"{"from": "2026-01-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}"#,
    ),
    (
        "/tiejun.billing.v1.BillingReportService/GetConversionRate",
        r#"{"signedUpFrom": "2026-01-01T00:00:00Z", "signedUpTo": "2026-12-01T00:00:00Z"}"#,
    ),
    (
        "/tiejun.billing.v1.BillingReportService/GetAnnualRecurringRevenue",
        r#"{"at": "2026-06-01T00:00:00Z"}"#,
    ),
    (
        "/tiejun.training.v1.ProgramService/CreateProgram",
        r#"{"program": {"programId": "ts_2", "name": "Timestamps too", "audience": "AUDIENCE_EMPLOYEE", "tracks": ["TRACK_SALES_SKILLS"],
            "passingScore": 60, "dueWithinDays": 30, "validityDays": 365,
            "createdAt": "2026-01-01T00:00:00Z"}}"#,
    ),
    (
        "/tiejun.training.v1.SessionService/ScheduleSession",
        r#"{"session": {"programId": "ts_1", "city": "Hangzhou", "venue": "HQ", "capacity": 10,
            "startsAt": "2027-06-01T01:00:00Z", "endsAt": "2027-06-01T09:00:00Z",
            "enrollmentDeadline": "2027-05-30T00:00:00Z", "cancellationDeadline": "2027-05-29T00:00:00Z"}}"#,
    ),
    (
        "/tiejun.training.v1.SessionService/ListSessions",
        r#"{"city": "Hangzhou", "startsFrom": "2026-01-01T00:00:00Z", "startsTo": "2028-01-01T00:00:00Z"}"#,
    ),
    (
        "/tiejun.training.v1.AssignmentService/AssignProgram",
        r#"{"learnerId": "E0002", "programId": "ts_1", "city": "Hangzhou", "dueAt": "2099-01-01T00:00:00Z"}"#,
    ),
    (
        "/tiejun.training.v1.AssignmentService/CheckRequirement",
        r#"{"personId": "E0002", "programId": "ts_1", "at": "2026-06-01T00:00:00Z"}"#,
    ),
    (
        "/tiejun.training.v1.ComplianceService/GetComplianceReport",
        r#"{"at": "2026-06-01T00:00:00Z"}"#,
    ),
];

/// Fields the server sets itself and ignores on input (AIP-203 output
/// only): any instant there is dropped, so it is not refused either.
const SERVER_SET: &[(&str, &str)] = &[("/tiejun.training.v1.ProgramService/CreateProgram", "program.created_at")];

/// Outside the range by the least possible step, each way.
const OUTSIDE: [(i64, i32); 4] = [
    (LATEST_SECONDS + 1, 0),
    (EARLIEST_SECONDS - 1, 999_999_999),
    (0, -1),
    (0, 1_000_000_000),
];

/// The range's own ends.
const ENDS: [(i64, i32); 2] = [(LATEST_SECONDS, 999_999_999), (EARLIEST_SECONDS, 0)];

struct Rpc {
    path: String,
    kind: Kind,
    input: MessageDescriptor,
    /// Every timestamp field of the request, as a proto path (`session.ends_at`).
    instants: Vec<String>,
}

fn pool() -> DescriptorPool {
    DescriptorPool::decode(tiejun_proto::FILE_DESCRIPTOR_SET).expect("descriptors")
}

/// The unary and client-streaming RPCs whose request carries an instant.
fn rpcs(pool: &DescriptorPool) -> Vec<Rpc> {
    pool.services()
        .filter(|s| PACKAGES.contains(&s.package_name()))
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .filter(|m| !m.is_server_streaming())
        .filter_map(|m| {
            let mut instants = Vec::new();
            walk(&m.input(), "", 0, &mut instants);
            let kind = if m.is_client_streaming() {
                Kind::ClientStreaming
            } else {
                Kind::Unary
            };
            let path = format!("/{}/{}", m.parent_service().full_name(), m.name());
            (!instants.is_empty()).then(|| Rpc {
                path,
                kind,
                input: m.input(),
                instants,
            })
        })
        .collect()
}

fn walk(message: &MessageDescriptor, prefix: &str, depth: usize, out: &mut Vec<String>) {
    assert!(depth < 6, "{prefix}: nesting deeper than the walk expects");
    for field in message.fields() {
        let path = format!("{prefix}{}", field.name());
        let FieldKind::Message(inner) = field.kind() else {
            continue;
        };
        if inner.full_name() == "google.protobuf.Timestamp" {
            assert!(!field.is_list(), "{path}: a repeated instant needs a case here");
            out.push(path);
        } else if !field.is_map() {
            let mut nested = Vec::new();
            walk(&inner, &format!("{path}."), depth + 1, &mut nested);
            assert!(
                nested.is_empty() || !field.is_list(),
                "{path}: instants inside a repeated field need a case here"
            );
            out.extend(nested);
        }
    }
}

/// The request type of the unary RPC at `path` (`/package.Service/Method`).
fn input_of(pool: &DescriptorPool, path: &str) -> MessageDescriptor {
    let (service, method) = path.trim_start_matches('/').split_once('/').expect("a method path");
    let service = pool.get_service_by_name(service).expect("a service");
    let method = service.methods().find(|m| m.name() == method).expect("a method");
    method.input()
}

fn parse(input: &MessageDescriptor, json: &str) -> DynamicMessage {
    let mut de = serde_json::Deserializer::from_str(json);
    let message = DynamicMessage::deserialize(input.clone(), &mut de).expect("a well-formed example");
    de.end().expect("one JSON value");
    message
}

/// `message` with the timestamp at `path` set to `seconds`, `nanos`.
fn with_instant(message: &DynamicMessage, path: &str, (seconds, nanos): (i64, i32)) -> DynamicMessage {
    let mut message = message.clone();
    let mut at = &mut message;
    let mut names = path.split('.').peekable();
    while let Some(name) = names.next() {
        let value = at.get_field_by_name_mut(name).expect("field from the descriptor");
        let Value::Message(inner) = value else {
            panic!("{path}: {name} is not a message");
        };
        if names.peek().is_none() {
            inner.set_field_by_name("seconds", Value::I64(seconds));
            inner.set_field_by_name("nanos", Value::I32(nanos));
        }
        at = inner;
    }
    message
}

#[tiejun_platform::both_backends]
async fn every_instant_outside_the_range_is_invalid_argument_naming_its_field(db: TestDatabase) {
    let pool = pool();
    let suite = Connected::start(db).await;
    let channel = suite.channel().await;
    let token = tiejun_tests::every_role_token("timestamps");
    let call = async |path: &str, kind: Kind, message: &DynamicMessage| {
        raw::call(
            channel.clone(),
            path,
            kind,
            Bytes::from(message.encode_to_vec()),
            &token,
            Duration::from_secs(1),
        )
        .await
    };
    let rpcs = rpcs(&pool);
    let example = |path: &str| EXAMPLES.iter().find(|(p, _)| *p == path).map(|(_, json)| *json);
    let missing: Vec<_> = rpcs
        .iter()
        .filter(|r| example(&r.path).is_none())
        .map(|r| &r.path)
        .collect();
    assert!(missing.is_empty(), "no well-formed example for {missing:?}");
    let stale: Vec<_> = EXAMPLES
        .iter()
        .filter(|(path, _)| !rpcs.iter().any(|r| r.path == *path))
        .collect();
    assert!(stale.is_empty(), "examples for RPCs without an instant: {stale:?}");
    for (path, json) in SETUP {
        let status = call(path, Kind::Unary, &parse(&input_of(&pool, path), json)).await;
        assert_eq!(status.code(), Code::Ok, "setup {path}: {status:?}");
    }
    let mut checked = 0;
    for rpc in &rpcs {
        let base = parse(&rpc.input, example(&rpc.path).expect("checked above"));
        let status = call(&rpc.path, rpc.kind, &base).await;
        assert!(
            !matches!(
                status.code(),
                Code::InvalidArgument | Code::Internal | Code::Unknown | Code::Unimplemented
            ),
            "{}: the example itself is refused: {status:?}",
            rpc.path
        );
        for field in &rpc.instants {
            let ignored = SERVER_SET.contains(&(rpc.path.as_str(), field.as_str()));
            for value in OUTSIDE {
                let status = call(&rpc.path, rpc.kind, &with_instant(&base, field, value)).await;
                if ignored {
                    assert!(
                        !matches!(status.code(), Code::InvalidArgument | Code::Internal | Code::Unknown),
                        "{} {field} = {value:?} is set by the server: {status:?}",
                        rpc.path
                    );
                    continue;
                }
                assert_eq!(
                    status.code(),
                    Code::InvalidArgument,
                    "{} {field} = {value:?}: {status:?}",
                    rpc.path
                );
                let named: Vec<_> = status
                    .get_details_bad_request()
                    .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
                    .unwrap_or_default();
                assert_eq!(
                    named,
                    std::slice::from_ref(field),
                    "{} {field} = {value:?}: {status:?}",
                    rpc.path
                );
                checked += 1;
            }
            for value in ENDS {
                let status = call(&rpc.path, rpc.kind, &with_instant(&base, field, value)).await;
                assert!(
                    !matches!(status.code(), Code::Internal | Code::Unknown),
                    "{} {field} = {value:?}: {status:?}",
                    rpc.path
                );
            }
        }
    }
    assert!(
        checked >= 4 * 18,
        "{checked} refusals checked; 18 fields a caller sets × 4 values when written"
    );
}

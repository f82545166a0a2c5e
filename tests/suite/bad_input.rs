//! Bad input, generated from the descriptors: for every unary and
//! client-streaming RPC of the three services, proptest builds request
//! messages field by field from the request type (arbitrary and Chinese
//! text, SQL metacharacters, empty and 100,000-character strings, extreme
//! and negative numbers, unknown enum values, timestamps before year 1 and
//! after 9999, missing fields, nested messages) and sends their bytes
//! through the gateway with a token that passes every role gate. Whatever
//! the input: never INTERNAL or UNKNOWN, the servers stay up, and an
//! INVALID_ARGUMENT carries a BadRequest whose violations name fields of
//! the request. Case count: `PROPTEST_CASES` (default 24 per RPC);
//! `FUZZ_TRACE=1` prints every answer.
//!
//! Malformed bytes are answered INTERNAL with "failed to decode Protobuf
//! message": that is the code the gRPC status-code table assigns to a
//! request that does not parse, and tonic follows it; we keep it.

use std::{collections::HashMap, time::Duration};

use bytes::Bytes;
use proptest::{prelude::*, test_runner::TestRunner};
use prost::{
    Message as _,
    encoding::{WireType, encode_key, encode_varint},
};
use prost_types::{DescriptorProto, FieldDescriptorProto, field_descriptor_proto::Type};
use tiejun_platform::testing::TestDatabase;
use tiejun_tests::{
    connected::Connected,
    raw::{self, Kind},
};
use tonic::Code;
use tonic_types::StatusExt as _;

const PACKAGES: [&str; 3] = ["tiejun.leads.v1", "tiejun.billing.v1", "tiejun.training.v1"];

/// Every message type by full name (`.tiejun.leads.v1.LeadInput`).
type Messages = HashMap<String, DescriptorProto>;

/// Every message type, and the unary and client-streaming RPCs of the
/// routed packages with their request type. (A watch with bad input either
/// refuses at once or waits: checked elsewhere.)
fn descriptors() -> (Messages, Vec<(String, Kind, String)>) {
    let fds = prost_types::FileDescriptorSet::decode(tiejun_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let mut messages = Messages::new();
    for file in &fds.file {
        for message in &file.message_type {
            collect(&mut messages, &format!(".{}", file.package()), message);
        }
    }
    let rpcs = tiejun_proto::methods()
        .into_iter()
        .filter(|m| PACKAGES.contains(&m.package.as_str()))
        .filter_map(|m| match Kind::of(&m)? {
            Kind::ServerStreaming => None,
            kind => Some((m.path, kind, m.input_type)),
        })
        .collect();
    (messages, rpcs)
}

fn collect(messages: &mut Messages, scope: &str, message: &DescriptorProto) {
    let name = format!("{scope}.{}", message.name());
    for nested in &message.nested_type {
        collect(messages, &name, nested);
    }
    messages.insert(name, message.clone());
}

/// Text a user, a script or an attacker might send.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        Just("杭州义乌小商品贸易有限公司".to_owned()),
        Just("'; DROP TABLE leads; --".to_owned()),
        Just("%_\\\0\u{202e}😀".to_owned()),
        Just("x".repeat(100_000)),
        Just("   ".to_owned()),
        Just("13800138000".to_owned()),
        Just("a@b".to_owned()),
        any::<String>(),
        "[a-zA-Z0-9_.-]{1,70}",
    ]
    .boxed()
}

fn integer() -> BoxedStrategy<i64> {
    prop_oneof![
        Just(0i64),
        Just(-1),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(i64::from(i32::MIN)),
        Just(i64::from(i32::MAX)),
        Just(50),
        any::<i64>(),
    ]
    .boxed()
}

/// Seconds of a Timestamp or Duration, from before year 1 to after 9999.
fn seconds() -> BoxedStrategy<i64> {
    prop_oneof![
        Just(-62_135_596_801i64),
        Just(0),
        Just(253_402_300_800),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(1_800_000_000),
        any::<i64>(),
    ]
    .boxed()
}

/// The bytes of one field's value, tag included (None: the field is absent).
fn field(messages: &Messages, f: &FieldDescriptorProto, depth: u32) -> BoxedStrategy<Option<Vec<u8>>> {
    let tag = u32::try_from(f.number()).expect("field numbers are positive");
    let one: BoxedStrategy<Vec<u8>> = match f.r#type() {
        Type::String => text().prop_map(move |s| length_delimited(tag, s.as_bytes())).boxed(),
        Type::Bytes => proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(move |b| length_delimited(tag, &b))
            .boxed(),
        Type::Bool => any::<bool>().prop_map(move |b| varint(tag, u64::from(b))).boxed(),
        Type::Int32 | Type::Int64 | Type::Uint32 | Type::Uint64 | Type::Enum => {
            integer().prop_map(move |n| varint(tag, n as u64)).boxed()
        }
        Type::Sint32 | Type::Sint64 => integer()
            .prop_map(move |n| varint(tag, ((n << 1) ^ (n >> 63)) as u64))
            .boxed(),
        Type::Fixed64 | Type::Sfixed64 | Type::Double => integer()
            .prop_map(move |n| fixed(tag, WireType::SixtyFourBit, &n.to_le_bytes()))
            .boxed(),
        Type::Fixed32 | Type::Sfixed32 | Type::Float => integer()
            .prop_map(move |n| fixed(tag, WireType::ThirtyTwoBit, &(n as i32).to_le_bytes()))
            .boxed(),
        Type::Message
            if matches!(
                f.type_name(),
                ".google.protobuf.Timestamp" | ".google.protobuf.Duration"
            ) =>
        {
            (
                seconds(),
                prop_oneof![Just(0i64), Just(-1), Just(999_999_999), Just(1_000_000_000)],
            )
                .prop_map(move |(s, n)| {
                    let mut inner = varint(1, s as u64);
                    inner.extend(varint(2, n as u64));
                    length_delimited(tag, &inner)
                })
                .boxed()
        }
        Type::Message | Type::Group => match messages.get(f.type_name()) {
            Some(nested) if depth < 2 => message(messages, nested, depth + 1)
                .prop_map(move |inner| length_delimited(tag, &inner))
                .boxed(),
            _ => Just(Vec::new()).boxed(),
        },
    };
    let repeated = f.label() == prost_types::field_descriptor_proto::Label::Repeated;
    let value = if repeated {
        proptest::collection::vec(one, 0..4).prop_map(|v| v.concat()).boxed()
    } else {
        one
    };
    proptest::option::weighted(0.7, value).boxed()
}

/// The bytes of a whole message built field by field.
fn message(messages: &Messages, m: &DescriptorProto, depth: u32) -> BoxedStrategy<Vec<u8>> {
    let fields: Vec<_> = m.field.iter().map(|f| field(messages, f, depth)).collect();
    fields
        .prop_map(|parts| parts.into_iter().flatten().flatten().collect())
        .boxed()
}

fn varint(tag: u32, n: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_key(tag, WireType::Varint, &mut buf);
    encode_varint(n, &mut buf);
    buf
}

fn fixed(tag: u32, wire: WireType, bytes: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_key(tag, wire, &mut buf);
    buf.extend_from_slice(bytes);
    buf
}

fn length_delimited(tag: u32, bytes: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_key(tag, WireType::LengthDelimited, &mut buf);
    encode_varint(bytes.len() as u64, &mut buf);
    buf.extend_from_slice(bytes);
    buf
}

/// What is wrong with one answer, if anything.
fn judge(status: &tonic::Status, request: &DescriptorProto) -> Option<String> {
    match status.code() {
        Code::Internal | Code::Unknown | Code::Unavailable | Code::Unimplemented | Code::Unauthenticated => {
            Some(format!("{:?} {:?}", status.code(), status.message()))
        }
        Code::InvalidArgument => {
            let Some(bad) = status.get_details_bad_request() else {
                return Some(format!("INVALID_ARGUMENT without BadRequest: {:?}", status.message()));
            };
            if bad.field_violations.is_empty() {
                return Some("BadRequest without violations".into());
            }
            bad.field_violations.iter().find_map(|v| {
                let first = v.field.split(['.', '[']).next().unwrap_or_default();
                (!request.field.iter().any(|f| f.name() == first))
                    .then(|| format!("violation names {:?}, not a field of {}", v.field, request.name()))
            })
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_bad_input_never_gets_internal_and_names_the_field() {
    let (messages, rpcs) = descriptors();
    assert!(rpcs.len() >= 75, "only {} RPCs", rpcs.len());
    let suite = Connected::start(TestDatabase::sqlite()).await;
    let channel = suite.channel().await;
    let token = tiejun_tests::every_role_token("fuzz");
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let handle = tokio::runtime::Handle::current();
    let calls = std::sync::atomic::AtomicU32::new(0);
    for (path, kind, input) in &rpcs {
        let request = messages.get(input).unwrap_or_else(|| panic!("{input} is described"));
        let strategy = message(&messages, request, 0);
        let mut runner = TestRunner::new(proptest::test_runner::Config {
            cases,
            failure_persistence: None,
            ..Default::default()
        });
        let result = tokio::task::block_in_place(|| {
            runner.run(&strategy, |bytes| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let status = handle.block_on(raw::call(
                    channel.clone(),
                    path,
                    *kind,
                    Bytes::from(bytes),
                    &token,
                    Duration::from_millis(200),
                ));
                if std::env::var("FUZZ_TRACE").is_ok() {
                    eprintln!("{path} {:?} {:.80}", status.code(), status.message());
                }
                match judge(&status, request) {
                    None => Ok(()),
                    Some(wrong) => Err(TestCaseError::fail(format!("{path}: {wrong}"))),
                }
            })
        });
        if let Err(failure) = result {
            panic!("{failure}");
        }
    }
    let calls = calls.into_inner();
    assert!(calls >= rpcs.len() as u32 * cases, "{calls} calls made");
    for svc in [
        tiejun_tests::Svc::Leads,
        tiejun_tests::Svc::Billing,
        tiejun_tests::Svc::Training,
    ] {
        let status = tiejun_tests::health(suite.addr(svc), "").await;
        assert_eq!(
            status,
            Some(tonic_health::pb::health_check_response::ServingStatus::Serving),
            "{svc:?} still up"
        );
    }
}

/// An empty request names no resource, so no RPC may answer it NOT_FOUND
/// for a resource of empty id: an id the call is about is required
/// (`Id::required`, INVALID_ARGUMENT naming the field).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_id_is_refused_as_required_never_looked_up() {
    let (_, rpcs) = descriptors();
    let suite = Connected::start(TestDatabase::sqlite()).await;
    let channel = suite.channel().await;
    let token = tiejun_tests::every_role_token("fuzz");
    let mut looked_up = Vec::new();
    for (path, kind, _) in rpcs.iter().filter(|(_, kind, _)| *kind == Kind::Unary) {
        let status = raw::call(
            channel.clone(),
            path,
            *kind,
            Bytes::new(),
            &token,
            Duration::from_secs(5),
        )
        .await;
        let names_nothing = status
            .get_details_resource_info()
            .is_some_and(|info| info.resource_name.is_empty());
        if status.code() == Code::NotFound && names_nothing {
            looked_up.push(format!("{path}: {}", status.message()));
        }
    }
    assert!(looked_up.is_empty(), "looked up an empty id: {looked_up:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bytes_and_oversized_requests_through_the_gateway_get_a_clear_code_and_everything_stays_up() {
    let suite = Connected::start(TestDatabase::sqlite()).await;
    let channel = suite.channel().await;
    let token = tiejun_tests::every_role_token("fuzz");
    let path = "/tiejun.leads.v1.RepService/RegisterRep";
    let malformed: [&[u8]; 4] = [
        &[0xff; 10],                           // no valid field key
        &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], // a length far past the end
        &[0x08, 0x80],                         // a varint cut short
        &[0x0a, 0x02, 0xc3, 0x28],             // a string that is not UTF-8
    ];
    for bytes in malformed {
        let status = raw::call(
            channel.clone(),
            path,
            Kind::Unary,
            Bytes::copy_from_slice(bytes),
            &token,
            Duration::from_millis(200),
        )
        .await;
        assert_eq!(status.code(), Code::Internal, "{bytes:?}: {status:?}");
        assert!(status.message().contains("decode"), "{bytes:?}: {status:?}");
    }
    let oversized = Bytes::from(length_delimited(2, &vec![b'x'; 5 * 1024 * 1024]));
    let status = raw::call(
        channel.clone(),
        path,
        Kind::Unary,
        oversized,
        &token,
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    for svc in [
        tiejun_tests::Svc::Leads,
        tiejun_tests::Svc::Billing,
        tiejun_tests::Svc::Training,
    ] {
        assert_eq!(
            tiejun_tests::health(suite.addr(svc), "").await,
            Some(tonic_health::pb::health_check_response::ServingStatus::Serving),
            "{svc:?} still up"
        );
    }
    let after = raw::call(
        channel,
        path,
        Kind::Unary,
        Bytes::new(),
        &token,
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(
        after.code(),
        Code::InvalidArgument,
        "the gateway still forwards: {after:?}"
    );
}

#[tiejun_platform::both_backends]
async fn sql_metacharacters_are_stored_and_returned_verbatim(db: TestDatabase) {
    use tiejun_proto::leads::v1::{CreateLeadRequest, GetLeadRequest, LeadInput};
    use tiejun_tests::{authed, leads::LeadsFixture};
    let f = LeadsFixture::start(db).await;
    let mut leads = f.leads().await;
    let input = LeadInput {
        company_name: "O'Brien & Sons'); DROP TABLE leads; -- 杭州".into(),
        contact_name: "Robert'); DELETE FROM reps; --".into(),
        phone: "13912345678".into(),
        city: "Hangzhou".into(),
        industry: "100% _wild\\cards_".into(),
        source: "\"quoted\" `back` $1 ?".into(),
        score: 50,
        ..Default::default()
    };
    let created = leads
        .create_lead(authed(
            CreateLeadRequest {
                lead: Some(input.clone()),
                idempotency_key: String::new(),
            },
            &tiejun_tests::leads::admin(),
        ))
        .await
        .expect("stored")
        .into_inner()
        .lead
        .expect("lead");
    let read = leads
        .get_lead(authed(
            GetLeadRequest {
                lead_id: created.lead_id.clone(),
            },
            &tiejun_tests::leads::admin(),
        ))
        .await
        .expect("read")
        .into_inner()
        .lead
        .expect("lead");
    assert_eq!(read.company_name, input.company_name);
    assert_eq!(read.contact_name, input.contact_name);
    assert_eq!(read.industry, input.industry);
    assert_eq!(read.source, input.source);
}

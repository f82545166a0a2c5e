//! The gateway's web edge, over HTTP/1.1 as `curl` and browsers call it:
//! the Connect protocol with JSON (unary POST and GET, server and client
//! streams, errors with their `google.rpc` details, the deadline, the size
//! limit, the token) and gRPC-Web (binary and base64 text, unary and a
//! server stream), CORS for the allowed origin only. Backends: the bare echo
//! service and a real lead-distribution, so a rep's `WatchRepEvents` is seen
//! delivering a real assignment.

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::{Value, json};
use tiejun_gateway::{BackendSpec, GatewayTuning};
use tiejun_platform::testing::TestDatabase;
use tiejun_tests::{
    echo, gateway,
    leads::{LeadsFixture, admin, lead_input, rep_token},
    wait_serving,
};

const ORIGIN: &str = "https://backoffice.example.com";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    trailers: HeaderMap,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

async fn http(
    addr: std::net::SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder().method(method).uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .expect("an HTTP answer");
    let (parts, body) = response.into_parts();
    let collected = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .expect("the body within 10 s")
        .expect("a whole body");
    Answer {
        status: parts.status,
        headers: parts.headers,
        trailers: collected.trailers().cloned().unwrap_or_default(),
        body: collected.to_bytes(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn envelope(flags: u8, data: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.put_u8(flags);
    out.put_u32(data.len() as u32);
    out.put_slice(data);
    out.to_vec()
}

/// Connect envelopes (or gRPC-Web frames): flags and data.
fn unframe(mut body: &[u8]) -> Vec<(u8, Bytes)> {
    let mut out = Vec::new();
    while body.len() >= 5 {
        let flags = body.get_u8();
        let len = body.get_u32() as usize;
        out.push((flags, Bytes::copy_from_slice(&body[..len])));
        body.advance(len);
    }
    assert!(body.is_empty(), "a partial frame at the end");
    out
}

struct Edge {
    gateway: tiejun_tests::Running,
    _echo: tiejun_tests::Running,
    leads: LeadsFixture,
}

async fn start(db: TestDatabase) -> Edge {
    let leads = LeadsFixture::start(db).await;
    let echo = echo::start(|_| {}).await;
    let tuning = GatewayTuning {
        cors_allow_origins: vec![ORIGIN.into()],
        ..gateway::fast_tuning()
    };
    let backends = vec![
        gateway::echo_backend(&[echo.addr]),
        BackendSpec::parse("tiejun.leads.v1", &[format!("http://{}", leads.server.addr)]).expect("leads"),
    ];
    let gateway = gateway::start(
        backends,
        tuning,
        std::sync::Arc::new(tiejun_gateway::SystemResolver),
        |_| {},
    )
    .await;
    assert!(
        wait_serving(gateway.addr, Duration::from_secs(30)).await,
        "gateway SERVING"
    );
    Edge {
        gateway,
        _echo: echo,
        leads,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_json_unary_calls_and_their_errors_over_http_1() {
    let edge = start(TestDatabase::sqlite()).await;
    let addr = edge.gateway.addr;
    let admin = bearer(&admin());
    let json_post = |path: &'static str, body: Value, token: Option<String>| {
        let token = token.clone();
        async move {
            let mut headers = vec![("content-type", "application/json")];
            let auth;
            if let Some(t) = &token {
                auth = t.clone();
                headers.push(("authorization", auth.as_str()));
            }
            http(
                addr,
                Method::POST,
                path,
                &headers,
                serde_json::to_vec(&body).expect("json"),
            )
            .await
        }
    };

    // A write and a read, names in lowerCamel, enums by name.
    let registered = json_post(
        "/tiejun.leads.v1.RepService/RegisterRep",
        json!({"personId": "E7001", "name": "Rep E7001", "team": "Hangzhou-1", "city": "杭州"}),
        Some(admin.clone()),
    )
    .await;
    assert_eq!(registered.status, StatusCode::OK, "{:?}", registered.body);
    assert_eq!(registered.headers["content-type"], "application/json");
    let rep = registered.json();
    assert_eq!(rep["rep"]["personId"], "E7001", "{rep}");
    assert_eq!(rep["rep"]["status"], "REP_STATUS_ONBOARDING", "{rep}");

    // Connect's GET form, for a method free of side effects.
    let message = "%7B%22personId%22%3A%22E7001%22%7D";
    let got = http(
        addr,
        Method::GET,
        &format!("/tiejun.leads.v1.RepService/GetRep?encoding=json&message={message}"),
        &[("authorization", admin.as_str())],
        Vec::new(),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(got.json()["rep"]["name"], "Rep E7001");
    let base64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"personId":"E7001"}"#);
    let got = http(
        addr,
        Method::GET,
        &format!("/tiejun.leads.v1.RepService/GetRep?encoding=json&base64=1&message={base64}"),
        &[("authorization", admin.as_str())],
        Vec::new(),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    let get_write = http(
        addr,
        Method::GET,
        &format!("/tiejun.leads.v1.RepService/RegisterRep?encoding=json&message={message}"),
        &[("authorization", admin.as_str())],
        Vec::new(),
    )
    .await;
    assert_eq!(get_write.json()["code"], "unimplemented", "GET may not write");

    // Errors: the mapped HTTP status, the code's name, the details readable.
    let missing = json_post(
        "/tiejun.leads.v1.LeadService/GetLead",
        json!({"leadId": "L-NONE"}),
        Some(admin.clone()),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let error = missing.json();
    assert_eq!(error["code"], "not_found");
    assert_eq!(error["details"][0]["type"], "google.rpc.ResourceInfo");
    assert_eq!(error["details"][0]["debug"]["resourceName"], "L-NONE");
    assert!(error["details"][0]["value"].as_str().is_some_and(|v| !v.is_empty()));

    let invalid = json_post(
        "/tiejun.leads.v1.RepService/RegisterRep",
        json!({"personId": "E7002", "name": "Rep", "team": "T", "city": "杭州", "dailyQuota": 99}),
        Some(admin.clone()),
    )
    .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let error = invalid.json();
    assert_eq!(error["code"], "invalid_argument");
    assert_eq!(
        error["details"][0]["debug"]["fieldViolations"][0]["field"],
        "daily_quota"
    );

    let unknown = json_post(
        "/tiejun.leads.v1.LeadService/GetLead",
        json!({"leadId": "L1", "bogus": true}),
        Some(admin.clone()),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.json()["message"].as_str().is_some_and(|m| m.contains("bogus")));

    let anonymous = json_post("/tiejun.leads.v1.LeadService/GetLead", json!({"leadId": "L1"}), None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.json()["code"], "unauthenticated");

    let bad_timeout = http(
        addr,
        Method::POST,
        "/tiejun.leads.v1.LeadService/GetLead",
        &[
            ("content-type", "application/json"),
            ("authorization", admin.as_str()),
            ("connect-timeout-ms", "soon"),
        ],
        br#"{"leadId":"L1"}"#.to_vec(),
    )
    .await;
    assert_eq!(bad_timeout.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad_timeout.json()["details"][0]["debug"]["fieldViolations"][0]["field"],
        "connect-timeout-ms"
    );

    let oversized = http(
        addr,
        Method::POST,
        "/tiejun.leads.v1.LeadService/GetLead",
        &[("content-type", "application/json"), ("authorization", admin.as_str())],
        format!(r#"{{"leadId":"{}"}}"#, "x".repeat(5 * 1024 * 1024)).into_bytes(),
    )
    .await;
    assert_eq!(oversized.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(oversized.json()["code"], "resource_exhausted");

    let no_such = json_post(
        "/tiejun.leads.v1.LeadService/NoSuchMethod",
        json!({}),
        Some(admin.clone()),
    )
    .await;
    assert_eq!(no_such.json()["code"], "unimplemented");
    let _ = &edge.leads;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_streams_both_ways_and_a_deadline_ends_a_watch() {
    let edge = start(TestDatabase::sqlite()).await;
    let addr = edge.gateway.addr;
    let admin = bearer(&admin());
    let stream_headers = [
        ("content-type", "application/connect+json"),
        ("authorization", admin.as_str()),
    ];

    // Server streaming: three messages, then an end-of-stream without error.
    let expand = http(
        addr,
        Method::POST,
        "/tiejun.bench.v1.StreamService/Expand",
        &stream_headers,
        envelope(0, br#"{"payload":"aGk=","count":3}"#),
    )
    .await;
    assert_eq!(expand.status, StatusCode::OK);
    assert_eq!(expand.headers["content-type"], "application/connect+json");
    let frames = unframe(&expand.body);
    assert_eq!(frames.len(), 4, "three messages and the end: {frames:?}");
    let indexes: Vec<Value> = frames[..3]
        .iter()
        .map(|(flags, data)| {
            assert_eq!(*flags, 0);
            serde_json::from_slice::<Value>(data).expect("json")["payload"].clone()
        })
        .collect();
    assert_eq!(indexes, vec![json!("aGk="); 3]);
    assert_eq!(frames[3].0, 0x02, "end of stream");
    let end: Value = serde_json::from_slice(&frames[3].1).expect("json");
    assert!(end.get("error").is_none(), "{end}");

    // Client streaming: three envelopes in, one message and the end out.
    let mut body = Vec::new();
    for _ in 0..3 {
        body.extend(envelope(0, br#"{"payload":"aGk="}"#));
    }
    let collect = http(
        addr,
        Method::POST,
        "/tiejun.bench.v1.StreamService/Collect",
        &stream_headers,
        body,
    )
    .await;
    let frames = unframe(&collect.body);
    let answer: Value = serde_json::from_slice(&frames[0].1).expect("json");
    assert_eq!(answer["count"], 3, "{answer}");

    // A watch with a deadline ends at it, DEADLINE_EXCEEDED in the end message.
    let started = Instant::now();
    let watch = http(
        addr,
        Method::POST,
        "/tiejun.leads.v1.LeadService/WatchRepEvents",
        &[
            ("content-type", "application/connect+json"),
            ("authorization", admin.as_str()),
            ("connect-timeout-ms", "300"),
        ],
        envelope(0, br#"{"personId":"E7100"}"#),
    )
    .await;
    let took = started.elapsed();
    let frames = unframe(&watch.body);
    let end: Value = serde_json::from_slice(&frames.last().expect("an end").1).expect("json");
    assert_eq!(end["error"]["code"], "deadline_exceeded", "{end}");
    assert!(took < Duration::from_secs(3), "ended after {took:?}");

    // A rep's live feed delivers a real assignment as JSON.
    edge.leads.active_reps(&["E7100"], 0).await;
    let lead = edge.leads.import(vec![lead_input(1, "杭州", 60)]).await.remove(0);
    let rep = bearer(&rep_token("E7100"));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::post(format!("http://{addr}/tiejun.leads.v1.LeadService/WatchRepEvents"))
        .header("content-type", "application/connect+json")
        .header("authorization", rep.as_str())
        .body(Full::new(Bytes::from(envelope(0, br#"{"personId":"E7100"}"#))))
        .expect("request");
    let response = client.request(request).await.expect("the watch opens");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let claimed = http(
        addr,
        Method::POST,
        "/tiejun.leads.v1.LeadService/ClaimLead",
        &[("content-type", "application/json"), ("authorization", rep.as_str())],
        serde_json::to_vec(&json!({"leadId": lead})).expect("json"),
    )
    .await;
    assert_eq!(claimed.status, StatusCode::OK, "{:?}", claimed.body);
    let mut seen = BytesMut::new();
    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame = body.frame().await.expect("the feed stays open").expect("a frame");
            if let Ok(data) = frame.into_data() {
                seen.extend_from_slice(&data);
                if let Some((0, message)) = unframe_prefix(&seen) {
                    return serde_json::from_slice::<Value>(&message).expect("json");
                }
            }
        }
    })
    .await
    .expect("an event within 10 s");
    assert_eq!(event["assigned"]["lead"]["leadId"], json!(lead), "{event}");
}

/// The first whole envelope of `buf`, if there is one.
fn unframe_prefix(buf: &[u8]) -> Option<(u8, Bytes)> {
    if buf.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    (buf.len() >= 5 + len).then(|| (buf[0], Bytes::copy_from_slice(&buf[5..5 + len])))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_binary_and_text_and_cors_for_the_allowed_origin_only() {
    let edge = start(TestDatabase::sqlite()).await;
    let addr = edge.gateway.addr;
    let admin = bearer(&admin());
    // EchoRequest { payload: "hi" } as a gRPC frame.
    let request = envelope(0, &[0x0a, 0x02, b'h', b'i']);
    let unary = http(
        addr,
        Method::POST,
        "/tiejun.bench.v1.EchoService/Echo",
        &[
            ("content-type", "application/grpc-web+proto"),
            ("x-grpc-web", "1"),
            ("authorization", admin.as_str()),
        ],
        request.clone(),
    )
    .await;
    assert_eq!(unary.status, StatusCode::OK);
    let frames = unframe(&unary.body);
    assert_eq!(frames[0].0, 0);
    assert!(
        frames[0].1.starts_with(&[0x0a, 0x02, b'h', b'i']),
        "the echoed payload: {frames:?}"
    );
    let trailer = String::from_utf8_lossy(&frames.last().expect("trailers").1).to_lowercase();
    assert_eq!(frames.last().expect("trailers").0, 0x80, "trailers in the body");
    assert!(trailer.contains("grpc-status:0"), "{trailer}");

    let text = http(
        addr,
        Method::POST,
        "/tiejun.bench.v1.EchoService/Echo",
        &[
            ("content-type", "application/grpc-web-text"),
            ("accept", "application/grpc-web-text"),
            ("authorization", admin.as_str()),
        ],
        base64::engine::general_purpose::STANDARD.encode(&request).into_bytes(),
    )
    .await;
    assert_eq!(text.status, StatusCode::OK);
    let decoded: Vec<u8> = String::from_utf8_lossy(&text.body)
        .split_inclusive('=')
        .flat_map(|chunk| {
            base64::engine::general_purpose::STANDARD
                .decode(chunk)
                .expect("base64 chunks")
        })
        .collect();
    assert!(
        unframe(&decoded)[0].1.starts_with(&[0x0a, 0x02, b'h', b'i']),
        "{decoded:?}"
    );

    // A server stream: ExpandRequest { payload: "hi", count: 2 }.
    let expand = http(
        addr,
        Method::POST,
        "/tiejun.bench.v1.StreamService/Expand",
        &[
            ("content-type", "application/grpc-web+proto"),
            ("authorization", admin.as_str()),
        ],
        envelope(0, &[0x0a, 0x02, b'h', b'i', 0x10, 0x02]),
    )
    .await;
    let frames = unframe(&expand.body);
    assert_eq!(frames.iter().filter(|(f, _)| *f == 0).count(), 2, "{frames:?}");

    // An error's status and details travel in the trailer frame.
    let denied = http(
        addr,
        Method::POST,
        "/tiejun.bench.v1.EchoService/Echo",
        &[("content-type", "application/grpc-web+proto")],
        request.clone(),
    )
    .await;
    let frames = unframe(&denied.body);
    let status = denied
        .headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .or_else(|| {
            frames.last().and_then(|(_, t)| {
                String::from_utf8_lossy(t)
                    .lines()
                    .find_map(|l| l.strip_prefix("grpc-status:").map(|s| s.trim().to_owned()))
            })
        });
    assert_eq!(status.as_deref(), Some("16"), "UNAUTHENTICATED without a token");
    let _ = denied.trailers;

    // CORS: the allowed origin's preflight is answered, another's is not.
    let preflight = async |origin: &'static str| {
        http(
            addr,
            Method::OPTIONS,
            "/tiejun.leads.v1.LeadService/GetLead",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization,content-type"),
            ],
            Vec::new(),
        )
        .await
    };
    let allowed = preflight(ORIGIN).await;
    assert!(allowed.status.is_success(), "{:?}", allowed.status);
    assert_eq!(allowed.headers["access-control-allow-origin"], ORIGIN);
    let allow_headers = allowed.headers["access-control-allow-headers"].to_str().expect("ascii");
    assert!(allow_headers.contains("authorization"), "{allow_headers}");
    let other = preflight("https://evil.example.com").await;
    assert!(
        other.headers.get("access-control-allow-origin").is_none(),
        "{:?}",
        other.headers
    );
    let simple = http(
        addr,
        Method::POST,
        "/tiejun.leads.v1.LeadService/GetLead",
        &[
            ("origin", ORIGIN),
            ("content-type", "application/json"),
            ("authorization", admin.as_str()),
        ],
        br#"{"leadId":"L-NONE"}"#.to_vec(),
    )
    .await;
    assert_eq!(simple.headers["access-control-allow-origin"], ORIGIN);
    assert_eq!(simple.status, StatusCode::NOT_FOUND);
}

/// Bodies a careless or hostile client sends as Connect JSON.
const JUNK: [&[u8]; 8] = [
    b"",
    b"{}",
    b"not json",
    b"[]",
    b"{\"unknownField\": 1}",
    b"{\"a\": {\"b\": {\"c\": [[[[[[[[[[1]]]]]]]]]]}}}",
    b"\xff\xfe\x00binary",
    b"{\"pageSize\": \"many\", \"leadId\": 7}",
];

/// Every unary RPC of the three services, from the descriptors, answers
/// every junk body over Connect with a precise code: never `internal` or
/// `unknown`, never an HTTP 5xx but `unavailable`'s 503, and the suite
/// stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_answers_junk_connect_bodies_with_a_precise_code() {
    let suite = tiejun_tests::connected::Connected::start(TestDatabase::sqlite()).await;
    let addr = suite.gateway.addr;
    let token = bearer(&tiejun_tests::every_role_token("junk"));
    let rpcs: Vec<_> = tiejun_proto::methods()
        .into_iter()
        .filter(|m| ["tiejun.leads.v1", "tiejun.billing.v1", "tiejun.training.v1"].contains(&m.package.as_str()))
        .filter(|m| !m.client_streaming && !m.server_streaming)
        .collect();
    assert!(rpcs.len() > 60, "{} unary RPCs", rpcs.len());
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for rpc in &rpcs {
        for body in JUNK {
            let answer = http(
                addr,
                Method::POST,
                &rpc.path,
                &[("content-type", "application/json"), ("authorization", token.as_str())],
                body.to_vec(),
            )
            .await;
            let code = if answer.status == StatusCode::OK {
                "ok".to_owned()
            } else {
                answer.json()["code"].as_str().unwrap_or("none").to_owned()
            };
            assert!(
                !matches!(code.as_str(), "internal" | "unknown" | "none"),
                "{} with {:?}: {} {:?}",
                rpc.path,
                String::from_utf8_lossy(body),
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
            assert!(
                !answer.status.is_server_error() || answer.status == StatusCode::SERVICE_UNAVAILABLE,
                "{}: HTTP {}",
                rpc.path,
                answer.status
            );
            *seen.entry(code).or_default() += 1;
        }
    }
    println!("{} calls: {seen:?}", rpcs.len() * JUNK.len());
    assert!(
        seen.get("invalid_argument").is_some_and(|n| *n > rpcs.len()),
        "{seen:?}"
    );
    assert!(
        wait_serving(addr, Duration::from_secs(5)).await,
        "the gateway is still up"
    );
}

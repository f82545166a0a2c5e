//! `tiejun up` exporting to an OpenTelemetry collector, read back as an
//! operator's Jaeger, Tempo or Grafana would: trace trees, span kinds and
//! names, statuses, one service per component, metric counts and buckets,
//! silence at idle, and a collector that is down or never answers.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_tiejun");

/// The collector in the test: every span and metric point it receives,
/// flattened to what the assertions read.
mod collector {
    use std::{
        collections::BTreeMap,
        sync::{Arc, Mutex},
    };

    use opentelemetry_proto::tonic::{
        collector::{
            metrics::v1::{
                ExportMetricsServiceRequest, ExportMetricsServiceResponse,
                metrics_service_server::{MetricsService, MetricsServiceServer},
            },
            trace::v1::{
                ExportTraceServiceRequest, ExportTraceServiceResponse,
                trace_service_server::{TraceService, TraceServiceServer},
            },
        },
        common::v1::{KeyValue, any_value::Value},
        metrics::v1::{metric::Data, number_data_point},
    };
    use tonic::{Request, Response, Status};

    /// One span as received.
    #[derive(Debug, Clone)]
    pub struct Span {
        pub service: String,
        pub trace: String,
        pub id: String,
        pub parent: String,
        pub name: String,
        /// Start, in nanoseconds since the epoch.
        pub start: u64,
        /// `SERVER`, `CLIENT`, `PRODUCER`, `CONSUMER` or `INTERNAL`.
        pub kind: &'static str,
        pub error: bool,
        pub attributes: BTreeMap<String, String>,
        /// `trace/span` of each link.
        pub links: Vec<String>,
    }

    /// One metric point as received (the last export wins: cumulative).
    #[derive(Debug, Clone, Default)]
    pub struct Point {
        pub service: String,
        pub name: String,
        pub unit: String,
        pub attributes: BTreeMap<String, String>,
        /// A histogram's count, a sum's or gauge's value.
        pub value: f64,
        pub bounds: Vec<f64>,
    }

    /// What arrived.
    #[derive(Debug, Default, Clone)]
    pub struct Received {
        pub spans: Arc<Mutex<Vec<Span>>>,
        pub points: Arc<Mutex<Vec<Point>>>,
    }

    fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
        match value.and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => s.clone(),
            Some(Value::IntValue(i)) => i.to_string(),
            Some(Value::BoolValue(b)) => b.to_string(),
            Some(Value::DoubleValue(d)) => d.to_string(),
            other => format!("{other:?}"),
        }
    }

    fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
        list.iter()
            .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
            .collect()
    }

    fn service(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
        resource
            .map(|r| attributes(&r.attributes))
            .and_then(|a| a.get("service.name").cloned())
            .unwrap_or_default()
    }

    #[tonic::async_trait]
    impl TraceService for Received {
        async fn export(
            &self,
            request: Request<ExportTraceServiceRequest>,
        ) -> Result<Response<ExportTraceServiceResponse>, Status> {
            let mut spans = self.spans.lock().expect("lock");
            for resource in request.into_inner().resource_spans {
                let service = service(resource.resource.as_ref());
                for scope in resource.scope_spans {
                    for span in scope.spans {
                        spans.push(Span {
                            service: service.clone(),
                            trace: hex::encode(&span.trace_id),
                            id: hex::encode(&span.span_id),
                            parent: hex::encode(&span.parent_span_id),
                            start: span.start_time_unix_nano,
                            kind: match span.kind {
                                2 => "SERVER",
                                3 => "CLIENT",
                                4 => "PRODUCER",
                                5 => "CONSUMER",
                                _ => "INTERNAL",
                            },
                            error: span.status.as_ref().is_some_and(|s| s.code == 2),
                            attributes: attributes(&span.attributes),
                            links: span
                                .links
                                .iter()
                                .map(|l| format!("{}/{}", hex::encode(&l.trace_id), hex::encode(&l.span_id)))
                                .collect(),
                            name: span.name,
                        });
                    }
                }
            }
            Ok(Response::new(ExportTraceServiceResponse::default()))
        }
    }

    #[tonic::async_trait]
    impl MetricsService for Received {
        async fn export(
            &self,
            request: Request<ExportMetricsServiceRequest>,
        ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
            let mut points = self.points.lock().expect("lock");
            for resource in request.into_inner().resource_metrics {
                let service = service(resource.resource.as_ref());
                for scope in resource.scope_metrics {
                    for metric in scope.metrics {
                        let point = |attrs: &[KeyValue], value: f64, bounds: Vec<f64>| Point {
                            service: service.clone(),
                            name: metric.name.clone(),
                            unit: metric.unit.clone(),
                            attributes: attributes(attrs),
                            value,
                            bounds,
                        };
                        let number = |v: &Option<number_data_point::Value>| match v {
                            Some(number_data_point::Value::AsInt(i)) => *i as f64,
                            Some(number_data_point::Value::AsDouble(d)) => *d,
                            None => f64::NAN,
                        };
                        match &metric.data {
                            Some(Data::Histogram(h)) => points.extend(
                                h.data_points
                                    .iter()
                                    .map(|p| point(&p.attributes, p.count as f64, p.explicit_bounds.clone())),
                            ),
                            Some(Data::Sum(s)) => points.extend(
                                s.data_points
                                    .iter()
                                    .map(|p| point(&p.attributes, number(&p.value), Vec::new())),
                            ),
                            Some(Data::Gauge(g)) => points.extend(
                                g.data_points
                                    .iter()
                                    .map(|p| point(&p.attributes, number(&p.value), Vec::new())),
                            ),
                            _ => {}
                        }
                    }
                }
            }
            Ok(Response::new(ExportMetricsServiceResponse::default()))
        }
    }

    /// Serves the collector on `listener`.
    pub async fn serve(listener: tokio::net::TcpListener, received: Received) {
        let _ = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(received.clone()))
            .add_service(MetricsServiceServer::new(received))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    }
}

use collector::{Point, Received, Span};

/// `tiejun up` exporting to `endpoint`, once its banner is printed: the
/// process, its banner lines, and its stderr lines as they come.
struct Up {
    child: Child,
    lines: Vec<String>,
    stderr: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Up {
    fn start(endpoint: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(BIN)
            .args(["up", "--port", "0", "--data-dir", dir.path().to_str().expect("utf8")])
            .env_remove("TIEJUN_JWT_SECRET")
            .env_remove("DATABASE_URL")
            .env_remove("OTEL_SERVICE_NAME")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tiejun up");
        let lines_of = |pipe: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stdout = lines_of(Box::new(child.stdout.take().expect("piped")));
        let stderr = lines_of(Box::new(child.stderr.take().expect("piped")));
        let lines = common::banner_lines(&stdout, &mut child);
        Self {
            child,
            lines,
            stderr,
            _dir: dir,
        }
    }

    fn banner(&self, prefix: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {:?}", self.lines))
            .to_owned()
    }

    fn data_dir(&self) -> String {
        self._dir.path().join("").to_string_lossy().into_owned()
    }

    /// SIGTERM, then how long the process took to exit.
    fn stop(mut self) -> Duration {
        let asked = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        asked.elapsed()
    }

    fn stderr_lines(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

/// A collector listening on a free port, and its address as a URL.
async fn start_collector() -> (Received, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let received = Received::default();
    tokio::spawn(collector::serve(listener, received.clone()));
    (received, endpoint)
}

fn request<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().expect("ascii"));
    request
}

/// Waits until `done` holds of what arrived, or fails saying what did.
async fn until(received: &Received, what: &str, done: impl Fn(&[Span], &[Point]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        {
            let spans = received.spans.lock().expect("lock");
            let points = received.points.lock().expect("lock");
            if done(&spans, &points) {
                return;
            }
            if Instant::now() > deadline {
                let names: Vec<_> = spans.iter().map(|s| (&s.service, &s.name, s.kind)).collect();
                panic!("{what}: not received within 20 s; spans: {names:#?}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The one span of `trace` with this service, kind and name.
fn one<'a>(spans: &'a [Span], trace: &str, service: &str, kind: &str, name: &str) -> &'a Span {
    let found: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace == trace && s.service == service && s.kind == kind && s.name == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind} span {name:?} of {service} in trace {trace}; the trace holds {:#?}",
        spans
            .iter()
            .filter(|s| s.trace == trace)
            .map(|s| (&s.service, s.kind, &s.name, &s.id, &s.parent))
            .collect::<Vec<_>>()
    );
    found[0]
}

/// The trace a SERVER span of `service` named `name` is the root of.
fn rooted(spans: &[Span], service: &str, name: &str) -> Option<String> {
    spans
        .iter()
        .find(|s| s.service == service && s.kind == "SERVER" && s.name == name && s.parent.chars().all(|c| c == '0'))
        .map(|s| s.trace.clone())
}

/// The tree of `trace` as an operator's trace view draws it (printed by the
/// test; `--nocapture` shows it).
fn tree(spans: &[Span], trace: &str) -> String {
    fn below(spans: &[Span], trace: &str, parent: &str, depth: usize, out: &mut String) {
        let is_root = |p: &str| p.chars().all(|c| c == '0');
        let mut children: Vec<&Span> = spans
            .iter()
            .filter(|s| s.trace == trace && (s.parent == parent || is_root(parent) && is_root(&s.parent)))
            .collect();
        children.sort_by_key(|s| s.start);
        for span in children {
            let status = span
                .attributes
                .get("rpc.grpc.status_code")
                .map(|c| format!(" code={c}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{}{} {} [{}]{status}\n",
                "  ".repeat(depth),
                span.kind,
                span.name,
                span.service
            ));
            below(spans, trace, &span.id, depth + 1, out);
        }
    }
    let mut out = String::new();
    below(spans, trace, "", 0, &mut out);
    out
}

/// Asserts the chain of an event-producing call: gateway SERVER → gateway
/// CLIENT → service SERVER (with its statements) → PRODUCER → CONSUMER →
/// relay CLIENT → consumer SERVER (with its statements), one trace.
fn assert_event_chain(spans: &[Span], call: &str, producer: &str, event: &str, consumer: &str, consumer_write: &str) {
    let trace = rooted(spans, "tiejun-gateway", call).unwrap_or_else(|| panic!("no root gateway span of {call}"));
    eprintln!("{}", tree(spans, &trace));
    let gateway = one(spans, &trace, "tiejun-gateway", "SERVER", call);
    let hop = one(spans, &trace, "tiejun-gateway", "CLIENT", call);
    assert_eq!(
        hop.parent, gateway.id,
        "the gateway's CLIENT span is its SERVER span's child"
    );
    let served = one(spans, &trace, producer, "SERVER", call);
    assert_eq!(
        served.parent, hop.id,
        "{producer}'s SERVER span continues the gateway's CLIENT span"
    );
    assert!(
        spans.iter().any(|s| s.trace == trace
            && s.service == producer
            && s.kind == "CLIENT"
            && s.parent == served.id
            && s.attributes.get("db.system").is_some_and(|d| d == "sqlite")
            && s.attributes.contains_key("db.query.text")
            && s.attributes.contains_key("db.namespace")),
        "{producer}'s statements are CLIENT spans of its call"
    );
    let publish = one(spans, &trace, producer, "PRODUCER", &format!("publish {event}"));
    assert_eq!(publish.parent, served.id);
    assert_eq!(
        publish.attributes.get("messaging.destination.name").map(String::as_str),
        Some(event)
    );
    let process = one(spans, &trace, producer, "CONSUMER", &format!("process {event}"));
    assert_eq!(
        process.parent, publish.id,
        "the first delivery continues the producer's span"
    );
    assert!(
        process.links.is_empty(),
        "a first delivery needs no link: {:?}",
        process.links
    );
    let deliver = "tiejun.events.v1.EventConsumerService/Deliver";
    let call_out = one(spans, &trace, producer, "CLIENT", deliver);
    assert_eq!(call_out.parent, process.id);
    let applied = one(spans, &trace, consumer, "SERVER", deliver);
    assert_eq!(
        applied.parent, call_out.id,
        "{consumer}'s SERVER span continues the relay's CLIENT span"
    );
    assert!(
        spans.iter().any(|s| s.trace == trace
            && s.service == consumer
            && s.kind == "CLIENT"
            && s.parent == applied.id
            && s.name == consumer_write),
        "{consumer}'s {consumer_write:?} is a statement span of its Deliver"
    );
}

/// The value of the last point of `name` from `service` whose attributes
/// include `with`.
fn last(points: &[Point], service: &str, name: &str, with: &[(&str, &str)]) -> Option<Point> {
    points
        .iter()
        .rev()
        .find(|p| {
            p.service == service
                && p.name == name
                && with.iter().all(|(k, v)| p.attributes.get(*k).is_some_and(|a| a == v))
        })
        .cloned()
}

/// The metric names a PromQL expression reads: label matchers, ranges,
/// strings and grouping clauses removed, what remains that is not a
/// function, a keyword or a number.
fn promql_metrics(expr: &str) -> BTreeSet<String> {
    let mut plain = String::new();
    let mut depth = 0;
    let mut quoted = false;
    for c in expr.chars() {
        match c {
            '"' => quoted = !quoted,
            _ if quoted => {}
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ if depth > 0 => {}
            c => plain.push(c),
        }
    }
    // Identifiers and single punctuation marks, in order.
    let mut tokens: Vec<String> = Vec::new();
    for c in plain.chars() {
        let ident = c.is_ascii_alphanumeric() || c == '_' || c == ':';
        match tokens.last_mut() {
            Some(last) if ident && last.chars().all(|l| l.is_ascii_alphanumeric() || l == '_' || l == ':') => {
                last.push(c)
            }
            _ if c.is_whitespace() => tokens.push(String::new()),
            _ => tokens.push(c.to_string()),
        }
    }
    tokens.retain(|t| !t.is_empty());
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        let next = tokens.get(i + 1).map(String::as_str);
        let grouping = matches!(
            token.as_str(),
            "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
        );
        if grouping && next == Some("(") {
            while i < tokens.len() && tokens[i] != ")" {
                i += 1;
            }
        } else if next != Some("(")
            && token.contains('_')
            && !token.starts_with(|c: char| c.is_ascii_digit())
            && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            names.insert(token.clone());
        }
        i += 1;
    }
    names
}

/// Every expression of the dashboard and the alert rules in
/// `deploy/observability`.
fn observability_exprs() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/observability");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("grafana/tiejun.json")).expect("dashboard"))
            .expect("the dashboard is JSON");
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    let rules = std::fs::read_to_string(root.join("prometheus/alerts.yml")).expect("alert rules");
    let mut lines = rules.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((indent, value)) = line.split_once("expr:") else {
            continue;
        };
        let value = value.trim();
        if value != "|" {
            exprs.push(value.to_owned());
            continue;
        }
        let mut block = String::new();
        while let Some(next) = lines.peek() {
            if next.len() - next.trim_start().len() <= indent.len() {
                break;
            }
            block.push_str(next.trim());
            block.push(' ');
            lines.next();
        }
        exprs.push(block);
    }
    exprs
}

/// The metric names of a Prometheus page's samples.
fn page_metrics(page: &str) -> BTreeSet<String> {
    let body = page.split_once("\r\n\r\n").map_or(page, |(_, body)| body);
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The dashboard's and the alerts' metrics are the services' own: each is on
/// the `/metrics` page of `up` after the journey, or (counted only on events
/// the journey does not make) named in the source with its exported form.
fn assert_observability_reads_real_metrics(page: &str) {
    const LATER: [(&str, &str); 5] = [
        ("tiejun_leads_reclaimed_total", "tiejun.leads.reclaimed"),
        ("tiejun_billing_renewals_total", "tiejun.billing.renewals"),
        ("tiejun_training_enrollments_total", "tiejun.training.enrollments"),
        (
            "tiejun_billing_entitlement_checks_total",
            "tiejun.billing.entitlement_checks",
        ),
        ("tiejun_telemetry_spans_dropped_total", "tiejun.telemetry.spans_dropped"),
    ];
    let exported = page_metrics(page);
    let services = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let source: String = [
        "platform",
        "lead-distribution",
        "membership-billing",
        "training-enrollment",
    ]
    .iter()
    .flat_map(|crate_dir| {
        walk(&services.join(crate_dir).join("src"))
            .into_iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
    })
    .collect();
    let exprs = observability_exprs();
    assert!(exprs.len() >= 20, "read {} expressions", exprs.len());
    for expr in &exprs {
        let names = promql_metrics(expr);
        assert!(!names.is_empty(), "no metric read by {expr}");
        for name in names {
            let later = LATER.iter().find(|(prom, _)| *prom == name);
            assert!(
                exported.contains(&name) || later.is_some_and(|(_, otel)| source.contains(&format!("\"{otel}\""))),
                "{name} (in {expr}) is not a metric the services export: {exported:?}"
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn promql_metric_names_are_read_without_functions_labels_or_groupings() {
    let names = promql_metrics(
        r#"sum by (le, service_name) (rate(rpc_server_duration_milliseconds_bucket{rpc_service!~"grpc\\..*"}[5m])) / sum(db_client_connection_max) > 0.9"#,
    );
    assert_eq!(
        names,
        BTreeSet::from([
            "db_client_connection_max".to_owned(),
            "rpc_server_duration_milliseconds_bucket".to_owned()
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_from_the_gateway_through_events_by_the_conventions_and_metrics_add_up() {
    use tiejun_proto::leads::v1::{
        ActivateRepRequest, ClaimLeadRequest, ConvertLeadRequest, CreateLeadRequest, GetRepRequest, LeadInput,
        RegisterRepRequest, lead_service_client::LeadServiceClient, rep_service_client::RepServiceClient,
    };
    let (received, endpoint) = start_collector().await;
    let up = Up::start(&endpoint);
    let admin = up.banner("token: ");
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", up.banner("gateway listening on ")))
        .expect("uri")
        .connect()
        .await
        .expect("connect");

    // Idle: probes, polls and readiness checks make no trace at all.
    tokio::time::sleep(Duration::from_secs(11)).await;
    {
        let spans = received.spans.lock().expect("lock");
        assert!(
            spans.is_empty(),
            "{} spans at idle over 11 s: {:?}",
            spans.len(),
            spans.iter().map(|s| (&s.service, &s.name)).take(10).collect::<Vec<_>>()
        );
    }

    let mut reps = RepServiceClient::new(channel.clone());
    let mut leads = LeadServiceClient::new(channel.clone());
    let hire = RegisterRepRequest {
        person_id: "E2001".into(),
        name: "Li Na".into(),
        team: "Hangzhou-1".into(),
        city: "Hangzhou".into(),
        daily_quota: 0,
    };
    reps.register_rep(request(hire, &admin)).await.expect("hired");
    let activate = ActivateRepRequest {
        person_id: "E2001".into(),
        reason: "trained elsewhere".into(),
    };
    reps.activate_rep(request(activate, &admin)).await.expect("active");
    let lead = LeadInput {
        company_name: "杭州追踪测试有限公司".into(),
        contact_name: "王".into(),
        phone: "13900000077".into(),
        city: "Hangzhou".into(),
        ..Default::default()
    };
    let lead_id = leads
        .create_lead(request(
            CreateLeadRequest {
                lead: Some(lead),
                idempotency_key: String::new(),
            },
            &admin,
        ))
        .await
        .expect("lead")
        .into_inner()
        .lead
        .expect("lead")
        .lead_id;
    let rep = String::from_utf8(
        Command::new(BIN)
            .args([
                "token",
                "--data-dir",
                &up.data_dir(),
                "--sub",
                "E2001",
                "--role",
                "sales_rep",
                "--rep-id",
                "E2001",
            ])
            .output()
            .expect("token")
            .stdout,
    )
    .expect("utf8")
    .trim()
    .to_owned();
    let claim = ClaimLeadRequest {
        lead_id: lead_id.clone(),
        idempotency_key: String::new(),
    };
    leads.claim_lead(request(claim, &rep)).await.expect("claimed");
    let convert = ConvertLeadRequest {
        lead_id,
        notes: "signed".into(),
        idempotency_key: String::new(),
    };
    leads.convert_lead(request(convert, &rep)).await.expect("converted");
    let missing = reps
        .get_rep(request(
            GetRepRequest {
                person_id: "E404".into(),
            },
            &admin,
        ))
        .await
        .expect_err("no such rep");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    // The caller's sampling decision is honoured; a garbage traceparent is harmless.
    let unsampled = "0af7651916cd43dd8448eb211c803100";
    for traceparent in [
        format!("00-{unsampled}-b7ad6b7169203331-00"),
        "garbage-00-zz".to_owned(),
    ] {
        let mut read = request(
            GetRepRequest {
                person_id: "E2001".into(),
            },
            &admin,
        );
        read.metadata_mut()
            .insert("traceparent", traceparent.parse().expect("ascii"));
        reps.get_rep(read).await.expect("read whatever the traceparent");
    }
    let mut raw = tonic::client::Grpc::new(channel.clone());
    raw.ready().await.expect("ready");
    let unknown = raw
        .unary::<GetRepRequest, GetRepRequest, _>(
            request(GetRepRequest::default(), &admin),
            tonic::codegen::http::uri::PathAndQuery::from_static("/tiejun.nosuch.v1.NoService/NoMethod"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect_err("no such service");
    assert_eq!(unknown.code(), tonic::Code::Unimplemented);

    until(
        &received,
        "both event chains, the failed calls and the metrics",
        |spans, points| {
            spans
                .iter()
                .filter(|s| s.name == "tiejun.events.v1.EventConsumerService/Deliver" && s.kind == "SERVER")
                .count()
                >= 2
                && spans.iter().any(|s| s.name == "_OTHER")
                && spans
                    .iter()
                    .any(|s| s.name == "tiejun.leads.v1.RepService/GetRep" && s.service == "tiejun-leads")
                && last(points, "tiejun-leads", "tiejun.outbox.lag", &[("consumer", "billing")]).is_some()
                && last(points, "tiejun-leads", "tiejun.outbox.pending", &[]).is_some()
                && last(
                    points,
                    "tiejun-gateway",
                    "rpc.server.duration",
                    &[("rpc.method", "GetRep")],
                )
                .is_some()
        },
    )
    .await;
    let spans = received.spans.lock().expect("lock").clone();
    let points = received.points.lock().expect("lock").clone();

    assert_event_chain(
        &spans,
        "tiejun.leads.v1.RepService/RegisterRep",
        "tiejun-leads",
        "RepHired",
        "tiejun-training",
        "INSERT inbox",
    );
    assert_event_chain(
        &spans,
        "tiejun.leads.v1.LeadService/ConvertLead",
        "tiejun-leads",
        "LeadConverted",
        "tiejun-billing",
        "INSERT accounts",
    );

    // Statuses by the RPC conventions: NOT_FOUND is the caller's mistake
    // (the SERVER spans stay unset) but a failed call for the gateway's
    // CLIENT span; UNIMPLEMENTED is the server's error.
    let get = |service: &str, kind: &str| {
        spans
            .iter()
            .find(|s| {
                s.name == "tiejun.leads.v1.RepService/GetRep"
                    && s.service == service
                    && s.kind == kind
                    && s.attributes.get("rpc.grpc.status_code").is_some_and(|c| c == "5")
            })
            .unwrap_or_else(|| panic!("no GetRep NOT_FOUND {kind} span of {service}"))
    };
    for (service, kind, error) in [
        ("tiejun-gateway", "SERVER", false),
        ("tiejun-gateway", "CLIENT", true),
        ("tiejun-leads", "SERVER", false),
    ] {
        let span = get(service, kind);
        assert_eq!(span.error, error, "{service} {kind} GetRep NOT_FOUND: {span:?}");
        assert_eq!(
            span.attributes.get("rpc.grpc.status_code").map(String::as_str),
            Some("5")
        );
        assert_eq!(span.attributes.get("rpc.method").map(String::as_str), Some("GetRep"));
    }
    assert!(
        !spans.iter().any(|s| s.trace == unsampled),
        "a trace the caller did not sample is not recorded"
    );
    let fresh = spans
        .iter()
        .filter(|s| {
            s.name == "tiejun.leads.v1.RepService/GetRep"
                && s.service == "tiejun-gateway"
                && s.kind == "SERVER"
                && s.parent.chars().all(|c| c == '0')
                && s.attributes.get("rpc.grpc.status_code").is_some_and(|c| c == "0")
        })
        .count();
    assert_eq!(
        fresh, 1,
        "the call with a garbage traceparent starts a trace of its own"
    );
    let served = get("tiejun-leads", "SERVER");
    assert!(served.attributes.contains_key("server.address") && served.attributes.contains_key("server.port"));
    let unimplemented = spans
        .iter()
        .find(|s| s.name == "_OTHER")
        .expect("the unknown method's span");
    assert!(
        unimplemented.error
            && unimplemented
                .attributes
                .get("rpc.grpc.status_code")
                .is_some_and(|c| c == "12")
    );

    // One service per component, and no bookkeeping attributes.
    let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        services,
        BTreeSet::from(["tiejun-billing", "tiejun-gateway", "tiejun-leads", "tiejun-training"])
    );
    for span in &spans {
        for noise in [
            "trace_id",
            "span_id",
            "busy_ns",
            "idle_ns",
            "thread.id",
            "thread.name",
            "code.filepath",
            "code.lineno",
            "code.namespace",
            "target",
            "service",
            "tiejun.component",
        ] {
            assert!(!span.attributes.contains_key(noise), "{noise} on {span:?}");
        }
        if span.kind == "SERVER" || span.kind == "CLIENT" && span.attributes.contains_key("rpc.system") {
            assert!(
                span.name.contains('/') || span.name == "_OTHER",
                "RPC span name {:?}",
                span.name
            );
        }
    }
    let all: Vec<String> = spans
        .iter()
        .map(|s| s.attributes.values().cloned().collect::<Vec<_>>().join(" "))
        .collect();
    for secret in ["13900000077", &admin, &rep] {
        assert!(!all.iter().any(|a| a.contains(secret)), "a span carries {secret}");
    }

    // Metrics: each component counts its own calls, once.
    let count = |service: &str| {
        last(
            &points,
            service,
            "rpc.server.duration",
            &[("rpc.method", "GetRep"), ("rpc.grpc.status_code", "5")],
        )
        .map(|p| p.value)
    };
    assert_eq!(count("tiejun-gateway"), Some(1.0), "the gateway counted one GetRep");
    assert_eq!(count("tiejun-leads"), Some(1.0), "lead-distribution counted one GetRep");
    let lag = last(&points, "tiejun-leads", "tiejun.outbox.lag", &[("consumer", "billing")]).expect("lag");
    assert_eq!(lag.unit, "s");
    assert!(
        lag.bounds.first() == Some(&0.01) && lag.bounds.last() == Some(&3600.0),
        "lag buckets in seconds: {:?}",
        lag.bounds
    );
    for gauge in [
        "tiejun.outbox.pending",
        "tiejun.outbox.parked",
        "tiejun.outbox.oldest_pending_age",
    ] {
        assert!(last(&points, "tiejun-leads", gauge, &[]).is_some(), "no {gauge}");
    }
    let delivered = last(
        &points,
        "tiejun-leads",
        "tiejun.outbox.delivered",
        &[("consumer", "billing")],
    )
    .expect("delivered");
    assert_eq!(delivered.unit, "{event}");
    assert!(delivered.value >= 1.0);
    let mut units = BTreeMap::new();
    for p in &points {
        units.insert(p.name.clone(), p.unit.clone());
    }
    for (name, unit) in &units {
        assert!(!unit.is_empty(), "{name} has no unit");
    }
    assert_observability_reads_real_metrics(&common::scrape(&up.banner("metrics on http://")));
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_costs_one_line_and_one_that_never_answers_no_shutdown_time() {
    // Down: nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let down = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let up = Up::start(&down);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let lines = up.stderr_lines();
    let complaints: Vec<&String> = lines.iter().filter(|l| l.contains("collector")).collect();
    assert!(
        !complaints.is_empty() && complaints.len() <= 2,
        "one line per signal while the collector is down, not one per export: {complaints:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("opentelemetry")),
        "the exporter's own complaints are not repeated: {lines:#?}"
    );
    up.stop();

    // Slow: accepts connections and never answers a byte.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let slow = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            held.push(stream);
        }
    });
    let up = Up::start(&slow);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", up.banner("gateway listening on ")))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let _ = tiejun_proto::leads::v1::rep_service_client::RepServiceClient::new(channel)
        .get_rep(request(
            tiejun_proto::leads::v1::GetRepRequest {
                person_id: "E404".into(),
            },
            &up.banner("token: "),
        ))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let took = up.stop();
    assert!(
        took < tiejun_platform::telemetry::FLUSH_WITHIN + Duration::from_secs(3),
        "SIGTERM to exit took {took:?} with a collector that never answers"
    );
}

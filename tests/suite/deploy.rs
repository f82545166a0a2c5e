//! The Kubernetes manifests against the binary: every probe names a health
//! service the component really reports SERVING, on the port it listens on.

use tiejun_platform::testing::TestDatabase;
use tiejun_tests::{Svc, connected::Connected, health};
use tonic_health::pb::health_check_response::ServingStatus;
use yaml_rust2::{Yaml, YamlLoader};

/// A gRPC probe as the manifest declares it.
#[derive(Debug)]
struct Probe {
    kind: &'static str,
    port: i64,
    service: String,
}

/// The container of `component`'s Deployment: its args, ports and probes.
fn manifest(component: &str) -> (Vec<String>, Vec<i64>, Vec<Probe>) {
    let path = format!("{}/../deploy/k8s/base/{component}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let deployment = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("Deployment"))
        .unwrap_or_else(|| panic!("{path} has no Deployment"));
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args = container["args"]
        .as_vec()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect();
    let ports = container["ports"]
        .as_vec()
        .expect("ports")
        .iter()
        .map(|p| p["containerPort"].as_i64().expect("containerPort"))
        .collect();
    let probes = ["readinessProbe", "livenessProbe", "startupProbe"]
        .into_iter()
        .map(|kind| {
            let grpc = &container[kind]["grpc"];
            assert!(!grpc.is_badvalue(), "{component}: {kind} is not a gRPC probe");
            Probe {
                kind,
                port: grpc["port"].as_i64().expect("probe port"),
                service: match &grpc["service"] {
                    Yaml::BadValue => String::new(),
                    s => s.as_str().expect("service name").to_owned(),
                },
            }
        })
        .collect();
    (args, ports, probes)
}

fn listen_port(args: &[String]) -> i64 {
    let at = args.iter().position(|a| a == "--listen").expect("--listen given");
    let addr: std::net::SocketAddr = args[at + 1].parse().expect("--listen address");
    i64::from(addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_probe_names_a_health_service_the_binary_serves_on_its_port() {
    let suite = Connected::start(TestDatabase::sqlite()).await;
    let running = [
        ("leads", suite.addr(Svc::Leads)),
        ("billing", suite.addr(Svc::Billing)),
        ("training", suite.addr(Svc::Training)),
        ("gateway", suite.gateway.addr),
    ];
    for (component, addr) in running {
        let (args, ports, probes) = manifest(component);
        assert_eq!(
            &args[..2],
            ["serve", component],
            "{component} runs `tiejun serve {component}`"
        );
        let port = listen_port(&args);
        assert!(
            ports.contains(&port),
            "{component}: containerPort {ports:?} is not --listen {port}"
        );
        for probe in probes {
            assert_eq!(probe.port, port, "{component}: {} probes another port", probe.kind);
            assert_eq!(
                health(addr, &probe.service).await,
                Some(ServingStatus::Serving),
                "{component}: {} asks for {:?}, which the binary does not report SERVING",
                probe.kind,
                probe.service
            );
        }
    }
}

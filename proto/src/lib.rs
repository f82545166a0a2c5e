//! The tiejun gRPC contracts: generated messages, clients and servers for every
//! package, and the merged descriptor set that reflection serves.
//!
//! The `.proto` files under `proto/tiejun/` are the source of truth; they are
//! compiled by `build.rs` with protox, so no `protoc` is needed.

// Generated code: oneofs carry whole messages by value, as prost generates them.
#![allow(clippy::large_enum_variant)]

/// The encoded `FileDescriptorSet` of every tiejun proto and its imports
/// (with source info, so `grpcurl describe` shows the doc comments).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tiejun_descriptor.bin"));

pub mod stored;

/// `tiejun.events.v1`: domain events and the consumer service.
pub mod events {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("tiejun.events.v1");
    }
}

/// `tiejun.leads.v1`: lead-distribution.
pub mod leads {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("tiejun.leads.v1");
    }
}

/// `tiejun.billing.v1`: membership-billing.
pub mod billing {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("tiejun.billing.v1");
    }
}

/// `tiejun.training.v1`: training-enrollment.
pub mod training {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("tiejun.training.v1");
    }
}

/// `tiejun.bench.v1`: the bare echo service for benchmarks and tests.
pub mod bench {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("tiejun.bench.v1");
    }
}

/// Every fully-qualified gRPC service name of a package, read from the
/// descriptor set (so a new service can never be forgotten by a hand list).
pub fn service_names(package: &str) -> Vec<String> {
    methods()
        .into_iter()
        .filter(|m| m.package == package)
        .map(|m| m.service)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// One RPC as described by the descriptor set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodInfo {
    /// Proto package, e.g. `tiejun.leads.v1`.
    pub package: String,
    /// Fully-qualified service, e.g. `tiejun.leads.v1.LeadService`.
    pub service: String,
    /// Method name, e.g. `ClaimLead`.
    pub method: String,
    /// The HTTP/2 path, e.g. `/tiejun.leads.v1.LeadService/ClaimLead`.
    pub path: String,
    /// The client streams requests.
    pub client_streaming: bool,
    /// The server streams responses.
    pub server_streaming: bool,
    /// Declared `idempotency_level = NO_SIDE_EFFECTS`: safe to repeat.
    pub read_only: bool,
    /// The field number of the request's `idempotency_key`, when it has one
    /// (a call carrying a key is safe to repeat).
    pub idempotency_key_field: Option<u32>,
    /// The request message, fully qualified (`.tiejun.leads.v1.ClaimLeadRequest`).
    pub input_type: String,
    /// The RPC's comment in its `.proto` (it names the roles allowed).
    pub documentation: String,
}

/// Every RPC of every tiejun package, read from [`FILE_DESCRIPTOR_SET`].
pub fn methods() -> Vec<MethodInfo> {
    use prost::Message as _;
    // The set is produced by build.rs from protox output, so it always decodes.
    let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
        .expect("descriptor set written by build.rs decodes");
    let key_fields: std::collections::HashMap<String, u32> = fds
        .file
        .iter()
        .flat_map(|file| {
            file.message_type.iter().filter_map(move |message| {
                let field = message.field.iter().find(|f| f.name() == "idempotency_key")?;
                let number = u32::try_from(field.number()).ok()?;
                Some((format!(".{}.{}", file.package(), message.name()), number))
            })
        })
        .collect();
    let mut out = Vec::new();
    for file in fds.file {
        let package = file.package().to_owned();
        if !package.starts_with("tiejun.") {
            continue;
        }
        // FileDescriptorProto.service = 6, ServiceDescriptorProto.method = 2.
        let comments: std::collections::HashMap<&[i32], &str> = file
            .source_code_info
            .iter()
            .flat_map(|info| &info.location)
            .map(|l| (l.path.as_slice(), l.leading_comments()))
            .collect();
        for (si, service) in file.service.iter().enumerate() {
            let full = format!("{package}.{}", service.name());
            for (mi, method) in service.method.iter().enumerate() {
                let at = [6, si as i32, 2, mi as i32];
                out.push(MethodInfo {
                    package: package.clone(),
                    service: full.clone(),
                    method: method.name().to_owned(),
                    path: format!("/{full}/{}", method.name()),
                    client_streaming: method.client_streaming(),
                    server_streaming: method.server_streaming(),
                    read_only: method.options.as_ref().is_some_and(|o| {
                        o.idempotency_level() == prost_types::method_options::IdempotencyLevel::NoSideEffects
                    }),
                    idempotency_key_field: key_fields.get(method.input_type()).copied(),
                    input_type: method.input_type().to_owned(),
                    documentation: comments
                        .get(at.as_slice())
                        .map_or_else(String::new, |c| c.trim().to_owned()),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_carries_its_request_type_and_its_comment() {
        let claim = methods()
            .into_iter()
            .find(|m| m.path == "/tiejun.leads.v1.LeadService/ClaimLead")
            .expect("ClaimLead");
        assert_eq!(claim.input_type, ".tiejun.leads.v1.ClaimLeadRequest");
        assert!(claim.documentation.contains("Roles:"), "{:?}", claim.documentation);
    }

    #[test]
    fn descriptor_set_lists_every_package() {
        for package in [
            "tiejun.leads.v1",
            "tiejun.billing.v1",
            "tiejun.training.v1",
            "tiejun.events.v1",
        ] {
            assert!(!service_names(package).is_empty(), "{package} has no service");
        }
        assert!(service_names("tiejun.leads.v1").contains(&"tiejun.leads.v1.LeadService".to_owned()));
    }

    #[test]
    fn streaming_kinds_are_read_from_descriptors() {
        let all = methods();
        let import = all.iter().find(|m| m.method == "ImportLeads").expect("ImportLeads");
        assert!(import.client_streaming && !import.server_streaming);
        let watch = all
            .iter()
            .find(|m| m.method == "WatchRepEvents")
            .expect("WatchRepEvents");
        assert!(watch.server_streaming && !watch.client_streaming);
    }

    #[test]
    fn reads_and_only_reads_are_declared_free_of_side_effects() {
        let readers = ["Get", "List", "Check", "Verify", "Watch", "Echo"];
        for m in methods() {
            let reads = readers.iter().any(|p| m.method.starts_with(p));
            assert_eq!(m.read_only, reads, "{} idempotency_level", m.path);
        }
    }

    #[test]
    fn idempotency_key_fields_are_found_by_name() {
        let all = methods();
        let claim = all.iter().find(|m| m.method == "ClaimLead").expect("ClaimLead");
        assert_eq!(claim.idempotency_key_field, Some(2));
        let get = all.iter().find(|m| m.method == "GetLead").expect("GetLead");
        assert_eq!(get.idempotency_key_field, None);
    }
}

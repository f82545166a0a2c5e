//! What the web edge knows of every RPC, read from the merged descriptor
//! set the gateway already serves by reflection: its request and response
//! types, its streaming kind and whether it is free of side effects (the
//! only methods Connect's GET form may call). A new RPC is known the day it
//! is added; nothing here names a service.

use std::collections::HashMap;

use anyhow::Context as _;
use prost_reflect::{DescriptorPool, MessageDescriptor};
use prost_types::method_options::IdempotencyLevel;

/// One RPC.
#[derive(Debug, Clone)]
pub struct Method {
    /// The request type.
    pub input: MessageDescriptor,
    /// The response type.
    pub output: MessageDescriptor,
    /// The client streams requests.
    pub client_streaming: bool,
    /// The server streams responses.
    pub server_streaming: bool,
    /// Marked `idempotency_level = NO_SIDE_EFFECTS`.
    pub no_side_effects: bool,
}

/// Every RPC of the descriptor set by its HTTP path, and every message type
/// (the `google.rpc` details included) for transcoding.
#[derive(Debug)]
pub struct Schema {
    pool: DescriptorPool,
    methods: HashMap<String, Method>,
}

impl Schema {
    /// The contracts of every tiejun service and the `google.rpc` detail types.
    pub fn load() -> anyhow::Result<Self> {
        let mut pool = DescriptorPool::decode(tiejun_proto::FILE_DESCRIPTOR_SET).context("the tiejun descriptors")?;
        pool.decode_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .context("the google.rpc descriptors")?;
        let mut methods = HashMap::new();
        for service in pool.services() {
            for m in service.methods() {
                let level = m
                    .method_descriptor_proto()
                    .options
                    .as_ref()
                    .map(|o| o.idempotency_level());
                methods.insert(
                    format!("/{}/{}", service.full_name(), m.name()),
                    Method {
                        input: m.input(),
                        output: m.output(),
                        client_streaming: m.is_client_streaming(),
                        server_streaming: m.is_server_streaming(),
                        no_side_effects: level == Some(IdempotencyLevel::NoSideEffects),
                    },
                );
            }
        }
        Ok(Self { pool, methods })
    }

    /// The RPC at `path` (`/tiejun.leads.v1.LeadService/GetLead`).
    pub fn method(&self, path: &str) -> Option<&Method> {
        self.methods.get(path)
    }

    /// A message type by full name (`google.rpc.BadRequest`).
    pub fn message(&self, full_name: &str) -> Option<MessageDescriptor> {
        self.pool.get_message_by_name(full_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_and_the_detail_types_are_known() {
        let schema = Schema::load().expect("loads");
        let get = schema.method("/tiejun.leads.v1.LeadService/GetLead").expect("GetLead");
        assert!(get.no_side_effects && !get.server_streaming);
        let claim = schema
            .method("/tiejun.leads.v1.LeadService/ClaimLead")
            .expect("ClaimLead");
        assert!(!claim.no_side_effects);
        let watch = schema
            .method("/tiejun.leads.v1.LeadService/WatchRepEvents")
            .expect("WatchRepEvents");
        assert!(watch.server_streaming);
        assert!(schema.message("google.rpc.BadRequest").is_some());
        assert_eq!(schema.methods.len(), tiejun_proto::methods().len());
    }
}

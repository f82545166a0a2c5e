//! Asks a server what it serves, over reflection v1 and v1alpha.

use std::net::SocketAddr;

use tonic_reflection::pb::{v1, v1alpha};

/// A function listing the services at an address over one version of
/// reflection: the two versions' types are alike but distinct.
macro_rules! list_over {
    ($(#[$doc:meta])* $name:ident, $version:ident) => {
        $(#[$doc])*
        pub async fn $name(addr: SocketAddr) -> Vec<String> {
            use $version::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
            };
            let version = stringify!($version);
            let mut client = ServerReflectionClient::new(crate::channel(addr).await);
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut stream = client
                .server_reflection_info(tokio_stream::iter([request]))
                .await
                .unwrap_or_else(|e| panic!("reflection {version}: {e:?}"))
                .into_inner();
            let response = stream
                .message()
                .await
                .unwrap_or_else(|e| panic!("reflection {version} answer: {e:?}"))
                .expect("one response");
            match response.message_response {
                Some(MessageResponse::ListServicesResponse(list)) => list.service.into_iter().map(|s| s.name).collect(),
                other => panic!("unexpected reflection {version} answer: {other:?}"),
            }
        }
    };
}

list_over!(
    /// The services listed by reflection v1 at `addr`.
    list_v1,
    v1
);
list_over!(
    /// The services listed by reflection v1alpha at `addr`.
    list_v1alpha,
    v1alpha
);

/// True when reflection v1alpha can resolve `symbol` to its file (so
/// `grpcurl describe` and the decoding of error details work).
pub async fn resolves_symbol(addr: SocketAddr, symbol: &str) -> bool {
    use v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut client = ServerReflectionClient::new(crate::channel(addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(symbol.to_owned())),
    };
    let Ok(response) = client.server_reflection_info(tokio_stream::iter([request])).await else {
        return false;
    };
    matches!(
        response.into_inner().message().await,
        Ok(Some(r)) if matches!(r.message_response, Some(MessageResponse::FileDescriptorResponse(_)))
    )
}

//! Calls any RPC by path with raw message bytes, whatever its types: for
//! tests that walk every method of the descriptors (the authorisation
//! matrix, malformed input).

use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes};
use tonic::{
    Code, Request, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

/// Passes message bytes through unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The call kinds the raw caller needs to tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One message each way.
    Unary,
    /// A stream of requests, one answer.
    ClientStreaming,
    /// One request, a stream of answers.
    ServerStreaming,
}

impl Kind {
    /// The kind of `method`; None for a bidirectional stream.
    pub fn of(method: &tiejun_proto::MethodInfo) -> Option<Self> {
        match (method.client_streaming, method.server_streaming) {
            (false, false) => Some(Kind::Unary),
            (true, false) => Some(Kind::ClientStreaming),
            (false, true) => Some(Kind::ServerStreaming),
            (true, true) => None,
        }
    }
}

/// Calls `path` with `message` (sent once, also for a client stream) and
/// returns how it ended: a status with code OK when it succeeded. A server
/// stream still open after `patience` counts as OK: the call was accepted.
pub async fn call(channel: Channel, path: &str, kind: Kind, message: Bytes, token: &str, patience: Duration) -> Status {
    match attempt(channel, path, kind, message, token, patience).await {
        Ok(()) => Status::new(Code::Ok, ""),
        Err(status) => status,
    }
}

async fn attempt(
    channel: Channel,
    path: &str,
    kind: Kind,
    message: Bytes,
    token: &str,
    patience: Duration,
) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let path: http::uri::PathAndQuery = path.parse().map_err(|_| Status::internal("bad path"))?;
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| Status::internal("bad token"))?;
    match kind {
        Kind::Unary => {
            let mut request = Request::new(message);
            request.metadata_mut().insert("authorization", bearer);
            grpc.unary(request, path, RawCodec).await.map(drop)
        }
        Kind::ClientStreaming => {
            let mut request = Request::new(tokio_stream::once(message));
            request.metadata_mut().insert("authorization", bearer);
            grpc.client_streaming(request, path, RawCodec).await.map(drop)
        }
        Kind::ServerStreaming => {
            let mut request = Request::new(message);
            request.metadata_mut().insert("authorization", bearer);
            match grpc.server_streaming(request, path, RawCodec).await {
                Ok(response) => {
                    let mut stream = response.into_inner();
                    match tokio::time::timeout(patience, stream.message()).await {
                        Ok(Err(status)) => Err(status),
                        Ok(Ok(_)) | Err(_) => Ok(()),
                    }
                }
                Err(status) => Err(status),
            }
        }
    }
}

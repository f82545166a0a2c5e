//! The Connect protocol (connectrpc.com/docs/protocol), translated to gRPC
//! in front of the gateway's every layer, from the descriptors alone.
//!
//! - Unary: `POST /<package>.<Service>/<Method>` with `Content-Type:
//!   application/json` (plain `curl` works) or `application/proto`; and
//!   `GET …?encoding=json&message=…` for methods marked `NO_SIDE_EFFECTS`.
//! - Streaming: `application/connect+json` / `application/connect+proto`
//!   envelopes; the server's stream ends with an end-of-stream message that
//!   carries the error, if any, and the trailers.
//! - `connect-timeout-ms` becomes `grpc-timeout`, so the deadline, the
//!   limits, auth and balancing are the gRPC ones; errors come back as
//!   Connect error JSON with the HTTP status the protocol maps each code to,
//!   and every `google.rpc` detail (type, base64 value, and its JSON as
//!   `debug`).
//!
//! JSON follows the protobuf JSON mapping (lowerCamel names, enums by name,
//! RFC 3339 timestamps, 64-bit integers as strings); an unknown field is
//! INVALID_ARGUMENT. Compressed messages are refused UNIMPLEMENTED.

use std::sync::Arc;

use base64::Engine as _;
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method as HttpMethod, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt as _, Full, Limited, StreamBody};
use prost::Message as _;
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};
use tiejun_platform::{
    error::FieldViolation,
    layer::{Around, BoxFuture, Inner},
};
use tonic::{Code, Status, body::Body};
use tower::{BoxError, Service};

use super::schema::Schema;

/// Connect's timeout header, in milliseconds.
const TIMEOUT_MS: &str = "connect-timeout-ms";
/// An envelope's flag: the message is compressed.
const COMPRESSED: u8 = 0x01;
/// An envelope's flag: the end-of-stream message.
const END_STREAM: u8 = 0x02;
/// Headers that describe the Connect request itself, not the call.
const PROTOCOL_HEADERS: [&str; 7] = [
    "content-type",
    "content-length",
    "content-encoding",
    "accept-encoding",
    "connect-protocol-version",
    "connect-content-encoding",
    "connect-accept-encoding",
];

/// How messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Json,
    Proto,
}

/// What kind of Connect request this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One message each way, in the body (or the query, for GET).
    Unary(Codec),
    /// Enveloped messages.
    Stream(Codec),
}

/// The Connect request a request is, if it is one.
fn shape(req: &Request<Body>) -> Option<Shape> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    if req.method() == HttpMethod::GET {
        let query = req.uri().query().unwrap_or_default();
        return query_param(query, "message").is_some().then(|| {
            Shape::Unary(if query_param(query, "encoding").as_deref() == Some("proto") {
                Codec::Proto
            } else {
                Codec::Json
            })
        });
    }
    if req.method() != HttpMethod::POST {
        return None;
    }
    match content_type.as_deref()? {
        "application/json" => Some(Shape::Unary(Codec::Json)),
        "application/proto" => Some(Shape::Unary(Codec::Proto)),
        "application/connect+json" => Some(Shape::Stream(Codec::Json)),
        "application/connect+proto" => Some(Shape::Stream(Codec::Proto)),
        _ => None,
    }
}

/// One value of a URL query, decoded (`application/x-www-form-urlencoded`).
fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Connect {
    schema: Arc<Schema>,
    max_message_bytes: usize,
}

impl Connect {
    /// Connect in front of a gRPC service; messages up to `max_message_bytes`.
    pub fn new(schema: Arc<Schema>, max_message_bytes: usize) -> Self {
        Self {
            schema,
            max_message_bytes,
        }
    }
}

impl<S> Around<S, Request<Body>> for Connect
where
    S: Inner<Body, Response = Response<Body>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;

    fn around(&self, req: Request<Body>, mut inner: S) -> BoxFuture<Result<Self::Response, BoxError>> {
        let Some(shape) = shape(&req) else {
            return Box::pin(async move { inner.call(req).await.map_err(Into::into) });
        };
        let schema = self.schema.clone();
        let limit = self.max_message_bytes;
        Box::pin(async move {
            let stream = matches!(shape, Shape::Stream(_));
            Ok(translate(&schema, limit, shape, req, &mut inner)
                .await
                .unwrap_or_else(|status| error_response(&schema, &status, stream)))
        })
    }
}

/// The whole exchange: Connect in, gRPC to `inner`, Connect out.
async fn translate<S>(
    schema: &Arc<Schema>,
    limit: usize,
    shape: Shape,
    req: Request<Body>,
    inner: &mut S,
) -> Result<Response<Body>, Status>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: Into<BoxError>,
{
    let path = req.uri().path().to_owned();
    let method = schema
        .method(&path)
        .ok_or_else(|| Status::unimplemented(format!("no RPC at {path}")))?
        .clone();
    let streaming = method.client_streaming || method.server_streaming;
    match shape {
        Shape::Unary(_) if streaming => {
            return Err(Status::unimplemented(format!(
                "{path} streams: send application/connect+json envelopes"
            )));
        }
        Shape::Stream(_) if !streaming => {
            return Err(Status::unimplemented(format!("{path} is unary: send application/json")));
        }
        _ => {}
    }
    if req.method() == HttpMethod::GET && !method.no_side_effects {
        return Err(Status::unimplemented(format!(
            "{path} has side effects: GET is only for methods marked NO_SIDE_EFFECTS; POST it"
        )));
    }
    for name in ["content-encoding", "connect-content-encoding"] {
        if let Some(encoding) = req.headers().get(name).and_then(|v| v.to_str().ok())
            && encoding != "identity"
        {
            return Err(Status::unimplemented(format!(
                "{name} {encoding} is not supported; send identity"
            )));
        }
    }
    let timeout = match req.headers().get(TIMEOUT_MS) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .filter(|v| (1..=10).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| invalid(TIMEOUT_MS, "must be 1 to 10 digits (milliseconds)"))?,
        ),
    };
    let (mut parts, body) = req.into_parts();
    let messages = match (shape, parts.method == HttpMethod::GET) {
        (Shape::Unary(codec), true) => {
            let query = parts.uri.query().unwrap_or_default();
            let text = query_param(query, "message").unwrap_or_default();
            let bytes = if query_param(query, "base64").as_deref() == Some("1") {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text.trim_end_matches('='))
                    .map_err(|_| invalid("message", "not base64url"))?
            } else {
                text.into_bytes()
            };
            if bytes.len() > limit {
                return Err(too_large(limit));
            }
            vec![decode_request(codec, &method.input, &bytes)?]
        }
        (Shape::Unary(codec), false) => {
            let bytes = read_limited(body, limit).await?;
            vec![decode_request(codec, &method.input, &bytes)?]
        }
        (Shape::Stream(codec), _) => {
            let bytes = read_limited(body, limit.saturating_mul(16)).await?;
            envelopes(&bytes, limit)?
                .into_iter()
                .map(|(flags, data)| {
                    if flags & COMPRESSED != 0 {
                        return Err(Status::unimplemented("compressed envelopes are not supported"));
                    }
                    decode_request(codec, &method.input, &data)
                })
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let mut frames = BytesMut::new();
    for message in &messages {
        frames.put_u8(0);
        frames.put_u32(u32::try_from(message.len()).map_err(|_| too_large(limit))?);
        frames.put_slice(message);
    }
    parts.method = HttpMethod::POST;
    parts.uri = path.parse().map_err(|_| Status::invalid_argument("bad path"))?;
    parts.version = http::Version::HTTP_2;
    for name in PROTOCOL_HEADERS {
        parts.headers.remove(name);
    }
    parts.headers.remove(TIMEOUT_MS);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    parts.headers.insert(header::TE, HeaderValue::from_static("trailers"));
    if let Some(ms) = timeout {
        let value = HeaderValue::from_str(&format!("{}m", ms.min(99_999_999)))
            .map_err(|_| invalid(TIMEOUT_MS, "must be milliseconds"))?;
        parts.headers.insert(tiejun_platform::deadline::GRPC_TIMEOUT, value);
    }
    let grpc = Request::from_parts(parts, Body::new(Full::new(frames.freeze())));
    std::future::poll_fn(|cx| inner.poll_ready(cx))
        .await
        .map_err(|e| Status::unavailable(e.into().to_string()))?;
    let response = inner
        .call(grpc)
        .await
        .map_err(|e| Status::unavailable(e.into().to_string()))?;
    match shape {
        Shape::Unary(codec) => unary_response(schema, codec, &method.output, response).await,
        Shape::Stream(codec) => Ok(stream_response(schema.clone(), codec, method.output.clone(), response)),
    }
}

fn invalid(field: &str, description: &str) -> Status {
    tiejun_platform::Error::InvalidArgument(vec![FieldViolation::new(field, description)]).into()
}

fn too_large(limit: usize) -> Status {
    Status::resource_exhausted(format!("the request is larger than the limit of {limit} bytes"))
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, Status> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Err(err) => Err(match err.downcast::<Status>() {
            Ok(status) => *status,
            Err(err) => Status::cancelled(format!("reading the request: {err}")),
        }),
    }
}

/// The enveloped messages of a streaming request body.
fn envelopes(mut bytes: &[u8], limit: usize) -> Result<Vec<(u8, Bytes)>, Status> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 5 {
            return Err(invalid("body", "a truncated envelope"));
        }
        let flags = bytes.get_u8();
        let len = bytes.get_u32() as usize;
        if len > limit {
            return Err(too_large(limit));
        }
        if bytes.len() < len {
            return Err(invalid("body", "a truncated envelope"));
        }
        out.push((flags, Bytes::copy_from_slice(&bytes[..len])));
        bytes.advance(len);
    }
    Ok(out)
}

/// A request message as protobuf bytes.
fn decode_request(codec: Codec, input: &MessageDescriptor, bytes: &[u8]) -> Result<Bytes, Status> {
    match codec {
        Codec::Proto => Ok(Bytes::copy_from_slice(bytes)),
        Codec::Json => {
            let text = if bytes.iter().all(u8::is_ascii_whitespace) {
                &b"{}"[..]
            } else {
                bytes
            };
            let mut de = serde_json::Deserializer::from_slice(text);
            let message = DynamicMessage::deserialize_with_options(input.clone(), &mut de, &DeserializeOptions::new())
                .and_then(|m| de.end().map(|()| m))
                .map_err(|e| invalid("body", &format!("not a {} in JSON: {e}", input.full_name())))?;
            Ok(Bytes::from(message.encode_to_vec()))
        }
    }
}

/// A response message in the client's codec.
fn encode_response(codec: Codec, output: &MessageDescriptor, bytes: Bytes) -> Result<Bytes, Status> {
    match codec {
        Codec::Proto => Ok(bytes),
        Codec::Json => to_json(output, bytes).map(Bytes::from),
    }
}

fn to_json(desc: &MessageDescriptor, bytes: Bytes) -> Result<Vec<u8>, Status> {
    let message = DynamicMessage::decode(desc.clone(), bytes)
        .map_err(|e| Status::internal(format!("a response that does not decode: {e}")))?;
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::new(&mut out);
    message
        .serialize_with_options(&mut ser, &SerializeOptions::new())
        .map_err(|e| Status::internal(format!("a response that does not encode as JSON: {e}")))?;
    Ok(out)
}

/// The status a gRPC response ends with: from its headers (trailers-only)
/// or its trailers.
fn status_of(headers: &HeaderMap) -> Option<Status> {
    headers
        .contains_key("grpc-status")
        .then(|| Status::from_header_map(headers))
        .flatten()
}

/// The messages of gRPC frames in `buf`, leaving a partial frame there.
fn take_frames(buf: &mut BytesMut) -> Result<Vec<Bytes>, Status> {
    let mut out = Vec::new();
    while buf.len() >= 5 {
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if buf.len() < 5 + len {
            break;
        }
        if buf[0] & 1 != 0 {
            return Err(Status::internal("a compressed response"));
        }
        buf.advance(5);
        out.push(buf.split_to(len).freeze());
    }
    Ok(out)
}

async fn unary_response(
    schema: &Schema,
    codec: Codec,
    output: &MessageDescriptor,
    response: Response<Body>,
) -> Result<Response<Body>, Status> {
    let (parts, body) = response.into_parts();
    if let Some(status) = status_of(&parts.headers) {
        return Ok(error_with_metadata(schema, &status, &parts.headers, None));
    }
    let collected = body
        .collect()
        .await
        .map_err(|e| Status::unavailable(format!("the backend's answer broke off: {e}")))?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let mut data = BytesMut::from(&collected.to_bytes()[..]);
    let status = status_of(&trailers).unwrap_or_else(|| Status::internal("an answer without grpc-status"));
    if status.code() != Code::Ok {
        return Ok(error_with_metadata(schema, &status, &parts.headers, Some(&trailers)));
    }
    let message = take_frames(&mut data)?
        .into_iter()
        .next()
        .ok_or_else(|| Status::internal("an OK answer without a message"))?;
    let body = encode_response(codec, output, message)?;
    let mut out = Response::new(Body::new(Full::new(body)));
    copy_metadata(&parts.headers, out.headers_mut(), "");
    copy_metadata(&trailers, out.headers_mut(), "trailer-");
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match codec {
            Codec::Json => "application/json",
            Codec::Proto => "application/proto",
        }),
    );
    Ok(out)
}

/// The call's metadata, as headers of the Connect answer (`prefix`
/// `trailer-` for trailers, as the protocol has it).
fn copy_metadata(from: &HeaderMap, to: &mut HeaderMap, prefix: &str) {
    for (name, value) in from {
        let n = name.as_str();
        if n.starts_with("grpc-") || n == "content-type" || n == "content-length" || n == "date" || n == "te" {
            continue;
        }
        if let Ok(name) = HeaderName::from_bytes(format!("{prefix}{n}").as_bytes()) {
            to.append(name, value.clone());
        }
    }
}

fn stream_response(
    schema: Arc<Schema>,
    codec: Codec,
    output: MessageDescriptor,
    response: Response<Body>,
) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let mut headers = HeaderMap::new();
    copy_metadata(&parts.headers, &mut headers, "");
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match codec {
            Codec::Json => "application/connect+json",
            Codec::Proto => "application/connect+proto",
        }),
    );
    let body = match status_of(&parts.headers) {
        Some(status) => Body::new(Full::new(end_of_stream(&schema, Some(status), &parts.headers))),
        None => {
            let relay = Relay {
                body,
                buf: BytesMut::new(),
                codec,
                output,
                schema,
                done: false,
            };
            let frames = futures::stream::unfold(relay, |mut relay| async move {
                let next = relay.next().await?;
                Some((Ok::<_, Status>(Frame::data(next)), relay))
            });
            Body::new(StreamBody::new(frames))
        }
    };
    let mut out = Response::new(body);
    *out.headers_mut() = headers;
    out
}

/// A gRPC response stream read as Connect envelopes.
struct Relay {
    body: Body,
    buf: BytesMut,
    codec: Codec,
    output: MessageDescriptor,
    schema: Arc<Schema>,
    done: bool,
}

impl Relay {
    /// The next bytes of the Connect stream: whole messages as envelopes,
    /// then, once, the end-of-stream message.
    async fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let (status, trailers) = loop {
            match self.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        self.buf.extend_from_slice(&data);
                        match self.messages() {
                            Ok(bytes) if bytes.is_empty() => {}
                            Ok(bytes) => return Some(bytes),
                            Err(status) => break (status, HeaderMap::new()),
                        }
                    }
                    Err(frame) => {
                        let trailers = frame.into_trailers().unwrap_or_default();
                        let status = status_of(&trailers)
                            .unwrap_or_else(|| Status::internal("the stream ended without grpc-status"));
                        break (status, trailers);
                    }
                },
                Some(Err(status)) => break (status, HeaderMap::new()),
                None => break (Status::internal("the stream ended without a status"), HeaderMap::new()),
            }
        };
        self.done = true;
        Some(end_of_stream(&self.schema, Some(status), &trailers))
    }

    /// The whole messages buffered so far, enveloped in the client's codec.
    fn messages(&mut self) -> Result<Bytes, Status> {
        let mut out = BytesMut::new();
        for message in take_frames(&mut self.buf)? {
            out.extend_from_slice(&envelope(0, &encode_response(self.codec, &self.output, message)?));
        }
        Ok(out.freeze())
    }
}

/// Connect's end-of-stream message: the error, if any, and the trailers.
fn end_of_stream(schema: &Schema, status: Option<Status>, trailers: &HeaderMap) -> Bytes {
    let mut message = serde_json::Map::new();
    if let Some(status) = status.filter(|s| s.code() != Code::Ok) {
        message.insert("error".into(), error_json(schema, &status));
    }
    message.insert("metadata".into(), metadata_json(trailers));
    envelope(END_STREAM, &serde_json::to_vec(&message).unwrap_or_default())
}

fn envelope(flags: u8, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + data.len());
    out.put_u8(flags);
    out.put_u32(data.len() as u32);
    out.put_slice(data);
    out.freeze()
}

fn metadata_json(headers: &HeaderMap) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        let n = name.as_str();
        if n.starts_with("grpc-") || n == "content-type" {
            continue;
        }
        let entry = map
            .entry(n.to_owned())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let (serde_json::Value::Array(values), Ok(v)) = (entry, value.to_str()) {
            values.push(serde_json::Value::String(v.to_owned()));
        }
    }
    serde_json::Value::Object(map)
}

/// Connect's name for a gRPC code.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "canceled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// The HTTP status the Connect protocol gives a unary error.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `{"code", "message", "details": [{"type", "value", "debug"}]}`; a
/// detail whose type the descriptors know (every `google.rpc` one) is also
/// shown as JSON in `debug`.
fn error_json(schema: &Schema, status: &Status) -> serde_json::Value {
    let mut details = Vec::new();
    if !status.details().is_empty()
        && let Ok(rpc) = tonic_types::pb::Status::decode(status.details())
    {
        for any in rpc.details {
            let name = any.type_url.rsplit('/').next().unwrap_or_default().to_owned();
            let mut detail = serde_json::Map::new();
            detail.insert("type".into(), name.clone().into());
            detail.insert(
                "value".into(),
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .encode(&any.value)
                    .into(),
            );
            if let Some(desc) = schema.message(&name)
                && let Ok(json) = to_json(&desc, Bytes::from(any.value.clone()))
                && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&json)
            {
                detail.insert("debug".into(), value);
            }
            details.push(serde_json::Value::Object(detail));
        }
    }
    let mut error = serde_json::Map::new();
    error.insert("code".into(), code_name(status.code()).into());
    if !status.message().is_empty() {
        error.insert("message".into(), status.message().into());
    }
    if !details.is_empty() {
        error.insert("details".into(), details.into());
    }
    serde_json::Value::Object(error)
}

/// An error answer: for a unary call, Connect error JSON with the mapped
/// HTTP status; for a stream, 200 and an end-of-stream message.
fn error_response(schema: &Schema, status: &Status, stream: bool) -> Response<Body> {
    if stream {
        let last = end_of_stream(schema, Some(status.clone()), &HeaderMap::new());
        let mut out = Response::new(Body::new(Full::new(last)));
        out.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/connect+json"),
        );
        return out;
    }
    error_with_metadata(schema, status, &HeaderMap::new(), None)
}

fn error_with_metadata(
    schema: &Schema,
    status: &Status,
    headers: &HeaderMap,
    trailers: Option<&HeaderMap>,
) -> Response<Body> {
    let body = serde_json::to_vec(&error_json(schema, status)).unwrap_or_default();
    let mut out = Response::new(Body::new(Full::new(Bytes::from(body))));
    *out.status_mut() = http_status(status.code());
    copy_metadata(headers, out.headers_mut(), "");
    if let Some(trailers) = trailers {
        copy_metadata(trailers, out.headers_mut(), "trailer-");
    }
    out.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_param("message=a%20b+c%7B%22x%22%7D", "message").as_deref(),
            Some("a b c{\"x\"}")
        );
        assert_eq!(query_param("message=100%", "message").as_deref(), Some("100%"));
        assert_eq!(query_param("base64=1", "message"), None);
        assert_eq!(
            query_param("encoding=json&message=%7B%7D", "message").as_deref(),
            Some("{}")
        );
    }

    #[test]
    fn envelopes_are_read_whole_or_refused() {
        let mut body = envelope(0, b"{}").to_vec();
        body.extend_from_slice(&envelope(0, b"{\"a\":1}"));
        let read = envelopes(&body, 1024).expect("two envelopes");
        assert_eq!(read.len(), 2);
        assert_eq!(&read[1].1[..], b"{\"a\":1}");
        assert!(envelopes(&body[..body.len() - 1], 1024).is_err());
        assert_eq!(envelopes(&body, 3).expect_err("over").code(), Code::ResourceExhausted);
    }

    #[test]
    fn every_code_has_a_connect_name_and_status() {
        assert_eq!(http_status(Code::Unauthenticated), StatusCode::UNAUTHORIZED);
        assert_eq!(http_status(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(code_name(Code::Cancelled), "canceled");
        assert_eq!(http_status(Code::ResourceExhausted), StatusCode::TOO_MANY_REQUESTS);
    }

    #[test]
    fn a_bad_request_detail_comes_back_as_json() {
        let schema = Schema::load().expect("schema");
        let status: Status = tiejun_platform::Error::invalid("lead.phone", "not a phone number").into();
        let json = error_json(&schema, &status);
        assert_eq!(json["code"], "invalid_argument");
        let detail = &json["details"][0];
        assert_eq!(detail["type"], "google.rpc.BadRequest");
        assert_eq!(detail["debug"]["fieldViolations"][0]["field"], "lead.phone");
        assert!(detail["value"].as_str().is_some_and(|v| !v.is_empty()));
    }
}

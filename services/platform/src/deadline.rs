//! Call deadlines: the `grpc-timeout` header read and written, and a server
//! layer that holds every call to one:
//!
//! - the caller's deadline (`grpc-timeout`), else the server's default
//!   (`--default-deadline`) for a unary or client-streaming call; a server
//!   stream the caller set no deadline on runs as long as it needs;
//! - the request body must be complete by the call's deadline, or by the
//!   default one for a server stream without a deadline: a caller that opens
//!   a call and never finishes sending it holds nothing for long (a
//!   bidirectional stream's requests are the caller's to pace);
//! - a malformed `grpc-timeout` (not 1–8 digits and a unit) is refused
//!   INVALID_ARGUMENT rather than ignored;
//! - the deadline is put on the request ([`CallDeadline`]) so a handler (the
//!   gateway) can pass it on.
//!
//! tonic's own timer answers an expired `grpc-timeout` with CANCELLED, which
//! tells a client nothing useful; this layer fires [`EARLY_BY`] sooner so the
//! client sees DEADLINE_EXCEEDED, and it also ends a streaming response that
//! is still going when the deadline passes (tonic's timer only covers the
//! response head).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use crate::{
    calls::Calls,
    layer::{Around, BoxFuture, Inner, answer},
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Frame;
use tokio::time::{Instant, Sleep};
use tonic::body::Body;

/// The request header carrying the caller's remaining time.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// How much sooner than tonic's timer this layer ends an expired call.
pub const EARLY_BY: Duration = Duration::from_millis(1);

/// The largest value the header's eight digits can hold.
const MAX_DIGITS: u64 = 99_999_999;

/// Parses a `grpc-timeout` value (`<up to 8 digits><H|M|S|m|u|n>`).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(n * 3600),
        'M' => Duration::from_secs(n * 60),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Encodes `remaining` as a `grpc-timeout` value, in the finest unit that
/// fits eight digits (rounded down: a deadline passed on never grows).
pub fn encode_grpc_timeout(remaining: Duration) -> HeaderValue {
    let micros = remaining.as_micros();
    let (n, unit) = if micros <= u128::from(MAX_DIGITS) {
        (micros as u64, 'u')
    } else if remaining.as_millis() <= u128::from(MAX_DIGITS) {
        (remaining.as_millis() as u64, 'm')
    } else {
        (remaining.as_secs().min(MAX_DIGITS), 'S')
    };
    HeaderValue::from_str(&format!("{n}{unit}")).expect("digits and a unit letter are a valid header value")
}

/// The deadline a request's headers announce, from now.
pub fn from_headers(headers: &HeaderMap) -> Option<Instant> {
    let value = headers.get(GRPC_TIMEOUT)?.to_str().ok()?;
    Some(Instant::now() + parse_grpc_timeout(value)?)
}

/// The status a call whose deadline passed ends with.
pub fn exceeded() -> tonic::Status {
    tonic::Status::deadline_exceeded("deadline exceeded")
}

/// The deadline a server holds a call to, on the request's extensions:
/// `None` for a server stream the caller set no deadline on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallDeadline(pub Option<Instant>);

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Deadlines {
    default: Duration,
    calls: Calls,
}

impl Deadlines {
    /// Holds the calls of `calls` to their deadline, `default` where the
    /// caller gives none.
    pub fn new(default: Duration, calls: Calls) -> Self {
        Self { default, calls }
    }
}

/// The answer to a malformed `grpc-timeout`.
fn malformed() -> tonic::Status {
    crate::error::Error::invalid(GRPC_TIMEOUT, "must be 1 to 8 digits and a unit (H, M, S, m, u or n)").into()
}

impl<S, ResBody> Around<S, Request<Body>> for Deadlines
where
    S: Inner<Body, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = Response<Body>;
    type Error = S::Error;

    fn around(&self, mut req: Request<Body>, mut inner: S) -> BoxFuture<Result<Self::Response, S::Error>> {
        let now = Instant::now();
        let caller = match req.headers().get(GRPC_TIMEOUT) {
            None => None,
            Some(value) => match value.to_str().ok().and_then(parse_grpc_timeout) {
                Some(timeout) => Some(now + timeout),
                None => return answer(malformed().into_http()),
            },
        };
        let kind = self.calls.kind(req.uri().path());
        let deadline = caller.or_else(|| (!kind.server_streaming).then(|| now + self.default));
        req.extensions_mut().insert(CallDeadline(deadline));
        if !(kind.client_streaming && kind.server_streaming) {
            let body_by = deadline.unwrap_or(now + self.default);
            req = req.map(|body| Body::new(BodyDeadline::new(body, body_by)));
        }
        let deadline = deadline.map(|d| d.checked_sub(EARLY_BY).unwrap_or(d));
        Box::pin(async move {
            let Some(deadline) = deadline else {
                return inner.call(req).await.map(|r| r.map(Body::new));
            };
            match tokio::time::timeout_at(deadline, inner.call(req)).await {
                Ok(response) => response.map(|r| r.map(|body| Body::new(DeadlineBody::new(body, deadline)))),
                Err(_) => Ok(exceeded().into_http()),
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// A request body that fails with DEADLINE_EXCEEDED when it is not
    /// complete by its deadline: whoever reads it (tonic decoding a message,
    /// the gateway buffering one) stops waiting then.
    pub struct BodyDeadline<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: Sleep,
        done: bool,
    }
}

impl<B> BodyDeadline<B> {
    /// `inner`, to be complete by `deadline`.
    pub fn new(inner: B, deadline: Instant) -> Self {
        Self {
            inner,
            sleep: tokio::time::sleep_until(deadline),
            done: false,
        }
    }
}

impl<B> http_body::Body for BodyDeadline<B>
where
    B: http_body::Body<Data = Bytes, Error = tonic::Status>,
{
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            if frame.is_none() {
                *this.done = true;
            }
            return Poll::Ready(frame);
        }
        if this.sleep.poll(cx).is_ready() {
            *this.done = true;
            return Poll::Ready(Some(Err(tonic::Status::deadline_exceeded(
                "the request was not complete by the call's deadline",
            ))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }
}

pin_project_lite::pin_project! {
    /// A response body that ends with DEADLINE_EXCEEDED trailers when the
    /// deadline passes before the backend finished it.
    pub struct DeadlineBody<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: Sleep,
        expired: bool,
    }
}

impl<B> DeadlineBody<B> {
    /// `inner`, cut at `deadline`.
    pub fn new(inner: B, deadline: Instant) -> Self {
        Self {
            inner,
            sleep: tokio::time::sleep_until(deadline),
            expired: false,
        }
    }
}

impl<B> http_body::Body for DeadlineBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if *this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.sleep.poll(cx).is_ready() {
            *this.expired = true;
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from(tonic::Code::DeadlineExceeded as i32));
            trailers.insert("grpc-message", HeaderValue::from_static("deadline%20exceeded"));
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.expired || self.inner.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_refuses_malformed_values() {
        assert_eq!(parse_grpc_timeout("200m"), Some(Duration::from_millis(200)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "m", "123456789m", "12x", "-5m", "1.5S", "五S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn encoding_round_trips_and_never_lengthens_a_deadline() {
        for d in [
            Duration::from_micros(1),
            Duration::from_millis(199),
            Duration::from_secs(15),
            Duration::from_secs(100_000),
            Duration::from_secs(10_000_000_000),
        ] {
            let value = encode_grpc_timeout(d);
            let back = parse_grpc_timeout(value.to_str().expect("ascii")).expect("parses");
            assert!(back <= d, "{d:?} became {back:?}");
            assert!(
                d - back < Duration::from_secs(1) || d.as_secs() > MAX_DIGITS,
                "{d:?} → {back:?}"
            );
        }
    }
}

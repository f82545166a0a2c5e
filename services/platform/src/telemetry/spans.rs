//! The spans of calls and events, by the OpenTelemetry semantic conventions
//! **1.26** (RPC and messaging):
//!
//! - every call a server answers is a SERVER span named
//!   `<package>.<Service>/<Method>` with `rpc.system`, `rpc.service`,
//!   `rpc.method`, `rpc.grpc.status_code`, `server.address` and
//!   `server.port`, continuing the caller's W3C `traceparent`;
//! - every call the gateway or a relay makes is a CLIENT span of the same
//!   name, whose context is the `traceparent` the callee receives;
//! - status: a CLIENT span is Error for every code but OK; a SERVER span
//!   for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and
//!   DATA_LOSS (the caller's mistakes are not the server's errors);
//! - an event is a PRODUCER span `publish <EventType>` where it is written,
//!   and each delivery a CONSUMER span `process <EventType>` in the
//!   producer's trace (first attempt) or in a trace of its own linked to the
//!   producer (retries and replays), so a parked event's retries do not
//!   grow the original trace for minutes.
//!
//! Health checks make no span: probes call them every second, and a trace
//! an operator would wade through to find the calls that matter. Without an
//! exporter only the SERVER span is made (log lines carry its fields): the
//! others serve traces alone.

use opentelemetry::trace::TraceContextExt as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::COMPONENT;

/// Which end of a call a span is: their status rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The callee.
    Server,
    /// The caller.
    Client,
}

/// Whether `code` ends the span of `side` in error (see the module
/// documentation).
pub fn is_error(side: Side, code: i64) -> bool {
    use tonic::Code;
    let Ok(code) = i32::try_from(code).map(Code::from) else {
        return true;
    };
    match side {
        Side::Client => code != Code::Ok,
        Side::Server => matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ),
    }
}

/// Ends `span`'s call with gRPC status `code` (when spans are exported:
/// the logs do not need it, and recording a field on a span costs the JSON
/// log layer a re-encoding of all of them).
pub fn record_status(span: &tracing::Span, side: Side, code: i64) {
    if !super::traced() {
        return;
    }
    span.record("rpc.grpc.status_code", code);
    if is_error(side, code) {
        let name = i32::try_from(code)
            .map(tonic::Code::from)
            .unwrap_or(tonic::Code::Unknown);
        span.record("otel.status_description", format!("{name:?}"));
    }
}

/// `(span name, rpc.service, rpc.method)` of a path the server answers
/// (the name is the path without its slash: nothing to allocate per call);
/// `_OTHER` for any other.
fn names<'a>(known: &crate::calls::Calls, path: &'a str) -> (&'a str, &'a str, &'a str) {
    match known.labels(path) {
        (crate::calls::OTHER, _) => (crate::calls::OTHER, crate::calls::OTHER, crate::calls::OTHER),
        (service, method) => (path.trim_start_matches('/'), service, method),
    }
}

/// The SERVER span of one incoming call to `component`, continuing the
/// caller's trace when the request carries a W3C `traceparent` (a client,
/// the gateway's CLIENT span, a relay's); none for health checks.
pub fn request_span<B>(
    component: &'static str,
    known: &crate::calls::Calls,
    request: &http::Request<B>,
) -> tracing::Span {
    let path = request.uri().path();
    if path.starts_with("/grpc.health.v1.Health/") {
        return tracing::Span::none();
    }
    let (name, rpc_service, rpc_method) = names(known, path);
    let protocol = crate::calls::Protocol::of(request).as_str();
    if !super::traced() {
        // The fields the log lines of the call carry; the rest serve traces.
        return tracing::info_span!(
            "rpc.server",
            rpc.service = rpc_service,
            rpc.method = rpc_method,
            tiejun.rpc.protocol = protocol,
            { COMPONENT } = component,
        );
    }
    // HTTP/2 carries `:authority` in the URI; HTTP/1.1 (the web edge) a Host header.
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| request.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()));
    let (address, port) = match authority.map(|a| a.rsplit_once(':')) {
        Some(Some((host, port))) => (Some(host), port.parse::<u16>().ok()),
        Some(None) => (authority, None),
        None => (None, None),
    };
    let span = tracing::info_span!(
        "rpc.server",
        otel.name = name,
        otel.kind = "server",
        otel.status_description = Empty,
        rpc.system = "grpc",
        rpc.service = rpc_service,
        rpc.method = rpc_method,
        rpc.grpc.status_code = Empty,
        server.address = address,
        server.port = port,
        tiejun.rpc.protocol = protocol,
        { COMPONENT } = component,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(request.headers()))
    });
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed: nothing to continue then.
        let _ = span.set_parent(parent);
    }
    span
}

/// The CLIENT span of a call `component` makes to `path`, a child of the
/// current span. Put its context on the request with [`inject`]; end it
/// with [`record_status`].
pub fn client_span(component: &'static str, path: &str) -> tracing::Span {
    if !super::traced() {
        return tracing::Span::none();
    }
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    tracing::info_span!(
        "rpc.client",
        otel.name = path.trim_start_matches('/'),
        otel.kind = "client",
        otel.status_description = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        { COMPONENT } = component,
    )
}

/// Sets `traceparent` on outgoing headers to `span`'s context, replacing
/// any the caller sent (the callee's parent is this hop, not the caller);
/// removes it when the span is not traced, so a caller's header is passed
/// on unchanged only when this process traces nothing.
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    if let Some(value) = super::traceparent_of(span).and_then(|v| http::HeaderValue::from_str(&v).ok()) {
        headers.insert("traceparent", value);
        headers.remove("tracestate");
    }
}

/// The PRODUCER span of an event of type `event_type` being written by
/// `component`, a child of the current call.
pub fn publish_span(component: &'static str, event_type: &str, event_id: &str) -> tracing::Span {
    if !super::traced() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        "messaging.publish",
        otel.name = format!("publish {event_type}"),
        otel.kind = "producer",
        messaging.system = "tiejun.outbox",
        messaging.operation.type = "publish",
        messaging.destination.name = event_type,
        messaging.message.id = event_id,
        { COMPONENT } = component,
    )
}

/// The CONSUMER span of one delivery attempt of a stored event by
/// `component`'s relay to `consumer`: in the producer's trace on the first
/// attempt, else a trace of its own linked to the producer (and to the
/// replay that put it back in line, when there was one).
pub fn process_span(component: &'static str, event: &Delivery<'_>) -> tracing::Span {
    if !super::traced() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "messaging.process",
        otel.name = format!("process {}", event.event_type),
        otel.kind = "consumer",
        otel.status_description = Empty,
        messaging.system = "tiejun.outbox",
        messaging.operation.type = "process",
        messaging.destination.name = event.event_type,
        messaging.message.id = event.event_id,
        messaging.consumer.group.name = event.consumer,
        tiejun.delivery.attempt = event.attempt,
        { COMPONENT } = component,
    );
    let producer = remote(event.traceparent);
    match producer {
        Some(producer) if event.attempt == 1 && event.replayed_by.is_empty() => {
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(producer));
        }
        producer => {
            // A root of its own, not a child of whatever is current.
            let _ = span.set_parent(opentelemetry::Context::new());
            if let Some(producer) = producer {
                span.add_link(producer);
            }
            if let Some(replay) = remote(event.replayed_by) {
                span.add_link(replay);
            }
        }
    }
    span
}

/// What a delivery attempt's span says about it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The event's type.
    pub event_type: &'a str,
    /// Its id.
    pub event_id: &'a str,
    /// The consumer it goes to.
    pub consumer: &'a str,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// The producer's `traceparent`, stored with the event.
    pub traceparent: &'a str,
    /// The `traceparent` of the replay call that put it back in line, if any.
    pub replayed_by: &'a str,
}

/// The span context a W3C `traceparent` names.
fn remote(traceparent: &str) -> Option<opentelemetry::trace::SpanContext> {
    use opentelemetry::propagation::TextMapPropagator as _;
    if traceparent.is_empty() {
        return None;
    }
    let carrier = std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
    let span = context.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_errs_on_every_code_but_ok_and_a_server_on_its_own_faults() {
        for code in 0..=16 {
            assert_eq!(is_error(Side::Client, code), code != 0, "client {code}");
        }
        let server: Vec<i64> = (0..=16).filter(|c| is_error(Side::Server, *c)).collect();
        assert_eq!(server, vec![2, 4, 12, 13, 14, 15]);
        assert!(is_error(Side::Server, 99) && is_error(Side::Client, -1));
    }
}

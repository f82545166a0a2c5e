//! One error type for every service, turned into a precise `tonic::Status`
//! with `google.rpc` details in exactly one place.

use std::time::Duration;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt as _};

/// The `ErrorInfo.domain` of every business-rule error.
pub const ERROR_DOMAIN: &str = "tiejun";

/// A field that failed validation (becomes a `BadRequest.FieldViolation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The request field, in proto path form (`lead.phone`).
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Everything a tiejun RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input; one violation per offending field.
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The same idempotency key was sent with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// The named resource does not exist.
    #[error("{resource} not found: {id}")]
    NotFound {
        /// Resource type, e.g. `lead`.
        resource: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A duplicate; names the existing resource.
    #[error("{resource} already exists: {existing_id} ({message})")]
    AlreadyExists {
        /// Resource type.
        resource: &'static str,
        /// The id of the existing resource.
        existing_id: String,
        /// What matched (never the other owner's contact data).
        message: String,
    },
    /// A business rule refuses the call (`ErrorInfo.reason` says which).
    #[error("{message}")]
    FailedPrecondition {
        /// Machine-readable reason, e.g. `PRIVATE_POOL_FULL`.
        reason: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// A value outside what can be served now (a feed cursor older than the
    /// feed's retention, or ahead of it); `ErrorInfo.reason` says which and
    /// `BadRequest` names the field.
    #[error("{message}")]
    OutOfRange {
        /// The request field.
        field: &'static str,
        /// Machine-readable reason, e.g. `CURSOR_EXPIRED`.
        reason: &'static str,
        /// Human-readable explanation, with what to do.
        message: String,
    },
    /// A retryable conflict (serialization failure, lost race).
    #[error("{0}")]
    Aborted(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    PermissionDenied(String),
    /// No valid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// A limit was hit; retry after the delay.
    #[error("{message}")]
    ResourceExhausted {
        /// What limit.
        message: String,
        /// When to retry.
        retry_after: Duration,
    },
    /// A dependency (the database) is not reachable right now.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; logged in full, never sent to the client.
    #[error("{0}")]
    Internal(Cause),
    /// The client's own request stream failed (a message that did not decode
    /// or was over the limit, a reset): answered with the status tonic gave it.
    #[error("{}", .0.message())]
    ClientStream(tonic::Status),
}

/// The cause of an [`Error::Internal`]: a plain error value and its sources.
///
/// Deliberately not an `anyhow::Error`: that captures a backtrace where it
/// is made whenever `RUST_BACKTRACE` is set, and logging it symbolises the
/// binary's debug information, which stays in memory (one INTERNAL took a
/// service from 53 MB to 231 MB). Request-path code makes no `anyhow`
/// errors; startup and background jobs may, and report them themselves.
pub struct Cause(Box<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// `err` as a cause.
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(err.into())
    }
}

impl std::fmt::Display for Cause {
    /// The error and each of its sources, `: `-separated (a source whose
    /// text its error already shows is not repeated).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = self.0.to_string();
        let mut source = self.0.source();
        while let Some(s) = source {
            let next = s.to_string();
            if !text.contains(&next) {
                text = format!("{text}: {next}");
            }
            source = s.source();
        }
        f.write_str(&text)
    }
}

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A database failure with no better meaning, for the log.
#[derive(Debug, thiserror::Error)]
#[error("database: {0}")]
struct DatabaseFailure(#[source] sqlx::Error);

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// Shorthand for a single-field `InvalidArgument`.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    /// The same error with each field violation named under `prefix`
    /// (`event.lead_converted.`): for a message checked by a parser that
    /// names its own fields, where it is nested in the request.
    #[must_use]
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Self::InvalidArgument(violations) => Self::InvalidArgument(
                violations
                    .into_iter()
                    .map(|v| FieldViolation::new(format!("{prefix}{}", v.field), v.description))
                    .collect(),
            ),
            other => other,
        }
    }

    /// Shorthand for `Internal`: a bug or an unexpected failure.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(Cause::new(cause))
    }

    /// Shorthand for `FailedPrecondition`.
    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::FailedPrecondition {
            reason,
            message: message.into(),
        }
    }

    /// Shorthand for `NotFound`.
    ///
    /// The id is echoed in the answer's message and details, which travel
    /// as HTTP/2 headers: a caller's 100,000-character id would overflow a
    /// proxy's header limit, so it is clipped to [`ECHOED_ID_CHARS`].
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            resource,
            id: clip(id.into()),
        }
    }

    /// NOT_FOUND for a typed id: the resource is the id's kind
    /// ([`Kind::NAME`](crate::id::Kind::NAME)), so it cannot be misnamed.
    pub fn missing<K: crate::id::Kind>(id: &crate::id::Id<K>) -> Self {
        Self::not_found(K::NAME, id.as_str())
    }

    /// The gRPC code this error maps to.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) | Self::IdempotencyKeyReused => Code::InvalidArgument,
            Self::NotFound { .. } => Code::NotFound,
            Self::AlreadyExists { .. } => Code::AlreadyExists,
            Self::FailedPrecondition { .. } => Code::FailedPrecondition,
            Self::OutOfRange { .. } => Code::OutOfRange,
            Self::Aborted(_) => Code::Aborted,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::ResourceExhausted { .. } => Code::ResourceExhausted,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Internal(_) => Code::Internal,
            Self::ClientStream(status) => status.code(),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &err {
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) => Self::Unavailable("database unavailable".into()),
            E::Database(db) if is_retryable_conflict(db.code().as_deref()) => {
                Self::Aborted("conflicting concurrent update; retry".into())
            }
            E::Database(db) => match crate::constraint::violated(db.as_ref()) {
                Some(constraint) => constraint.error(),
                None => Self::internal(DatabaseFailure(err)),
            },
            _ => Self::internal(DatabaseFailure(err)),
        }
    }
}

/// The most characters of a caller's id echoed back in an error.
pub const ECHOED_ID_CHARS: usize = 128;

/// A caller's text clipped to [`ECHOED_ID_CHARS`] before it is echoed in
/// an answer (whose message travels as an HTTP/2 header).
pub fn clip_for_echo(text: &str) -> String {
    clip(text.to_owned())
}

fn clip(id: String) -> String {
    match id.char_indices().nth(ECHOED_ID_CHARS) {
        Some((end, _)) => format!("{}…", &id[..end]),
        None => id,
    }
}

/// PostgreSQL serialization failure / deadlock, SQLite busy / locked.
fn is_retryable_conflict(code: Option<&str>) -> bool {
    matches!(code, Some("40001" | "40P01" | "5" | "6" | "517" | "262"))
}

/// `err` as the constraint it violated means it (the service's table in
/// `crate::constraint`, by name), and when that is a duplicate, naming the
/// row that exists and saying why: `existing_id` goes into `ResourceInfo`.
/// A unique key that means something else (an id only the server makes)
/// stays what its table says, so a bug is never reported as a duplicate.
pub fn on_duplicate(err: sqlx::Error, existing_id: impl Into<String>, message: impl Into<String>) -> Error {
    match Error::from(err) {
        Error::AlreadyExists { resource, .. } => Error::AlreadyExists {
            resource,
            existing_id: existing_id.into(),
            message: message.into(),
        },
        other => other,
    }
}

/// The name of the CHECK constraint `err` violated, on either backend:
/// PostgreSQL reports it; SQLite names a named constraint in its message
/// (`CHECK constraint failed: private_pools_cap`). Callers map the names
/// they own to business errors and let the rest stay internal.
pub fn violated_check(err: &sqlx::Error) -> Option<String> {
    let db = err.as_database_error().filter(|db| db.is_check_violation())?;
    db.constraint().map(str::to_owned).or_else(|| {
        db.message()
            .strip_prefix("CHECK constraint failed: ")
            .map(|name| name.trim().to_owned())
    })
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let code = err.code();
        match err {
            Error::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                tonic::Status::with_error_details(code, describe(&violations), details)
            }
            Error::IdempotencyKeyReused => {
                let mut details = ErrorDetails::with_error_info(
                    "IDEMPOTENCY_KEY_REUSED",
                    ERROR_DOMAIN,
                    std::collections::HashMap::new(),
                );
                details.add_bad_request_violation("idempotency_key", "already used with a different request");
                tonic::Status::with_error_details(code, "idempotency key reused with a different request", details)
            }
            Error::NotFound { resource, ref id } => {
                let details = ErrorDetails::with_resource_info(resource, id.clone(), "", "not found");
                tonic::Status::with_error_details(code, err.to_string(), details)
            }
            Error::AlreadyExists {
                resource,
                ref existing_id,
                ref message,
            } => {
                let details = ErrorDetails::with_resource_info(resource, existing_id.clone(), "", message.clone());
                tonic::Status::with_error_details(code, err.to_string(), details)
            }
            Error::FailedPrecondition { reason, message } => {
                let details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, std::collections::HashMap::new());
                tonic::Status::with_error_details(code, message, details)
            }
            Error::OutOfRange { field, reason, message } => {
                let mut details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, std::collections::HashMap::new());
                details.add_bad_request_violation(field, message.clone());
                tonic::Status::with_error_details(code, message, details)
            }
            Error::ResourceExhausted { message, retry_after } => {
                let details = ErrorDetails::with_retry_info(Some(retry_after));
                tonic::Status::with_error_details(code, message, details)
            }
            Error::Internal(source) => {
                let trace_id = crate::telemetry::current_trace_id();
                tracing::error!(error = %source, %trace_id, "internal error");
                let details = ErrorDetails::with_debug_info(Vec::new(), format!("trace_id={trace_id}"));
                tonic::Status::with_error_details(code, format!("internal error (trace id {trace_id})"), details)
            }
            Error::ClientStream(status) => status,
            other => tonic::Status::new(code, other.to_string()),
        }
    }
}

/// The result type of service code.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_id_is_clipped_before_it_is_echoed() {
        let status: tonic::Status = Error::not_found("lead", "号".repeat(100_000)).into();
        assert!(status.message().chars().count() < 200, "{}", status.message().len());
        let info = status
            .get_error_details()
            .resource_info()
            .cloned()
            .expect("ResourceInfo");
        assert_eq!(info.resource_name.chars().count(), ECHOED_ID_CHARS + 1);
        let short: tonic::Status = Error::not_found("lead", "L1").into();
        assert_eq!(short.message(), "lead not found: L1");
    }

    #[test]
    fn invalid_argument_carries_field_violations() {
        let status: tonic::Status = Error::invalid("lead.phone", "not a phone number").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("BadRequest detail");
        assert_eq!(bad.field_violations[0].field, "lead.phone");
    }

    #[test]
    fn out_of_range_names_its_reason_and_field() {
        let status: tonic::Status = Error::OutOfRange {
            field: "after_sequence",
            reason: "CURSOR_EXPIRED",
            message: "too old".into(),
        }
        .into();
        assert_eq!(status.code(), Code::OutOfRange);
        let details = status.get_error_details();
        assert_eq!(details.error_info().map(|i| i.reason.as_str()), Some("CURSOR_EXPIRED"));
        let violations = &details.bad_request().expect("BadRequest").field_violations;
        assert_eq!(violations[0].field, "after_sequence");
    }

    #[test]
    fn precondition_carries_reason_and_domain() {
        let status: tonic::Status = Error::precondition("PRIVATE_POOL_FULL", "pool at cap 30").into();
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_error_details().error_info().cloned().expect("ErrorInfo");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("PRIVATE_POOL_FULL", ERROR_DOMAIN)
        );
    }

    #[test]
    fn internal_hides_the_cause_and_names_a_trace_id() {
        let status: tonic::Status = Error::internal("relation \"leads\" does not exist").into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("relation"), "{}", status.message());
        assert!(status.message().contains("trace id"));
    }

    #[test]
    fn resource_exhausted_carries_retry_info() {
        let status: tonic::Status = Error::ResourceExhausted {
            message: "too many requests".into(),
            retry_after: Duration::from_millis(250),
        }
        .into();
        let retry = status.get_error_details().retry_info().cloned().expect("RetryInfo");
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(250)));
    }

    #[test]
    fn reused_idempotency_key_is_invalid_argument_with_reason() {
        let status: tonic::Status = Error::IdempotencyKeyReused.into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let info = status.get_error_details().error_info().cloned().expect("ErrorInfo");
        assert_eq!(info.reason, "IDEMPOTENCY_KEY_REUSED");
    }
}

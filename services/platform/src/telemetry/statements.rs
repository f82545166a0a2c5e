//! One CLIENT span per database statement, by the OpenTelemetry database
//! conventions **1.26**: named `<operation> <table>` (`UPDATE leads`), with
//! `db.system` (`postgresql` or `sqlite`), `db.namespace` (the database),
//! `db.operation.name`, `db.collection.name` and `db.query.text`, the SQL as
//! written, placeholders and all, never a bound value.
//!
//! sqlx reports every statement it ran as a `sqlx::query` event (text,
//! elapsed time); this layer turns each into a span ending when the event
//! arrives and starting `elapsed` before, a child of the span the statement
//! ran in (sqlx reports no `BEGIN` or `COMMIT`: a transaction shows as its
//! statements). A statement outside any traced span (a background poll)
//! makes no span: idle polling creates no traces.

use std::{
    collections::HashMap,
    sync::{OnceLock, RwLock},
    time::{Duration, SystemTime},
};

use opentelemetry::{
    KeyValue,
    trace::{SpanKind, TraceContextExt as _, Tracer as _},
};
use tracing::{Subscriber, field::Field};
use tracing_subscriber::{
    Layer as _,
    layer::{Context, Filter},
    registry::LookupSpan,
};

use super::COMPONENT;

/// `db.system` and `db.namespace` of each component's database.
static DATABASES: OnceLock<RwLock<HashMap<String, (&'static str, String)>>> = OnceLock::new();

/// Names the database `component` uses, for its statement spans: the
/// system of `url`, and the database (PostgreSQL) or file (SQLite) it names.
/// The URL itself, which may hold a password, is not kept.
pub fn describe_database(component: &str, url: &str) {
    let (system, namespace) = if url.starts_with("sqlite:") {
        let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or_default();
        let file = std::path::Path::new(path)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        ("sqlite", file)
    } else {
        let name = url
            .split('?')
            .next()
            .and_then(|u| u.rsplit_once('/'))
            .map(|(_, db)| db.to_owned())
            .unwrap_or_default();
        ("postgresql", name)
    };
    let databases = DATABASES.get_or_init(Default::default);
    databases
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(component.to_owned(), (system, namespace));
}

/// The layer (see the module documentation), seeing spans at INFO and
/// above and sqlx's statement events.
pub fn layer<S>(tracer: opentelemetry_sdk::trace::Tracer) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    Statements { tracer }.with_filter(Interesting)
}

struct Statements {
    tracer: opentelemetry_sdk::trace::Tracer,
}

/// Spans at INFO and above (to learn their component) and sqlx's events.
struct Interesting;

impl<S> Filter<S> for Interesting {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: &Context<'_, S>) -> bool {
        if meta.is_span() {
            *meta.level() <= tracing::Level::INFO
        } else {
            meta.target() == "sqlx::query"
        }
    }
}

/// The component a span belongs to: its own field, else its parent's.
struct Component(String);

struct ComponentField<'a>(&'a mut Option<String>);

impl tracing::field::Visit for ComponentField<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == COMPONENT {
            *self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

/// What sqlx says of one statement.
#[derive(Default)]
struct Statement {
    summary: String,
    text: String,
    elapsed_secs: f64,
}

impl tracing::field::Visit for Statement {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.trim().clone_into(&mut self.text),
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S> tracing_subscriber::Layer<S> for Statements
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut own = None;
        attrs.record(&mut ComponentField(&mut own));
        let component = own.or_else(|| {
            let parent = span.parent()?;
            let extensions = parent.extensions();
            extensions.get::<Component>().map(|c| c.0.clone())
        });
        if let Some(component) = component {
            span.extensions_mut().insert(Component(component));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let parent = opentelemetry::Context::current();
        if !parent.span().span_context().is_valid() {
            return;
        }
        let Some(component) = ctx
            .event_span(event)
            .and_then(|span| span.extensions().get::<Component>().map(|c| c.0.clone()))
        else {
            return;
        };
        let mut statement = Statement::default();
        event.record(&mut statement);
        let text = if statement.text.is_empty() {
            statement.summary
        } else {
            statement.text
        };
        let (operation, collection) = parse(&text);
        let (system, namespace) = DATABASES
            .get()
            .and_then(|d| {
                d.read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(&component)
                    .cloned()
            })
            .unwrap_or(("other_sql", String::new()));
        let name = match (&collection, namespace.is_empty()) {
            (Some(table), _) => format!("{operation} {table}"),
            (None, false) => format!("{operation} {namespace}"),
            (None, true) => operation.clone(),
        };
        let end = SystemTime::now();
        let start = end
            .checked_sub(Duration::from_secs_f64(statement.elapsed_secs.max(0.0)))
            .unwrap_or(end);
        let mut attributes = vec![
            KeyValue::new("db.system", system),
            KeyValue::new("db.operation.name", operation),
            KeyValue::new("db.query.text", text),
            KeyValue::new(COMPONENT, component),
        ];
        if !namespace.is_empty() {
            attributes.push(KeyValue::new("db.namespace", namespace));
        }
        if let Some(table) = collection {
            attributes.push(KeyValue::new("db.collection.name", table));
        }
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        opentelemetry::trace::Span::end_with_timestamp(&mut { span }, end);
    }
}

/// The operation (first keyword) and the table a statement works on, when
/// it names one plainly (`INSERT INTO t`, `UPDATE t`, `… FROM t`).
fn parse(sql: &str) -> (String, Option<String>) {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let operation = words.first().map(|w| w.to_ascii_uppercase()).unwrap_or_default();
    let after = |keyword: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(keyword))
            .and_then(|i| words.get(i + 1))
            .map(|t| t.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_')).to_owned())
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("select"))
    };
    let collection = match operation.as_str() {
        "INSERT" => after("INTO"),
        "UPDATE" => after("UPDATE"),
        "SELECT" | "DELETE" => after("FROM"),
        _ => None,
    };
    (operation, collection)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn statements_name_their_operation_and_table() {
        let cases = [
            ("INSERT INTO outbox (a) VALUES ($1)", "INSERT", Some("outbox")),
            ("update leads SET state = $1", "UPDATE", Some("leads")),
            ("SELECT o.seq FROM outbox o WHERE", "SELECT", Some("outbox")),
            ("DELETE FROM rep_days WHERE", "DELETE", Some("rep_days")),
            ("SELECT 1", "SELECT", None),
            ("BEGIN IMMEDIATE", "BEGIN", None),
            ("WITH x AS (SELECT 1) UPDATE leads", "WITH", None),
        ];
        for (sql, operation, table) in cases {
            assert_eq!(parse(sql), (operation.to_owned(), table.map(str::to_owned)), "{sql}");
        }
    }
}

//! How many statements one ClaimLead sends to the database, counted in the
//! client on both backends, so the claim cannot creep back to the eleven it
//! once took: on PostgreSQL the claim is one statement, run in autocommit
//! without an idempotency key and between BEGIN and COMMIT with one (with
//! the key's claim and record: five); on SQLite the facts, the day's
//! counter, the four writes of the assignment and the transaction around
//! them.
//!
//! Its own test binary: the count is a process-wide tracing layer that
//! watches sqlx's statement log (target `sqlx::query`) inside the server's
//! `rpc.server` span of a ClaimLead, plus two statements (BEGIN, COMMIT) for
//! each transaction the call opens (the platform's DEBUG event at `begin`),
//! since sqlx logs neither the same way on both backends.

use std::{
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tiejun_platform::{
    db::Backend,
    testing::{TestDatabase, postgres_required},
};
use tiejun_proto::leads::v1::ClaimLeadRequest;
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, lead_input, rep_token},
};
use tracing::{
    Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id},
};
use tracing_subscriber::{Layer, layer::Context, prelude::*, registry::LookupSpan};

/// Statements seen inside calls of the method being counted.
static STATEMENTS: AtomicUsize = AtomicUsize::new(0);
/// Transactions the counted calls opened.
static TRANSACTIONS: AtomicUsize = AtomicUsize::new(0);
/// The SQL of each statement, to show what crept in.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// One count at a time (the counters are the process's).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Marks the span of a counted call.
struct Counted;

/// The method whose statements are counted.
const METHOD: &str = "ClaimLead";

#[derive(Default)]
struct Fields {
    method: Option<String>,
    /// sqlx logs a short statement whole in `summary` and leaves
    /// `db.statement` empty; a long one in `db.statement`.
    summary: String,
    statement: String,
}

impl Fields {
    fn sql(&self) -> String {
        let sql = if self.statement.trim().is_empty() {
            &self.summary
        } else {
            &self.statement
        };
        sql.trim().to_owned()
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "rpc.method" => self.method = Some(value.to_owned()),
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.statement = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}").trim_matches('"').replace("\\n", " "));
    }
}

struct StatementCounter;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StatementCounter {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if attrs.metadata().name() != "rpc.server" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if fields.method.as_deref() == Some(METHOD) {
            span.extensions_mut().insert(Counted);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let counted = ctx
            .event_scope(event)
            .is_some_and(|mut scope| scope.any(|s| s.extensions().get::<Counted>().is_some()));
        if !counted {
            return;
        }
        if event.metadata().target() == tiejun_platform::db::TRANSACTION_TARGET {
            TRANSACTIONS.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let sql = fields.sql();
        // Transaction control is counted from the transaction's span.
        let word = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        if matches!(word.as_str(), "BEGIN" | "COMMIT" | "ROLLBACK") {
            return;
        }
        STATEMENTS.fetch_add(1, Ordering::SeqCst);
        SEEN.lock().expect("not poisoned").push(sql);
    }
}

fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing_subscriber::registry()
            .with(
                StatementCounter
                    .with_filter(tracing_subscriber::filter::Targets::new().with_default(tracing::Level::DEBUG)),
            )
            .init();
    });
}

/// The statements one successful claim sends, and their SQL.
async fn one_claim(db: TestDatabase, idempotency_key: &str) -> (usize, Vec<String>) {
    install();
    let _turn = ONE_AT_A_TIME.lock().await;
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["S1"], 30).await;
    let leads = f.import(vec![lead_input(1, "杭州", 50)]).await;
    let mut client = f.leads().await;
    STATEMENTS.store(0, Ordering::SeqCst);
    TRANSACTIONS.store(0, Ordering::SeqCst);
    SEEN.lock().expect("not poisoned").clear();
    let claim = ClaimLeadRequest {
        lead_id: leads[0].clone(),
        idempotency_key: idempotency_key.into(),
    };
    client
        .claim_lead(authed(claim, &rep_token("S1")))
        .await
        .expect("the claim goes through");
    // The server logs a statement when it finishes; give the last a moment.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let total = STATEMENTS.load(Ordering::SeqCst) + 2 * TRANSACTIONS.load(Ordering::SeqCst);
    let seen = SEEN.lock().expect("not poisoned").clone();
    let transactions = TRANSACTIONS.load(Ordering::SeqCst);
    println!("{total} statements: {} in {transactions} transaction(s)", seen.len());
    (total, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_one_statement_on_postgresql() {
    let Some(db) = TestDatabase::postgres().await else {
        assert!(!postgres_required());
        return;
    };
    assert_eq!(db.backend, Backend::Postgres);
    let (total, seen) = one_claim(db, "").await;
    assert_eq!(total, 1, "a claim sent {total} statements: {seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_with_an_idempotency_key_is_five_statements_on_postgresql() {
    let Some(db) = TestDatabase::postgres().await else {
        assert!(!postgres_required());
        return;
    };
    let (total, seen) = one_claim(db, "claim-once").await;
    assert!(total <= 5, "a claim sent {total} statements: BEGIN, {seen:#?}, COMMIT");
    assert_eq!(seen.len(), 3, "the key's claim, the claim, the key's record: {seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_eight_statements_on_sqlite() {
    let (total, seen) = one_claim(TestDatabase::sqlite(), "").await;
    assert!(total <= 8, "a claim sent {total} statements: BEGIN, {seen:#?}, COMMIT");
    assert!(
        total > seen.len() && seen.len() >= 4,
        "the writes and their transaction are counted: {seen:#?}"
    );
}

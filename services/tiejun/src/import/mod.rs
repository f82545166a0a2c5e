//! `tiejun leads import FILE.csv`: a spreadsheet export streamed into
//! `ImportLeads` (through the gateway by default), with a progress bar on a
//! terminal, a summary (created, duplicate, invalid) and a rejects file
//! naming each refused row's reason and, for a duplicate, the existing lead.
//!
//! Memory stays bounded whatever the file's size: a reader thread decodes
//! and parses the file one batch of rows at a time (`--batch`, 1,000 by
//! default) into a channel two batches deep, and each batch is one
//! `ImportLeads` call, whose answer (one result per row) stays small.
//! Re-running an interrupted import is safe: rows already imported come
//! back as duplicates naming their lead.

pub mod columns;
pub mod rejects;
pub mod text;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tiejun_proto::leads::v1::{ImportLeadsRequest, LeadInput, lead_service_client::LeadServiceClient};
use tonic::{Request, transport::Channel};

use self::{
    columns::Columns,
    rejects::{Refusal, Rejects},
};
use crate::cli::ImportArgs;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Data rows read.
    pub rows: u64,
    /// Leads created.
    pub created: u64,
    /// Rows refused as duplicates of an existing lead.
    pub duplicate: u64,
    /// Rows refused as invalid (by the service, or unreadable here).
    pub invalid: u64,
    /// Rows refused for another reason (the code is in the rejects file).
    pub other: u64,
    /// The text encoding the file was read in.
    pub encoding: String,
    /// Header cells that name no field (their columns were ignored).
    pub ignored_columns: Vec<String>,
    /// Where the refused rows were written, when any were.
    pub rejects: Option<PathBuf>,
    /// How long it took.
    pub elapsed: Duration,
}

impl Summary {
    /// Rows a second, over the whole import.
    pub fn rate(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn tally(&mut self, refusal: Option<&Refusal>) {
        match refusal.map(|r| r.code.as_str()) {
            None => self.created += 1,
            Some("ALREADY_EXISTS") => self.duplicate += 1,
            Some("INVALID_ARGUMENT") => self.invalid += 1,
            Some(_) => self.other += 1,
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows ({}) in {:.1} s, {:.0} rows/s: {} created, {} duplicate, {} invalid",
            self.rows,
            self.encoding,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.created,
            self.duplicate,
            self.invalid
        )?;
        if self.other > 0 {
            write!(f, ", {} refused otherwise", self.other)?;
        }
        if !self.ignored_columns.is_empty() {
            write!(f, "\nignored columns: {}", self.ignored_columns.join(", "))?;
        }
        match &self.rejects {
            Some(path) => write!(f, "\nrejects: {} (each refused row with its reason)", path.display()),
            None => write!(f, "\nno row was refused"),
        }
    }
}

/// One data row as read.
#[derive(Debug)]
struct Row {
    /// Its row number as a spreadsheet shows it (the header is row 1).
    number: i64,
    record: csv::StringRecord,
    lead: Result<LeadInput, String>,
}

/// What the reader thread sends: the file's shape first, then batches.
#[derive(Debug)]
enum Read {
    Opened {
        headers: csv::StringRecord,
        columns: Columns,
        encoding: &'static str,
    },
    Batch(Vec<Row>),
}

/// Imports `args.file`; the summary, or why the import stopped.
pub async fn run(args: &ImportArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let file = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = progress_bar(size);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<Read>>(2);
    let reader = {
        let (raw, encoding, batch) = (progress.wrap_read(file), args.encoding, args.batch as usize);
        tokio::task::spawn_blocking(move || {
            if let Err(err) = read_batches(raw, encoding, batch, &tx) {
                let _ = tx.blocking_send(Err(err));
            }
        })
    };
    let channel = Channel::from_shared(args.target.clone())
        .with_context(|| format!("--target {:?} is not a URL", args.target))?
        .connect()
        .await
        .with_context(|| format!("connecting to {}", args.target))?;
    let mut client = LeadServiceClient::new(channel);
    let token = token(args)?;

    let mut summary = Summary::default();
    let mut rejects = None;
    while let Some(read) = rx.recv().await {
        match read? {
            Read::Opened {
                headers,
                columns,
                encoding,
            } => {
                summary.encoding = encoding.to_owned();
                summary.ignored_columns = columns.ignored;
                let path = args.rejects.clone().unwrap_or_else(|| rejects::beside(&args.file));
                rejects = Some(Rejects::new(path, headers));
            }
            Read::Batch(rows) => {
                let rejects = rejects.as_mut().context("rows before the header")?;
                import_batch(&mut client, &token, rows, &mut summary, rejects)
                    .await
                    .map_err(|err| {
                        progress.abandon();
                        err.context(format!(
                            "the import stopped after {} rows ({} created); running it again is safe: \
                             rows already imported come back as duplicates",
                            summary.rows, summary.created
                        ))
                    })?;
                progress.set_message(format!(
                    "{} rows: {} created, {} duplicate, {} invalid",
                    summary.rows, summary.created, summary.duplicate, summary.invalid
                ));
            }
        }
    }
    reader.await.context("the file's reader")?;
    progress.finish_and_clear();
    summary.rejects = match rejects {
        Some(rejects) => rejects.finish()?,
        None => None,
    };
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Sends one batch's readable rows in one `ImportLeads` call and records
/// each row's outcome.
async fn import_batch(
    client: &mut LeadServiceClient<Channel>,
    token: &str,
    rows: Vec<Row>,
    summary: &mut Summary,
    rejects: &mut Rejects,
) -> anyhow::Result<()> {
    let sent: Vec<ImportLeadsRequest> = rows
        .iter()
        .filter_map(|row| {
            row.lead.as_ref().ok().map(|lead| ImportLeadsRequest {
                row: row.number,
                lead: Some(lead.clone()),
            })
        })
        .collect();
    let mut results = if sent.is_empty() {
        Vec::new().into_iter()
    } else {
        let mut request = Request::new(tokio_stream::iter(sent));
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let answer = client
            .import_leads(request)
            .await
            .map_err(|status| anyhow::anyhow!("ImportLeads: {}: {}", status.code(), status.message()))?;
        answer.into_inner().results.into_iter()
    };
    for row in rows {
        let refusal = match &row.lead {
            Err(why) => Some(Refusal {
                code: "INVALID_ARGUMENT".into(),
                reason: why.clone(),
                existing_lead_id: String::new(),
            }),
            Ok(_) => {
                let result = results
                    .next()
                    .context("ImportLeads answered fewer rows than it was sent")?;
                anyhow::ensure!(
                    result.row == row.number,
                    "ImportLeads answered row {} where row {} was expected",
                    result.row,
                    row.number
                );
                (result.lead_id.is_empty()).then_some(Refusal {
                    code: result.error_code,
                    reason: result.error_message,
                    existing_lead_id: result.existing_lead_id,
                })
            }
        };
        summary.rows += 1;
        summary.tally(refusal.as_ref());
        if let Some(refusal) = &refusal {
            rejects.write(row.number, &row.record, refusal)?;
        }
    }
    Ok(())
}

/// The reader thread: decodes and parses the file, sending its header and
/// then batches of `batch` rows; stops when the importer goes away.
fn read_batches(
    raw: impl std::io::Read + 'static,
    encoding: text::TextEncoding,
    batch: usize,
    tx: &tokio::sync::mpsc::Sender<anyhow::Result<Read>>,
) -> anyhow::Result<()> {
    let (decoded, chosen) = text::decoded(raw, encoding).context("reading the file")?;
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(decoded);
    let headers = csv.headers().context("reading the header row")?.clone();
    let columns = Columns::of(&headers)?;
    let opened = Read::Opened {
        headers,
        columns: columns.clone(),
        encoding: chosen.name(),
    };
    if tx.blocking_send(Ok(opened)).is_err() {
        return Ok(());
    }
    let mut rows = Vec::with_capacity(batch);
    for (i, record) in csv.records().enumerate() {
        let number = i as i64 + 2;
        let record = record.with_context(|| format!("reading row {number}"))?;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue; // a blank line a spreadsheet leaves at the end
        }
        let lead = columns.lead(&record);
        rows.push(Row { number, record, lead });
        if rows.len() == batch && tx.blocking_send(Ok(Read::Batch(std::mem::take(&mut rows)))).is_err() {
            return Ok(());
        }
    }
    if !rows.is_empty() {
        let _ = tx.blocking_send(Ok(Read::Batch(rows)));
    }
    Ok(())
}

/// A bar over the file's bytes, drawn on stderr when it is a terminal.
fn progress_bar(size: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {percent:>3}% {binary_bytes}/{binary_total_bytes} {msg} ({elapsed})")
    {
        bar.set_style(style);
    }
    bar
}

/// The token to call with: `--token`, or an operator token minted from the
/// secret (`--data-dir`'s, `TIEJUN_JWT_SECRET`, or ./tiejun-data's).
fn token(args: &ImportArgs) -> anyhow::Result<String> {
    if let Some(token) = &args.token {
        return Ok(token.clone());
    }
    crate::commands::token(crate::cli::TokenArgs {
        data_dir: args.data_dir.clone(),
        auth: args.auth.clone(),
        sub: "tiejun-import".into(),
        roles: vec![tiejun_platform::auth::Role::Operator],
        rep_id: None,
        account_id: None,
        learner_id: None,
        team: None,
        ttl: Duration::from_secs(2 * 3600),
    })
    .context("no --token given, and no secret to mint one from")
}

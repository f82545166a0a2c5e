//! The rejects file: every refused row as it was read, with its spreadsheet
//! row number first and why it was refused last, so it can be fixed and
//! imported again. UTF-8 with a byte-order mark, which Excel (Chinese Excel
//! included) needs to open UTF-8 correctly; readable by its owner only, as
//! it holds contact data.

use std::{
    fs::File,
    io::{BufWriter, Write as _},
    path::{Path, PathBuf},
};

use anyhow::Context as _;

/// Why one row was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The gRPC code's name (INVALID_ARGUMENT, ALREADY_EXISTS…).
    pub code: String,
    /// What is wrong, naming the field or the existing lead.
    pub reason: String,
    /// For a duplicate: the lead it duplicates.
    pub existing_lead_id: String,
}

/// Where refused rows are written, opened on the first one.
#[derive(Debug)]
pub struct Rejects {
    path: PathBuf,
    headers: csv::StringRecord,
    writer: Option<csv::Writer<BufWriter<File>>>,
    /// Rows written.
    pub rows: u64,
}

impl Rejects {
    /// Rejects of a file whose header row is `headers`, to be written at `path`.
    pub fn new(path: PathBuf, headers: csv::StringRecord) -> Self {
        Self {
            path,
            headers,
            writer: None,
            rows: 0,
        }
    }

    /// Where they go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one refused row.
    pub fn write(&mut self, row: i64, record: &csv::StringRecord, why: &Refusal) -> anyhow::Result<()> {
        if self.writer.is_none() {
            self.writer = Some(self.open()?);
        }
        let writer = self.writer.as_mut().context("the rejects file")?;
        let row = row.to_string();
        let cells = std::iter::once(row.as_str())
            .chain((0..self.headers.len()).map(|i| record.get(i).unwrap_or("")))
            .chain([why.code.as_str(), why.reason.as_str(), why.existing_lead_id.as_str()]);
        writer.write_record(cells)?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes what was written; the path when anything was.
    pub fn finish(mut self) -> anyhow::Result<Option<PathBuf>> {
        match self.writer.take() {
            None => Ok(None),
            Some(mut writer) => {
                writer.flush()?;
                Ok(Some(self.path))
            }
        }
    }

    fn open(&self) -> anyhow::Result<csv::Writer<BufWriter<File>>> {
        tiejun_platform::files::private_file(&self.path)?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        let mut out = BufWriter::new(file);
        out.write_all(b"\xEF\xBB\xBF")?;
        let mut writer = csv::Writer::from_writer(out);
        let headers = std::iter::once("row").chain(self.headers.iter().map(str::trim)).chain([
            "error_code",
            "reason",
            "existing_lead_id",
        ]);
        writer.write_record(headers)?;
        Ok(writer)
    }
}

/// The default rejects path: beside `file`, `leads.csv` → `leads.rejects.csv`.
pub fn beside(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map_or_else(|| "import".into(), |s| s.to_string_lossy());
    file.with_file_name(format!("{stem}.rejects.csv"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn rejects_keep_the_row_and_say_why_in_an_owner_only_file_excel_reads() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = beside(&dir.path().join("leads.csv"));
        assert_eq!(path.file_name().and_then(|n| n.to_str()), Some("leads.rejects.csv"));
        let mut rejects = Rejects::new(path.clone(), csv::StringRecord::from(vec!["公司名称", "电话"]));
        let why = Refusal {
            code: "ALREADY_EXISTS".into(),
            reason: "lead already exists: L1 (same phone)".into(),
            existing_lead_id: "L1".into(),
        };
        rejects
            .write(3, &csv::StringRecord::from(vec!["杭州纺织", "13800000001"]), &why)
            .expect("write");
        assert_eq!(rejects.finish().expect("finish"), Some(path.clone()));
        let text = std::fs::read(&path).expect("read");
        assert!(text.starts_with(b"\xEF\xBB\xBF"), "a byte-order mark for Excel");
        let text = String::from_utf8(text[3..].to_vec()).expect("utf-8");
        assert_eq!(
            text,
            "row,公司名称,电话,error_code,reason,existing_lead_id\n\
             3,杭州纺织,13800000001,ALREADY_EXISTS,lead already exists: L1 (same phone),L1\n"
        );
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let none = Rejects::new(dir.path().join("none.csv"), csv::StringRecord::new());
        assert_eq!(none.finish().expect("finish"), None, "no refusal, no file");
        assert!(!dir.path().join("none.csv").exists());
    }
}

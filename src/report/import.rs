//! Usage records from CSV, for what SNMP does not see (metered API usage, CDN logs, another
//! billing system): the header line `customer,start,end,bytes[,source]`, RFC 3339 times, end
//! exclusive, read with the `csv` crate (quoted fields may hold commas, a byte order mark is
//! ignored). Every error names the line (the header is line 1); a file or request with any
//! error imports nothing; importing the same rows again changes nothing.
//!
//! The input is read as a stream, one row at a time, and each valid row goes straight to the
//! store's import ([`crate::store::UsageImport`]), which stages it apart from the stored
//! records; overlaps are checked there in one ordered pass, and the records are written in one
//! short transaction at the end. Memory does not grow with the file, and the daemon's writer
//! is locked out only for that last transaction.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use jiff::Timestamp;

use crate::config::Topology;
use crate::store::{StoreError, UsageBook, UsageConflict, UsageWrite};

/// Errors listed at most; the others are counted.
pub const SHOWN_ERRORS: usize = 20;

/// How often (in rows) the progress callback hears from a running import.
pub const PROGRESS_EVERY: u64 = 65_536;

/// One problem in the input, on one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number (the header is line 1).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The errors of an input: the first ones by line and how many there were.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invalid {
    /// The first [`SHOWN_ERRORS`] errors, in line order.
    pub errors: Vec<LineError>,
    /// Every error found (at least `errors.len()`).
    pub total: usize,
}

impl Invalid {
    fn one(e: LineError) -> Invalid {
        Invalid {
            errors: vec![e],
            total: 1,
        }
    }
    fn push(&mut self, e: LineError) {
        self.total += 1;
        if self.errors.len() < SHOWN_ERRORS {
            self.errors.push(e);
        }
    }
    /// The errors not listed.
    pub fn more(&self) -> usize {
        self.total.saturating_sub(self.errors.len())
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        if self.more() > 0 {
            write!(f, "\n... and {} more errors, not shown", self.more())?;
        }
        Ok(())
    }
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input has errors; nothing was imported.
    #[error("{0}")]
    Invalid(Invalid),
    /// The input could not be read (a broken pipe, a body cut off); nothing was imported.
    #[error("the input could not be read: {0}")]
    Read(std::io::Error),
    /// The store could not be written; nothing was imported.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a running import is, for a progress line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Rows read so far.
    Reading(u64),
    /// Every row is read (this many valid ones); they are being checked and written.
    Checking(u64),
}

const HEADER: [&str; 5] = ["customer", "start", "end", "bytes", "source"];

/// A reader without the UTF-8 byte order mark a spreadsheet may put first.
fn without_bom<R: Read>(input: R) -> std::io::Result<BufReader<R>> {
    let mut r = BufReader::with_capacity(256 * 1024, input);
    let bom = r.fill_buf()?.starts_with(b"\xEF\xBB\xBF");
    if bom {
        r.consume(3);
    }
    Ok(r)
}

/// One row checked against the topology's customers.
fn record(
    f: &csv::StringRecord,
    with_source: bool,
    topology: &Topology,
) -> Result<crate::store::UsageRecord, String> {
    let want = if with_source { 5 } else { 4 };
    if f.len() != want {
        return Err(format!("{} fields, expected {want}", f.len()));
    }
    let customer = &f[0];
    if !topology.customers.contains_key(customer) {
        return Err(format!(
            "unknown customer `{customer}` (not in the configuration's [[customer]] list)"
        ));
    }
    let time = |s: &str, what: &str| {
        s.parse::<Timestamp>().map_err(|e| {
            format!("{what} `{s}` is not an RFC 3339 time like 2026-10-01T00:00:00Z: {e}")
        })
    };
    let start = time(&f[1], "start")?;
    let end = time(&f[2], "end")?;
    if end <= start {
        return Err(format!("end {end} is not after start {start}"));
    }
    let bytes = match f[3].parse::<u64>() {
        Ok(b) if b <= i64::MAX as u64 => b,
        _ => {
            return Err(format!(
                "bytes `{}` is not a whole number of bytes (0 or more)",
                &f[3]
            ));
        }
    };
    Ok(crate::store::UsageRecord {
        customer: customer.to_string(),
        start,
        end,
        bytes,
        source: if with_source {
            f[4].to_string()
        } else {
            String::new()
        },
    })
}

/// What a conflict found by the store says, at its line.
fn conflict_error(c: &UsageConflict) -> LineError {
    let o = &c.other;
    let message = match c.other_line {
        Some(other_line) => format!(
            "{} {}..{} of customer `{}` on line {other_line}",
            if c.repeats {
                "repeats the period"
            } else {
                "overlaps the period"
            },
            o.start,
            o.end,
            o.customer
        ),
        None => format!(
            "overlaps the stored period {}..{} of customer `{}` (source `{}`) without being \
             the same period; re-import that exact period to replace it",
            o.start, o.end, o.customer, o.source
        ),
    };
    LineError {
        line: c.line as usize,
        message,
    }
}

/// Reads CSV from `input` row by row, validates every row against the topology's customers
/// and writes the records through `book` in one transaction: everything or nothing. Errors
/// name their line (the first [`SHOWN_ERRORS`] of them, with the total). `progress` hears
/// every [`PROGRESS_EVERY`] rows and once when reading is done.
pub fn import_from<R: Read>(
    book: &UsageBook,
    input: R,
    topology: &Topology,
    now: Timestamp,
    progress: &mut dyn FnMut(Progress),
) -> Result<UsageWrite, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(without_bom(input).map_err(ImportError::Read)?);
    let mut row = csv::StringRecord::new();
    let line_of = |r: &csv::StringRecord| r.position().map_or(0, |p| p.line() as usize);
    // The header: the first row that is not blank.
    let with_source = loop {
        match reader.read_record(&mut row) {
            Ok(true) if row.iter().all(str::is_empty) => continue,
            Ok(true) => {
                let cols: Vec<String> = row.iter().map(|c| c.to_ascii_lowercase()).collect();
                let with_source = cols.len() == 5 && cols[..] == HEADER[..];
                if !(with_source || cols[..] == HEADER[..4]) {
                    return Err(ImportError::Invalid(Invalid::one(LineError {
                        line: line_of(&row),
                        message: format!(
                            "the header must be `customer,start,end,bytes` or \
                             `customer,start,end,bytes,source`, found `{}`",
                            row.iter().collect::<Vec<_>>().join(",")
                        ),
                    })));
                }
                break with_source;
            }
            Ok(false) => break false,
            Err(e) => return Err(csv_error(e).0),
        }
    };
    let mut import = book.import()?;
    let mut invalid = Invalid::default();
    let mut rows: u64 = 0;
    loop {
        match reader.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                if row.iter().all(str::is_empty) {
                    continue;
                }
                rows += 1;
                if rows.is_multiple_of(PROGRESS_EVERY) {
                    progress(Progress::Reading(rows));
                }
                let line = line_of(&row);
                match record(&row, with_source, topology) {
                    // After an error nothing will be written: only the errors matter.
                    Ok(r) if invalid.total == 0 => import.add(&r, line as u64)?,
                    Ok(_) => {}
                    Err(message) => invalid.push(LineError { line, message }),
                }
            }
            Err(e) => match csv_error(e) {
                (ImportError::Invalid(i), resumable) => {
                    for e in i.errors {
                        invalid.push(e);
                    }
                    // The reader cannot resume inside a broken row.
                    if !resumable {
                        break;
                    }
                }
                (other, _) => return Err(other),
            },
        }
    }
    if invalid.total > 0 {
        return Err(ImportError::Invalid(invalid));
    }
    progress(Progress::Checking(import.staged()));
    match import.finish(now)? {
        Ok(done) => Ok(done),
        Err(conflicts) => Err(ImportError::Invalid(Invalid {
            errors: conflicts
                .first
                .iter()
                .take(SHOWN_ERRORS)
                .map(conflict_error)
                .collect(),
            total: conflicts.total,
        })),
    }
}

/// A CSV reader's error: a row that is not CSV (with its line, and whether reading can go
/// on after it), or the input failing.
fn csv_error(e: csv::Error) -> (ImportError, bool) {
    let line = e.position().map_or(0, |p| p.line() as usize);
    let resumable = matches!(e.kind(), csv::ErrorKind::Utf8 { .. });
    let message = format!("not a CSV row: {e}");
    if let csv::ErrorKind::Io(io) = e.into_kind() {
        return (ImportError::Read(io), false);
    }
    (
        ImportError::Invalid(Invalid::one(LineError { line, message })),
        resumable,
    )
}

/// Parses, validates and writes CSV text in one transaction: everything or nothing.
pub fn import(
    book: &mut UsageBook,
    text: &str,
    topology: &Topology,
    now: Timestamp,
) -> Result<UsageWrite, ImportError> {
    import_from(book, text.as_bytes(), topology, now, &mut |_| {})
}

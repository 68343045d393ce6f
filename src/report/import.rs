//! Usage records from CSV, for what SNMP does not see (metered API usage, CDN logs, another
//! billing system): the header line `customer,start,end,bytes[,source]`, RFC 3339 times, end
//! exclusive, read with the `csv` crate (quoted fields may hold commas, a byte order mark is
//! ignored). Every error names the line (the header is line 1); a file or request with any
//! error imports nothing; importing the same rows again changes nothing.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;

use crate::config::Topology;
use crate::store::{StoreError, UsageBook, UsageRecord, UsageWrite};

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

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input has errors; nothing was imported.
    #[error("{}", render_lines(.0))]
    Invalid(Vec<LineError>),
    /// The store could not be written; nothing was imported.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn render_lines(errs: &[LineError]) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A parsed record with the line it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRecord {
    /// 1-based line number.
    pub line: usize,
    /// The record.
    pub record: UsageRecord,
}

const HEADER: [&str; 5] = ["customer", "start", "end", "bytes", "source"];

/// The fields of each non-blank row of CSV `text` with the line the row starts on (the
/// header is line 1), as spreadsheets write it: quoted fields may hold commas, quotes (`""`)
/// and line breaks; a UTF-8 byte order mark before the header is ignored. A row that is not
/// valid CSV is an error naming its line.
fn rows(text: &str) -> Vec<Result<(usize, Vec<String>), LineError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line_of = |r: &csv::StringRecord| r.position().map_or(0, |p| p.line() as usize);
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                if record.iter().all(str::is_empty) {
                    continue;
                }
                out.push(Ok((
                    line_of(&record),
                    record.iter().map(str::to_string).collect(),
                )));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                out.push(Err(LineError {
                    line,
                    message: format!("not a CSV row: {e}"),
                }));
                // The reader cannot resume inside a broken row.
                if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
    }
    out
}

/// Parses and validates CSV text against the topology's customers: every error is collected,
/// with its line. Duplicate and overlapping periods of one customer and source in the same
/// input are errors (they would count twice).
pub fn parse(text: &str, topology: &Topology) -> Result<Vec<ParsedRecord>, Vec<LineError>> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut rows = rows(text).into_iter();
    let header = match rows.next() {
        Some(Ok((_, h))) => h,
        Some(Err(e)) => return Err(vec![e]),
        None => Vec::new(),
    };
    let cols: Vec<String> = header.iter().map(|c| c.to_ascii_lowercase()).collect();
    let with_source = cols.len() == 5 && cols[..] == HEADER[..];
    if !(with_source || cols[..] == HEADER[..4]) {
        return Err(vec![LineError {
            line: 1,
            message: format!(
                "the header must be `customer,start,end,bytes` or \
                 `customer,start,end,bytes,source`, found `{}`",
                header.join(",")
            ),
        }]);
    }
    for row in rows {
        let (line, f) = match row {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let want = if with_source { 5 } else { 4 };
        if f.len() != want {
            errors.push(LineError {
                line,
                message: format!("{} fields, expected {want}", f.len()),
            });
            continue;
        }
        let mut bad = |message: String| errors.push(LineError { line, message });
        let customer = f[0].as_str();
        if !topology.customers.contains_key(customer) {
            bad(format!(
                "unknown customer `{customer}` (not in the configuration's [[customer]] list)"
            ));
            continue;
        }
        let time = |s: &str, what: &str| {
            s.parse::<Timestamp>().map_err(|e| {
                format!("{what} `{s}` is not an RFC 3339 time like 2026-10-01T00:00:00Z: {e}")
            })
        };
        let (start, end) = match (time(&f[1], "start"), time(&f[2], "end")) {
            (Ok(s), Ok(e)) => (s, e),
            (Err(m), _) | (_, Err(m)) => {
                bad(m);
                continue;
            }
        };
        if end <= start {
            bad(format!("end {end} is not after start {start}"));
            continue;
        }
        let bytes = match f[3].parse::<u64>() {
            Ok(b) if b <= i64::MAX as u64 => b,
            _ => {
                bad(format!(
                    "bytes `{}` is not a whole number of bytes (0 or more)",
                    f[3]
                ));
                continue;
            }
        };
        let source = if with_source {
            f[4].clone()
        } else {
            String::new()
        };
        out.push(ParsedRecord {
            line,
            record: UsageRecord {
                customer: customer.to_string(),
                start,
                end,
                bytes,
                source,
            },
        });
    }
    // Overlaps within the input, per customer and source.
    let mut by_key: BTreeMap<(&str, &str), Vec<&ParsedRecord>> = BTreeMap::new();
    for p in &out {
        by_key
            .entry((&p.record.customer, &p.record.source))
            .or_default()
            .push(p);
    }
    for v in by_key.values_mut() {
        v.sort_by_key(|p| (p.record.start, p.line));
        for w in v.windows(2) {
            if w[1].record.start < w[0].record.end {
                let what = if w[0].record.start == w[1].record.start
                    && w[0].record.end == w[1].record.end
                {
                    "repeats the period"
                } else {
                    "overlaps the period"
                };
                errors.push(LineError {
                    line: w[1].line,
                    message: format!(
                        "{what} {}..{} of customer `{}` on line {}",
                        w[0].record.start, w[0].record.end, w[0].record.customer, w[0].line
                    ),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// Parses, validates and writes CSV text in one transaction: everything or nothing.
pub fn import(
    book: &mut UsageBook,
    text: &str,
    topology: &Topology,
    now: Timestamp,
) -> Result<UsageWrite, ImportError> {
    let parsed = parse(text, topology).map_err(ImportError::Invalid)?;
    let records: Vec<UsageRecord> = parsed.iter().map(|p| p.record.clone()).collect();
    match book.write(&records, now)? {
        Ok(done) => Ok(done),
        Err(o) => Err(ImportError::Invalid(vec![LineError {
            line: parsed.get(o.index).map_or(0, |p| p.line),
            message: format!(
                "overlaps the stored period {}..{} of customer `{}` (source `{}`) without \
                 being the same period; re-import that exact period to replace it",
                o.existing.start, o.existing.end, o.existing.customer, o.existing.source
            ),
        }])),
    }
}

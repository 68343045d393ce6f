//! Errors and warnings about configuration and rule files, each pointing at a file, a line,
//! a column and a key, printed like a compiler's: `FILE:LINE:COL: KEY: message`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How bad a diagnostic is: errors stop a load, warnings are printed and the load goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The file cannot be used as it is.
    Error,
    /// The file works, but probably not as its author meant.
    Warning,
}

/// One problem found in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// The key path, like `switch[2].site` or `snmp.default.community`.
    pub key: String,
    /// What is wrong, and where useful what to write instead.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let warn = if self.severity == Severity::Warning {
            "warning: "
        } else {
            ""
        };
        write!(
            f,
            "{}:{}:{}: {}: {warn}{}",
            self.file.display(),
            self.line,
            self.col,
            self.key,
            self.message
        )
    }
}

/// How many diagnostics are listed at most: of one file's syntax errors (the rest are only
/// counted, so a file of garbage costs no more than its parse), and of what `check` prints.
pub const SHOWN: usize = 20;

/// Every diagnostic of a load, errors and warnings, in file order, and how many more errors
/// were found but not listed (see [`SHOWN`]).
#[derive(Clone, Debug, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>, Omitted);

/// Diagnostics counted but not listed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Omitted {
    errors: usize,
    warnings: usize,
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(list: Vec<Diagnostic>) -> Diagnostics {
        Diagnostics(list, Omitted::default())
    }
}

impl Diagnostics {
    /// Listed diagnostics and a count of further errors that are not listed.
    pub fn with_omitted(list: Vec<Diagnostic>, omitted_errors: usize) -> Diagnostics {
        Diagnostics(
            list,
            Omitted {
                errors: omitted_errors,
                warnings: 0,
            },
        )
    }
    /// True when at least one diagnostic is an error (listed or not).
    pub fn has_errors(&self) -> bool {
        self.1.errors > 0 || self.0.iter().any(|d| d.severity == Severity::Error)
    }
    /// Every error found, the listed ones and those only counted.
    pub fn error_count(&self) -> usize {
        self.errors().count() + self.1.errors
    }
    /// Errors and warnings found but not listed.
    pub fn omitted(&self) -> usize {
        self.1.errors + self.1.warnings
    }
    /// Keeps the first `n` diagnostics listed (call after [`Diagnostics::sort`]) and counts
    /// the rest, so that a file with a million mistakes prints a screenful and a total.
    pub fn truncate(&mut self, n: usize) {
        if self.0.len() <= n {
            return;
        }
        for d in self.0.drain(n..) {
            match d.severity {
                Severity::Error => self.1.errors += 1,
                Severity::Warning => self.1.warnings += 1,
            }
        }
    }
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }
    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }
    /// Adds the diagnostics of another load.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
        self.1.errors += other.1.errors;
        self.1.warnings += other.1.warnings;
    }
    /// Sorts by file and position, for stable output.
    pub fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        self.0.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let Omitted { errors, warnings } = self.1;
        if errors + warnings > 0 {
            let plural = |n: usize, what: &str| match n {
                1 => format!("1 {what}"),
                n => format!("{n} {what}s"),
            };
            let what = match (errors, warnings) {
                (e, 0) => plural(e, "more error"),
                (0, w) => plural(w, "more warning"),
                (e, w) => format!("{} and {}", plural(e, "more error"), plural(w, "warning")),
            };
            writeln!(f, "... and {what}, not shown")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The text of one file, kept to turn byte spans into lines and columns.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Path as given by the user (printed in diagnostics).
    pub path: PathBuf,
    /// Whole text.
    pub text: Arc<str>,
}

impl SourceFile {
    /// Reads a file; the error names the file.
    pub fn read(path: &Path) -> Result<SourceFile, Diagnostic> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(SourceFile {
                path: path.to_path_buf(),
                text: text.into(),
            }),
            Err(e) => Err(Diagnostic {
                severity: Severity::Error,
                file: path.to_path_buf(),
                line: 1,
                col: 1,
                key: "(file)".into(),
                message: format!("cannot read: {e}"),
            }),
        }
    }

    /// 1-based line and column of a byte offset. This scans the file: for more than one
    /// position, build a [`LineIndex`] once ([`SourceFile::lines`]).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        self.lines().line_col(&self.text, offset)
    }

    /// The start of every line of the file, to turn offsets into lines and columns.
    pub fn lines(&self) -> LineIndex {
        LineIndex::new(&self.text)
    }

    /// A diagnostic at a span of this file (scans the file: see [`SourceFile::line_col`]).
    pub fn diag(
        &self,
        severity: Severity,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        self.diag_with(&self.lines(), severity, span, key, message)
    }

    /// A diagnostic at a span of this file, positioned with this file's `lines`.
    pub fn diag_with(
        &self,
        lines: &LineIndex,
        severity: Severity,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        let (line, col) = span
            .map(|s| lines.line_col(&self.text, s.start))
            .unwrap_or((1, 1));
        Diagnostic {
            severity,
            file: self.path.clone(),
            line,
            col,
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// The byte offset at which each line of a text starts, built once per file, so that turning
/// an offset into a line is a binary search rather than a scan from the start of the file
/// (which made checking a file of many rules or many errors quadratic).
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// 1-based line and column (in characters) of byte `offset` of `text`, the text this
    /// index was built from.
    pub fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        // The last line start at or before the offset.
        let line = self.starts.partition_point(|s| *s <= offset).max(1);
        let start = self.starts[line - 1].min(offset);
        let col = text.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line, col)
    }

    /// The byte range of 1-based `line` in `text` (without its line break).
    pub fn line_span(&self, text: &str, line: usize) -> Range<usize> {
        let start = self
            .starts
            .get(line.max(1) - 1)
            .copied()
            .unwrap_or(text.len());
        let end = self
            .starts
            .get(line.max(1))
            .map_or(text.len(), |next| next - 1);
        start.min(text.len())..end.max(start).min(text.len())
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scan the index replaces, as the reference.
    fn scan(text: &str, offset: usize) -> (usize, usize) {
        let before = &text[..floor_char_boundary(text, offset.min(text.len()))];
        let line = before.matches('\n').count() + 1;
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[start..].chars().count() + 1)
    }

    #[test]
    fn the_line_index_agrees_with_a_scan_at_every_offset() {
        let text = "a = 1\n\nnamé = \"ü\"\r\n[[rule]]\nx\n";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 3 {
            assert_eq!(index.line_col(text, offset), scan(text, offset), "{offset}");
        }
        assert_eq!(&text[index.line_span(text, 3)], "namé = \"ü\"\r");
        assert_eq!(&text[index.line_span(text, 2)], "");
        assert_eq!(&text[index.line_span(text, 9)], "");
    }

    #[test]
    fn truncating_counts_what_is_not_listed() {
        let d = |line, severity| Diagnostic {
            severity,
            file: "f.toml".into(),
            line,
            col: 1,
            key: "k".into(),
            message: "m".into(),
        };
        let mut all = Diagnostics::from(
            (1..=30)
                .map(|l| {
                    d(
                        l,
                        if l % 10 == 0 {
                            Severity::Warning
                        } else {
                            Severity::Error
                        },
                    )
                })
                .collect::<Vec<_>>(),
        );
        all.extend(Diagnostics::with_omitted(vec![d(40, Severity::Error)], 5));
        all.sort();
        all.truncate(SHOWN);
        assert_eq!(all.0.len(), SHOWN);
        assert_eq!(all.error_count(), 27 + 1 + 5);
        assert_eq!(all.omitted(), 31 - SHOWN + 5);
        let text = all.to_string();
        assert!(
            text.ends_with("... and 15 more errors and 1 warning, not shown\n"),
            "{text}"
        );
    }
}

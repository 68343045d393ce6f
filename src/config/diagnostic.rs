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

/// Every diagnostic of a load, errors and warnings, in file order.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// True when at least one diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
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

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// A diagnostic at a span of this file.
    pub fn diag(
        &self,
        severity: Severity,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        let (line, col) = span.map(|s| self.line_col(s.start)).unwrap_or((1, 1));
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

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

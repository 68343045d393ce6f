//! A TOML file read with positions kept, so that every problem in it can be reported at once,
//! each with its line, column and key path (`switch[2].site`).
//!
//! serde stops at the first error of a document; here each section and each element of an
//! array of tables is deserialized on its own, so one bad switch does not hide a bad port.

use std::ops::Range;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::{Diagnostics, LineIndex, SHOWN, Severity, SourceFile};

/// One element of an array of tables (`[[switch]]`), with its index and span.
pub struct Element<T> {
    /// Position in the array, 0-based.
    pub index: usize,
    /// The deserialized element.
    pub value: T,
    /// Byte span of the element in the file.
    pub span: Range<usize>,
}

/// A parsed TOML file and the diagnostics found so far.
pub struct Document<'a> {
    /// The file.
    pub src: &'a SourceFile,
    /// Where each line of the file starts (positions of every diagnostic come from it).
    lines: LineIndex,
    root: DeTable<'a>,
    /// Problems found while reading.
    pub diags: Diagnostics,
}

impl<'a> Document<'a> {
    /// Parses the file; syntax errors (all of them the parser can recover from) are returned,
    /// the first [`SHOWN`] in full and the others counted.
    pub fn parse(src: &'a SourceFile) -> Result<Document<'a>, Diagnostics> {
        let lines = LineIndex::new(&src.text);
        let (root, mut errors) = DeTable::parse_recoverable(&src.text);
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.span().map_or(0, |s| s.start));
            let omitted = errors.len().saturating_sub(SHOWN);
            let diags = errors
                .iter()
                .take(SHOWN)
                .map(|e| {
                    let at = e.span().map(|s| s.start).unwrap_or(0);
                    let key = syntax_key(&src.text, &lines, at);
                    src.diag_with(
                        &lines,
                        Severity::Error,
                        e.span(),
                        &key,
                        format!("TOML syntax error: {}", e.message()),
                    )
                })
                .collect();
            return Err(Diagnostics::with_omitted(diags, omitted));
        }
        Ok(Document {
            src,
            lines,
            root: root.into_inner(),
            diags: Diagnostics::default(),
        })
    }

    /// 1-based line and column of a byte offset of the file.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        self.lines.line_col(&self.src.text, offset)
    }

    /// Reports every top-level key that is not in `allowed`.
    pub fn deny_unknown_keys(&mut self, allowed: &[&str]) {
        let mut unknown = Vec::new();
        for (k, _) in self.root.iter() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                unknown.push((k.span(), k.get_ref().to_string()));
            }
        }
        for (span, k) in unknown {
            let expected = allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.error(
                Some(span),
                &k,
                format!("unknown key `{k}`, expected one of {expected}"),
            );
        }
    }

    /// Adds an error at a span.
    pub fn error(&mut self, span: Option<Range<usize>>, key: &str, message: impl Into<String>) {
        let d = self
            .src
            .diag_with(&self.lines, Severity::Error, span, key, message);
        self.diags.0.push(d);
    }

    /// Adds a warning at a span.
    pub fn warning(&mut self, span: Option<Range<usize>>, key: &str, message: impl Into<String>) {
        let d = self
            .src
            .diag_with(&self.lines, Severity::Warning, span, key, message);
        self.diags.0.push(d);
    }

    fn entry(&self, key: &str) -> Option<&Spanned<DeValue<'a>>> {
        self.root.get(key)
    }

    /// Deserializes the top-level value `key` (a `[section]` or a plain value), if present.
    pub fn value<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        let v = self.entry(key)?.clone();
        self.deserialize(v, key)
    }

    /// The string values of `field` in every element of `[[key]]`, or the sub-table names of
    /// `[key.NAME]` when `field` is `None`, whether or not they deserialized: used to avoid
    /// reporting a reference to a defined-but-broken entry as unknown.
    pub fn declared_names(&self, key: &str, field: Option<&str>) -> Vec<String> {
        let Some(v) = self.entry(key) else {
            return Vec::new();
        };
        match (v.get_ref(), field) {
            (DeValue::Table(t), None) => t.iter().map(|(k, _)| k.get_ref().to_string()).collect(),
            (DeValue::Array(items), Some(f)) => items
                .iter()
                .filter_map(|it| match it.get_ref() {
                    DeValue::Table(t) => t
                        .get(f)
                        .and_then(|v| v.get_ref().as_str())
                        .map(str::to_string),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// True when the file has the top-level key.
    pub fn has(&self, key: &str) -> bool {
        self.entry(key).is_some()
    }

    /// Deserializes every sub-table of `[key.NAME]` (for example `[snmp.default]`).
    pub fn named_tables<T: DeserializeOwned>(&mut self, key: &str) -> Vec<(Spanned<String>, T)> {
        let Some(v) = self.entry(key).cloned() else {
            return Vec::new();
        };
        let DeValue::Table(t) = v.get_ref() else {
            self.error(
                Some(v.span()),
                key,
                format!("`{key}` must be a table of named tables, like `[{key}.default]`"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, item) in t.iter() {
            let path = format!("{key}.{}", name.get_ref());
            if let Some(value) = self.deserialize(item.clone(), &path) {
                out.push((Spanned::new(name.span(), name.get_ref().to_string()), value));
            }
        }
        out
    }

    /// Deserializes each element of the array of tables `[[key]]` on its own. Elements are
    /// copied out of the document one at a time: a copy of the whole array (9,600 `[[port]]`
    /// tables are 10 MiB of parsed TOML) would double the load's peak, and the heap it leaves
    /// behind would stay with the daemon.
    pub fn array_of_tables<T: DeserializeOwned>(&mut self, key: &str) -> Vec<Element<T>> {
        let Some(v) = self.entry(key) else {
            return Vec::new();
        };
        let len = match v.get_ref() {
            DeValue::Array(items) => items.len(),
            _ => {
                let span = v.span();
                self.error(
                    Some(span),
                    key,
                    format!("`{key}` must be an array of tables, written `[[{key}]]`"),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(len);
        for index in 0..len {
            let item = match self.entry(key).map(Spanned::get_ref) {
                Some(DeValue::Array(items)) => items.get(index).cloned(),
                _ => None,
            };
            let Some(item) = item else {
                break;
            };
            let path = format!("{key}[{index}]");
            let span = item.span();
            if let Some(value) = self.deserialize(item, &path) {
                out.push(Element { index, value, span });
            }
        }
        out
    }

    fn deserialize<T: DeserializeOwned>(
        &mut self,
        v: Spanned<DeValue<'a>>,
        path: &str,
    ) -> Option<T> {
        let outer = v.span();
        match T::deserialize(v.clone().into_deserializer()) {
            Ok(t) => Some(t),
            Err(e) => {
                let span = e.span().unwrap_or(outer);
                let mut key = key_path(&v, span.start, path.to_string());
                let msg = e.message().to_string();
                if let Some(field) = msg
                    .strip_prefix("missing field `")
                    .and_then(|r| r.strip_suffix('`'))
                {
                    key = format!("{key}.{field}");
                }
                self.error(Some(span), &key, msg);
                None
            }
        }
    }
}

/// The dotted key path of the innermost key or value of `v` that contains byte `offset`.
fn key_path(v: &Spanned<DeValue<'_>>, offset: usize, prefix: String) -> String {
    match v.get_ref() {
        DeValue::Table(t) => {
            for (k, item) in t.iter() {
                let here = format!("{prefix}.{}", k.get_ref());
                if k.span().contains(&offset) {
                    return here;
                }
                if item.span().contains(&offset) {
                    return key_path(item, offset, here);
                }
            }
            prefix
        }
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                if item.span().contains(&offset) {
                    return key_path(item, offset, format!("{prefix}[{i}]"));
                }
            }
            prefix
        }
        _ => prefix,
    }
}

/// The key written on the line of a syntax error (`name` in `name = "x`), or `(syntax)`.
fn syntax_key(text: &str, lines: &LineIndex, offset: usize) -> String {
    let (n, _) = lines.line_col(text, offset);
    let line = text.get(lines.line_span(text, n)).unwrap_or("");
    match line.split_once('=') {
        Some((k, _)) if !k.trim().is_empty() && !k.trim().starts_with('[') => k.trim().to_string(),
        _ => "(syntax)".to_string(),
    }
}

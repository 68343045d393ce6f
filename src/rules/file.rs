//! Reading the rule files of `rules_dir`: every `*.toml` file, each with `[[rule]]` tables.
//! Problems are reported like configuration errors (`FILE:LINE:COL: KEY: message`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::document::Document;
use crate::config::{Diagnostic, Diagnostics, Severity, SourceFile};

/// A rule as found in a file, before the rule engine compiles it.
#[derive(Clone, Debug)]
pub struct RuleEntry {
    /// The rule's unique name.
    pub name: String,
    /// The file it is in.
    pub file: PathBuf,
    /// 1-based line of its name.
    pub line: usize,
    /// The rule's table.
    pub table: toml::Table,
}

/// Every rule of a rules folder.
#[derive(Clone, Debug, Default)]
pub struct RuleFiles {
    /// The files read, sorted by name.
    pub files: Vec<PathBuf>,
    /// The rules, file by file.
    pub rules: Vec<RuleEntry>,
}

/// Reads every `*.toml` file of `dir`. A missing folder is a warning, not an error: a daemon
/// without rules still polls and stores.
pub fn load_dir(dir: &Path) -> (RuleFiles, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut out = RuleFiles::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.0.push(Diagnostic {
                severity: Severity::Warning,
                file: dir.to_path_buf(),
                line: 1,
                col: 1,
                key: "daemon.rules_dir".into(),
                message: format!("cannot read the rules folder ({e}): no rules will be evaluated"),
            });
            return (out, diags);
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    let mut seen: HashMap<String, (PathBuf, usize)> = HashMap::new();
    for path in files {
        let src = match SourceFile::read(&path) {
            Ok(s) => s,
            Err(d) => {
                diags.0.push(d);
                continue;
            }
        };
        let mut doc = match Document::parse(&src) {
            Ok(d) => d,
            Err(d) => {
                diags.extend(d);
                continue;
            }
        };
        doc.deny_unknown_keys(&["rule"]);
        for el in doc.array_of_tables::<toml::Table>("rule") {
            let key = format!("rule[{}]", el.index);
            let (line, col) = src.line_col(el.span.start);
            let Some(name) = el
                .value
                .get("name")
                .and_then(|v| v.as_str())
                .map(str::to_string)
            else {
                doc.error(
                    Some(el.span.clone()),
                    &format!("{key}.name"),
                    "every rule needs a `name`",
                );
                continue;
            };
            if let Some((f, l)) = seen.get(&name) {
                let msg = format!(
                    "duplicate rule `{name}`; it is first defined at {}:{l}",
                    f.display()
                );
                doc.error(Some(el.span.clone()), &format!("{key}.name"), msg);
                continue;
            }
            seen.insert(name.clone(), (path.clone(), line));
            let _ = col;
            out.rules.push(RuleEntry {
                name,
                file: path.clone(),
                line,
                table: el.value,
            });
        }
        diags.extend(std::mem::take(&mut doc.diags));
        out.files.push(path);
    }
    (out, diags)
}

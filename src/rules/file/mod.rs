//! Reading the rule files of `rules_dir`: every `*.toml` file, each with `[[rule]]` tables,
//! parsed and validated into [`Rule`]s. Every problem is reported like a configuration error
//! (`FILE:LINE:COL: KEY: message`), all of them at once, not only the first.

mod churn;
mod flap;
mod margin;
mod notify;
mod raw;
mod validator;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use toml::Spanned;

use super::rule::{
    BaselineKind, BaselineSpec, Churn, ChurnStatistic, Condition, Kind, Margin, Matcher, Metric,
    Rule, Scope, Severity,
};
use crate::config::document::Document;
use crate::config::units::{BitRate, ByteSize, Duration};
use crate::config::{Diagnostic, Diagnostics, Severity as DiagSeverity, SourceFile, Topology};

use raw::{RawAmount, RawRule};
use validator::Validator;

/// Route names with a meaning of their own: the product line's owners, the customer's
/// account manager.
pub const SPECIAL_ROUTES: [&str; 2] = ["owners", "account_manager"];

/// Defaults of optional rule keys, in one place.
pub mod defaults {
    /// Seasonal history.
    pub const SEASONAL_HISTORY: i64 = 14 * 86400;
    /// Recent window.
    pub const RECENT_HISTORY: i64 = 3600;
    /// Season.
    pub const SEASON: i64 = 86400;
    /// Width of a time-of-day slot.
    pub const BUCKET: i64 = 300;
    /// Past periods needed for a seasonal baseline.
    pub const MIN_PERIODS: usize = 3;
    /// Coverage below which an aggregate point is unknown.
    pub const MIN_COVERAGE: f64 = 0.9;
    /// `flap = true`, and the keys a flap table leaves out: six changes within an hour
    /// make an alert flapping; half an hour without a change ends it.
    pub const FLAP: crate::rules::rule::Flap = crate::rules::rule::Flap {
        changes: 6,
        within: 3600,
        clear_for: 1800,
    };

    /// The flap detection of a rule that does not say: port_down and absent rules (a link
    /// or a switch that bounces) have [`FLAP`]; the others only the built-in damping.
    pub fn flap(kind: super::Kind) -> Option<crate::rules::rule::Flap> {
        matches!(kind, super::Kind::PortDown | super::Kind::Absent).then_some(FLAP)
    }
}

/// Every rule of a rules folder.
#[derive(Clone, Debug, Default)]
pub struct RuleFiles {
    /// The files read, sorted by name.
    pub files: Vec<PathBuf>,
    /// The valid rules, file by file.
    pub rules: Vec<Rule>,
}

/// Reads and validates every `*.toml` file of `dir`, checking route names against `topology`.
/// A missing folder is a warning, not an error: a daemon without rules still polls and stores.
pub fn load_dir(dir: &Path, topology: &Topology) -> (RuleFiles, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut out = RuleFiles::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.0.push(Diagnostic {
                severity: DiagSeverity::Warning,
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
        let (rules, d) = parse_source(&src, topology, &mut seen);
        diags.extend(d);
        out.rules.extend(rules);
        out.files.push(path);
    }
    // A folder with thousands of mistakes lists the first few and counts the rest.
    diags.sort();
    diags.truncate(crate::config::diagnostic::SHOWN);
    (out, diags)
}

/// Parses and validates one rule file. `seen` holds the rule names of earlier files (names are
/// unique across the folder).
pub fn parse_source(
    src: &SourceFile,
    topology: &Topology,
    seen: &mut HashMap<String, (PathBuf, usize)>,
) -> (Vec<Rule>, Diagnostics) {
    let mut doc = match Document::parse(src) {
        Ok(d) => d,
        Err(d) => return (Vec::new(), d),
    };
    doc.deny_unknown_keys(&["rule"]);
    let mut rules = Vec::new();
    let mut pending = Vec::new();
    for el in doc.array_of_tables::<RawRule>("rule") {
        let key = format!("rule[{}]", el.index);
        let mut v = Validator {
            doc: &mut doc,
            key: key.clone(),
            topology,
            ok: true,
        };
        let inhibitors = el.value.inhibited_by.clone().unwrap_or_default();
        let rule = v.rule(el.value, &src.path);
        let Some(rule) = rule else { continue };
        pending.push((key.clone(), rule.name.clone(), inhibitors));
        if let Some((f, l)) = seen.get(&rule.name) {
            let msg = format!(
                "duplicate rule `{}`; it is first defined at {}:{l}",
                rule.name,
                f.display()
            );
            doc.error(Some(el.span.clone()), &format!("{key}.name"), msg);
            continue;
        }
        seen.insert(rule.name.clone(), (src.path.clone(), rule.line));
        rules.push(rule);
    }
    // `inhibited_by` names rules of this file or of an earlier one (files are read by name).
    for (key, name, inhibitors) in pending {
        for n in inhibitors {
            let msg = if n.get_ref() == &name {
                Some(format!("a rule cannot inhibit itself (`{name}`)"))
            } else if !seen.contains_key(n.get_ref()) {
                Some(format!(
                    "unknown rule `{}`: name a rule of this file or of a file read before it",
                    n.get_ref()
                ))
            } else {
                None
            };
            if let Some(msg) = msg {
                doc.error(Some(n.span()), &format!("{key}.inhibited_by"), msg);
                rules.retain(|r| r.name != name);
            }
        }
    }
    (rules, std::mem::take(&mut doc.diags))
}

//! `bandwatch silence add|list|remove`: silences kept in the database, seen by a running daemon
//! within seconds. A silence holds back firing and repeat notices of the alerts it covers; the
//! resolved notice of an alert whose firing was sent still goes out.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::{self, Duration};
use crate::rules::silence::Silence;
use crate::store::alerts::SilenceRow;

/// Arguments of `silence`.
#[derive(Debug, clap::Args)]
pub struct SilenceArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: SilenceAction,
}

/// `silence` subcommands.
#[derive(Debug, Subcommand)]
pub enum SilenceAction {
    /// Adds a silence.
    Add {
        /// Only this rule (default: every rule).
        #[arg(long)]
        rule: Option<String>,
        /// Label matcher `LABEL=VALUE` or `LABEL=~REGEX`; repeat for several (all must hold).
        #[arg(long = "match", value_name = "LABEL=VALUE")]
        matchers: Vec<String>,
        /// How long it holds, like `2h` or `3d`.
        #[arg(long = "for", value_name = "DURATION")]
        duration: Duration,
        /// Why (shown in `silence list`).
        #[arg(long)]
        reason: String,
    },
    /// Lists the silences that have not ended.
    List {
        /// Also the ended ones.
        #[arg(long)]
        all: bool,
    },
    /// Removes a silence.
    Remove {
        /// Its id, from `silence list`.
        id: i64,
    },
}

/// Runs `silence`.
pub fn run(config_path: &Path, args: SilenceArgs) -> ExitCode {
    let loaded = match config::load(config_path) {
        Ok(l) => l,
        Err(d) => {
            eprint!("{d}");
            return ExitCode::from(1);
        }
    };
    let data_dir = &loaded.config.daemon.data_dir;
    if let Err(e) = std::fs::create_dir_all(data_dir) {
        eprintln!(
            "bandwatch silence: cannot create {}: {e}",
            data_dir.display()
        );
        return ExitCode::from(1);
    }
    let table = match crate::store::Store::open_in(data_dir, &loaded.config.retention) {
        Ok(s) => s.silences(),
        Err(e) => {
            eprintln!("bandwatch silence: {e}");
            return ExitCode::from(1);
        }
    };
    let now = jiff::Timestamp::now().as_second();
    match args.action {
        SilenceAction::Add {
            rule,
            matchers,
            duration,
            reason,
        } => {
            let mut m = BTreeMap::new();
            for spec in &matchers {
                let Some((k, v)) = spec.split_once('=') else {
                    eprintln!(
                        "bandwatch silence: --match {spec}: write LABEL=VALUE or LABEL=~REGEX"
                    );
                    return ExitCode::from(2);
                };
                m.insert(k.trim().to_string(), v.trim().to_string());
            }
            if let Some(r) = &rule {
                let (rules, _) = crate::rules::file::load_dir(
                    &loaded.config.daemon.rules_dir,
                    &loaded.config.topology,
                );
                if !rules.rules.iter().any(|x| &x.name == r) {
                    eprintln!(
                        "bandwatch silence: warning: no rule named `{r}` in {}",
                        loaded.config.daemon.rules_dir.display()
                    );
                }
            }
            let ends = now + duration.as_secs() as i64;
            let check = Silence {
                id: 0,
                rule: rule.clone(),
                matchers: m.clone(),
                until: jiff::Timestamp::from_second(ends).unwrap_or(jiff::Timestamp::MAX),
                reason: reason.clone(),
            };
            if let Err(e) = check.validate() {
                eprintln!("bandwatch silence: {e}");
                return ExitCode::from(2);
            }
            let row = SilenceRow {
                id: 0,
                rule,
                matchers: m,
                starts: now,
                ends,
                reason,
            };
            match table.add_silence(&row) {
                Ok(id) => {
                    println!("silence {id} added until {}", check.until);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("bandwatch silence: {e}");
                    ExitCode::from(1)
                }
            }
        }
        SilenceAction::List { all } => match table.silences(if all { None } else { Some(now) }) {
            Ok(rows) => {
                println!(
                    "{:<5} {:<24} {:<32} {:<22} reason",
                    "id", "rule", "match", "until"
                );
                for r in rows {
                    let m: Vec<String> =
                        r.matchers.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let until = jiff::Timestamp::from_second(r.ends)
                        .map(|t| t.to_string())
                        .unwrap_or_default();
                    println!(
                        "{:<5} {:<24} {:<32} {:<22} {}",
                        r.id,
                        r.rule.as_deref().unwrap_or("*"),
                        if m.is_empty() {
                            "*".to_string()
                        } else {
                            m.join(",")
                        },
                        until,
                        r.reason
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bandwatch silence: {e}");
                ExitCode::from(1)
            }
        },
        SilenceAction::Remove { id } => match table.remove_silence(id) {
            Ok(true) => {
                println!("silence {id} removed");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                eprintln!("bandwatch silence: no silence with id {id}");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("bandwatch silence: {e}");
                ExitCode::from(1)
            }
        },
    }
}

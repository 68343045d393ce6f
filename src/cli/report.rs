//! `bandwatch report`: the monthly per-customer usage report (this month against the last,
//! change, billed 95th with coverage, status), as text, CSV, JSON or e-mail-safe HTML; for
//! one account manager's customers with `--account-manager`; `--month current` for the month
//! so far, projected to month end.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jiff::Timestamp;

use super::query::parse_time;
use crate::config;
use crate::report::build;
use crate::report::render::{Format, render};
use crate::rules::file::load_dir;
use crate::store::Store;
use crate::usage::Month;

/// Which month to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonthArg {
    /// A calendar month.
    Month(Month),
    /// The month so far.
    Current,
}

fn parse_month(s: &str) -> Result<MonthArg, String> {
    if s == "current" {
        Ok(MonthArg::Current)
    } else {
        s.parse().map(MonthArg::Month)
    }
}

/// Arguments of `report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The month, like `2026-10`, or `current` for the month so far with a projection.
    #[arg(long, value_parser = parse_month)]
    pub month: MonthArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Only the customers of this account manager (a route name).
    #[arg(long = "account-manager", value_name = "ROUTE")]
    pub account_manager: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// The time taken as now (for `current`; RFC 3339 or `now-2h`).
    #[arg(long, hide = true, value_parser = parse_time)]
    pub now: Option<Timestamp>,
}

/// Runs `report`: 0 on success, 1 on any error (printed on stderr).
pub fn run(config_path: &Path, args: ReportArgs) -> ExitCode {
    match report(config_path, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bandwatch report: {e}");
            ExitCode::from(1)
        }
    }
}

fn report(config_path: &Path, args: ReportArgs) -> Result<(), String> {
    let loaded = config::load(config_path).map_err(|d| d.to_string())?;
    let cfg = loaded.config;
    if let Some(am) = &args.account_manager
        && !cfg.topology.routes.contains_key(am)
    {
        return Err(format!(
            "--account-manager `{am}` is not a configured route in {}",
            config_path.display()
        ));
    }
    let now = args.now.unwrap_or_else(Timestamp::now);
    let (month, current) = match args.month {
        MonthArg::Month(m) => (m, false),
        MonthArg::Current => (Month::of(now), true),
    };
    let book = Store::open_existing_config(&cfg)
        .map_err(|e| e.to_string())?
        .usage();
    // The spike rules matter only to `[report] exclude_attacks`; the rule files are read once,
    // here, and their valid rules taken as the rules in force (`check` reports the others).
    let rules = if cfg.report.exclude_attacks {
        load_dir(&cfg.daemon.rules_dir, &cfg.topology).0.rules
    } else {
        Vec::new()
    };
    let mut r = build(&book, &cfg, month, now, current, &rules).map_err(|e| e.to_string())?;
    if let Some(am) = &args.account_manager {
        r = r.only_account_manager(am);
    }
    let out = render(&r, args.format);
    match &args.output {
        Some(p) => std::fs::write(p, out).map_err(|e| format!("{}: {e}", p.display())),
        None => {
            print!("{out}");
            Ok(())
        }
    }
}

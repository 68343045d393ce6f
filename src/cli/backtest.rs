//! `bandwatch backtest`: replays a CSV of `series,timestamp,value` rows (or, once the store has
//! landed, stored history) through the same rule engine as the daemon, and prints one row per
//! alert onset and a summary per rule.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{self, Topology};
use crate::rules::backtest::{read_csv, replay};
use crate::rules::file::load_dir;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text: alerts, then the summary.
    Table,
    /// CSV on stdout (`series,timestamp,kind,...`, what the NAB scorer reads); summary on stderr.
    Csv,
    /// One JSON object with `alerts` and `summary`.
    Json,
}

/// Arguments of `backtest`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// CSV of `series,timestamp,value` rows (ISO-8601 timestamps); `-` reads stdin.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub input: Option<PathBuf>,
    /// Rules folder (default: `rules_dir` of the configuration).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Start of stored history to replay.
    #[arg(long)]
    pub from: Option<String>,
    /// End of stored history to replay.
    #[arg(long)]
    pub to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `backtest`: 0 when the replay ran, 1 on bad input or rules, 2 for stored history
/// (not available yet).
pub fn run(config_path: &Path, args: BacktestArgs) -> ExitCode {
    let Some(input) = &args.input else {
        eprintln!(
            "bandwatch backtest: replaying stored history (--from/--to) needs the SQLite store, which is not built into this version yet; use --input FILE.csv"
        );
        return ExitCode::from(2);
    };
    // The configuration gives routes and the default rules folder; with --rules it is optional.
    let (topology, rules_dir) = match config::load(config_path) {
        Ok(l) => (l.config.topology, l.config.daemon.rules_dir),
        Err(diags) => match &args.rules {
            Some(dir) => {
                tracing::warn!(
                    config = %config_path.display(),
                    "configuration not usable ({} errors); rules are checked without routes",
                    diags.errors().count()
                );
                (Topology::default(), dir.clone())
            }
            None => {
                eprint!("{diags}");
                return ExitCode::from(1);
            }
        },
    };
    let rules_dir = args.rules.clone().unwrap_or(rules_dir);
    let (rules, mut diags) = load_dir(&rules_dir, &topology);
    diags.sort();
    eprint!("{diags}");
    if diags.has_errors() {
        return ExitCode::from(1);
    }
    if rules.rules.is_empty() {
        eprintln!("bandwatch backtest: no rules in {}", rules_dir.display());
        return ExitCode::from(1);
    }
    let mut text = String::new();
    let read = if input.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(input).map(|t| text = t)
    };
    if let Err(e) = read {
        eprintln!("bandwatch backtest: cannot read {}: {e}", input.display());
        return ExitCode::from(1);
    }
    let rows = match read_csv(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}", input.display());
            return ExitCode::from(1);
        }
    };
    let report = replay(rules.rules, topology, rows);
    match args.format {
        Format::Table => print!("{}", report.to_table()),
        Format::Csv => {
            print!("{}", report.to_csv());
            eprint!("{}", report.summary_table());
        }
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("bandwatch backtest: {e}");
                return ExitCode::from(1);
            }
        },
    }
    ExitCode::SUCCESS
}

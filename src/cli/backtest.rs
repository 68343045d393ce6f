//! `bandwatch backtest`: replays stored history (`--from T --to T`, read from the SQLite store
//! of the configuration's `data_dir`) or a CSV of `series,timestamp,value` rows (`--input`)
//! through the same rule engine as the daemon, and prints one row per alert onset and a
//! summary per rule.

use std::io::{BufReader, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{self, Topology};
use crate::rules::backtest::Report;
use crate::rules::backtest::{StreamError, replay_grouped, replay_stream};
use crate::rules::file::load_dir;
use crate::rules::stored::replay_store;
use crate::store;

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
    /// Start of stored history to replay: RFC 3339, a date (UTC midnight), `now-7d`.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// End (exclusive) of stored history to replay, same forms as --from.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `backtest`: 0 when the replay ran, 1 on bad input, rules or store, 2 when neither
/// `--input` nor `--from`/`--to` says what to replay.
pub fn run(config_path: &Path, args: BacktestArgs) -> ExitCode {
    if args.input.is_none() && args.from.is_none() {
        eprintln!(
            "bandwatch backtest: say what to replay: --from T --to T (stored history) or --input FILE.csv"
        );
        return ExitCode::from(2);
    }
    if args.input.is_none() {
        return run_stored(config_path, &args);
    }
    let Some(input) = &args.input else {
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
    let rules = match load_rules(&args.rules.clone().unwrap_or(rules_dir), &topology) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let file = match open_input(input) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bandwatch backtest: cannot read {}: {e}", input.display());
            return ExitCode::from(1);
        }
    };
    match replay_file(rules, topology, file) {
        Ok(report) => print_report(&report, args.format),
        Err(e) => {
            eprintln!("{}: {e}", input.display());
            ExitCode::from(1)
        }
    }
}

/// The input as a file that can be read twice: the file itself, or for `-` what stdin sends,
/// spooled to a temporary file (unlinked at once; it goes when it is closed).
fn open_input(input: &Path) -> std::io::Result<std::fs::File> {
    if input.as_os_str() != "-" {
        return std::fs::File::open(input);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let path = std::env::temp_dir().join(format!(
        "bandwatch-backtest-{}-{nanos}.csv",
        std::process::id()
    ));
    let mut spool = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    std::io::copy(&mut std::io::stdin().lock(), &mut spool)?;
    spool.seek(SeekFrom::Start(0))?;
    Ok(spool)
}

/// Replays a file one series at a time as it is read; when a series' rows are not together,
/// reads it again with every series gathered first (the same alerts, more memory).
fn replay_file(
    rules: Vec<crate::rules::Rule>,
    topology: Topology,
    mut file: std::fs::File,
) -> Result<Report, StreamError> {
    fn buffered(f: &std::fs::File) -> BufReader<&std::fs::File> {
        BufReader::with_capacity(256 * 1024, f)
    }
    match replay_stream(rules.clone(), topology.clone(), buffered(&file)) {
        Err(StreamError::Interleaved { series, line }) => {
            tracing::info!(
                series,
                line,
                "the input's series are interleaved: reading it again, every series gathered first"
            );
            file.seek(SeekFrom::Start(0)).map_err(StreamError::Read)?;
            replay_grouped(rules, topology, buffered(&file))
        }
        other => other,
    }
}

/// `--from T --to T`: replays the store of the configuration's `data_dir`.
fn run_stored(config_path: &Path, args: &BacktestArgs) -> ExitCode {
    let (Some(from), Some(to)) = (&args.from, &args.to) else {
        eprintln!("bandwatch backtest: --from and --to go together");
        return ExitCode::from(2);
    };
    let (from, to) = match (
        crate::cli::query::parse_time(from),
        crate::cli::query::parse_time(to),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) => {
            eprintln!("bandwatch backtest: --from: {e}");
            return ExitCode::from(1);
        }
        (_, Err(e)) => {
            eprintln!("bandwatch backtest: --to: {e}");
            return ExitCode::from(1);
        }
    };
    if from >= to {
        eprintln!("bandwatch backtest: --from {from} is not before --to {to}");
        return ExitCode::from(1);
    }
    // Stored history needs the configuration: the topology names the entities, and
    // `data_dir` the database.
    let cfg = match config::load(config_path) {
        Ok(l) => l.config,
        Err(diags) => {
            eprint!("{diags}");
            return ExitCode::from(1);
        }
    };
    let rules_dir = args.rules.clone().unwrap_or(cfg.daemon.rules_dir.clone());
    let rules = match load_rules(&rules_dir, &cfg.topology) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let store = match store::Store::open_existing_config(&cfg) {
        Ok(s) => s,
        Err(store::StoreError::Missing { path }) => {
            eprintln!(
                "bandwatch backtest: no database at {} (data_dir of {}): nothing stored to replay",
                path.display(),
                config_path.display()
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("bandwatch backtest: {e}");
            return ExitCode::from(1);
        }
    };
    match replay_store(rules, &cfg.topology, &store.reader(), from, to) {
        Ok(report) => print_report(&report, args.format),
        Err(e) => {
            eprintln!("bandwatch backtest: {e}");
            ExitCode::from(1)
        }
    }
}

/// Prints the alerts and the summary in the chosen format.
/// The rules of `dir`, or the exit code after printing every problem (or that there are none).
fn load_rules(
    dir: &Path,
    topology: &crate::config::Topology,
) -> Result<Vec<crate::rules::Rule>, ExitCode> {
    let (files, mut diags) = load_dir(dir, topology);
    diags.sort();
    eprint!("{diags}");
    if diags.has_errors() {
        return Err(ExitCode::from(1));
    }
    if files.rules.is_empty() {
        eprintln!("bandwatch backtest: no rules in {}", dir.display());
        return Err(ExitCode::from(1));
    }
    Ok(files.rules)
}

fn print_report(report: &Report, format: Format) -> ExitCode {
    match format {
        Format::Table => print!("{}", report.to_table()),
        Format::Csv => {
            print!("{}", report.to_csv());
            eprint!("{}", report.summary_table());
        }
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("bandwatch backtest: {e}");
                return ExitCode::from(1);
            }
        },
    }
    ExitCode::SUCCESS
}

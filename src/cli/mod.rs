//! The command line: global options, the subcommands, and logging setup. `main.rs` only
//! parses and dispatches here; each subcommand lives in its own file.

pub mod backfill;
pub mod backtest;
pub mod check;
pub mod completions;
pub mod demo;
pub mod import;
pub mod outbox;
pub mod query;
pub mod report;
pub mod run;
pub mod silence;
pub mod simulate;
pub mod token;
pub mod web_hash;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Watches network bandwidth and customer usage over SNMP and tells the right people when it
/// moves the wrong way.
#[derive(Debug, Parser)]
#[command(
    name = "bandwatch",
    version = crate::version::LONG,
    about,
    propagate_version = true
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        short,
        long,
        global = true,
        default_value = "config/bandwatch.toml",
        env = "BANDWATCH_CONFIG"
    )]
    pub config: PathBuf,
    /// Log format on stderr (the level comes from RUST_LOG, default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Poll every switch, store, evaluate rules, notify, serve HTTP.
    Run(run::RunArgs),
    /// Check the configuration and the rule files; print a summary.
    Check(check::CheckArgs),
    /// Run the whole job on a simulated fleet, with a scripted storyline.
    Demo(demo::DemoArgs),
    /// Print a stored series.
    Query(query::QueryArgs),
    /// The monthly per-customer usage report.
    Report(report::ReportArgs),
    /// Replay rules over stored history or a CSV file.
    Backtest(backtest::BacktestArgs),
    /// Write simulated history for every configured port into an empty store (trials and
    /// benchmarks: a daemon that starts with weeks of history).
    Backfill(backfill::BackfillArgs),
    /// Serve a fleet of simulated switches over SNMP.
    Simulate(simulate::SimulateArgs),
    /// Import usage records from CSV.
    Import(import::ImportArgs),
    /// Add, list or remove silences.
    Silence(silence::SilenceArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff) on stdout.
    Man,
    /// Make an API token for the HTTP listener.
    Token(token::TokenArgs),
    /// List the notification outbox, or try refused messages again.
    Outbox(outbox::OutboxArgs),
    /// Print the bcrypt hash of a password read from standard input (web configuration).
    WebHash(web_hash::WebHashArgs),
}

/// The tokio runtime of a command, or the exit code after saying why it could not start.
///
/// One worker: polling and serving are light, and the disk (the store writer, the rules, the
/// HTTP handlers' queries) has threads of its own. With two workers each answer of a switch
/// could wake the other worker to run the task that waits for it (a futex wake and a context
/// switch per datagram); on one, the task runs where its answer was read.
pub fn tokio_runtime(command: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("bandwatch {command}: cannot start the runtime: {e}");
            ExitCode::from(1)
        })
}

/// Sets up `tracing` on stderr: level from `RUST_LOG`, else `default` (`info` for the
/// daemon's commands, with the SNMP crate's per-request spans at `warn`), text or JSON lines.
pub fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs a parsed command line; the exit code is the process's.
pub fn run(cli: Cli) -> ExitCode {
    // The demo tells its story on stdout; its log shows only what went wrong, unless asked.
    let default_level = match cli.command {
        Command::Demo(_) => "warn",
        _ => "info,async_snmp=warn",
    };
    init_logging(cli.log_format, default_level);
    match cli.command {
        Command::Check(args) => check::run(&cli.config, args),
        Command::Run(args) => run::run(&cli.config, args),
        Command::Simulate(args) => simulate::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Query(args) => query::run(&cli.config, args),
        Command::Backtest(args) => backtest::run(&cli.config, args),
        Command::Backfill(args) => backfill::run(&cli.config, args),
        Command::Silence(args) => silence::run(&cli.config, args),
        Command::Outbox(args) => outbox::run(&cli.config, args),
        Command::Report(args) => report::run(&cli.config, args),
        Command::Import(args) => import::run(&cli.config, args),
        Command::Completions(args) => completions::completions(args),
        Command::Man => completions::man(),
        Command::Token(args) => token::run(args),
        Command::WebHash(args) => web_hash::run(args),
    }
}

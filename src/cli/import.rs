//! `bandwatch import`: usage records from a CSV file (`customer,start,end,bytes[,source]`)
//! into the store, all or nothing, idempotent; errors name the file and line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jiff::Timestamp;

use crate::config;
use crate::report::import::{ImportError, import};
use crate::store::Store;

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The CSV file; its first line is the header `customer,start,end,bytes[,source]`.
    pub file: PathBuf,
}

/// Runs `import`: 0 when everything was imported, 1 when nothing was (errors on stderr).
pub fn run(config_path: &Path, args: ImportArgs) -> ExitCode {
    let loaded = match config::load(config_path) {
        Ok(l) => l,
        Err(d) => {
            eprint!("{d}");
            return ExitCode::from(1);
        }
    };
    let cfg = loaded.config;
    let file = args.file.display().to_string();
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bandwatch import: {file}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut book = match Store::open_in(&cfg.daemon.data_dir, &cfg.retention) {
        Ok(s) => s.usage(),
        Err(e) => {
            eprintln!("bandwatch import: {e}");
            return ExitCode::from(1);
        }
    };
    match import(&mut book, &text, &cfg.topology, Timestamp::now()) {
        Ok(done) => {
            println!(
                "{file}: imported {} new, {} replaced, {} unchanged",
                done.inserted, done.replaced, done.unchanged
            );
            ExitCode::SUCCESS
        }
        Err(ImportError::Invalid(errs)) => {
            for e in &errs {
                eprintln!("{file}:{}: {}", e.line, e.message);
            }
            eprintln!(
                "bandwatch import: {file}: nothing imported ({} errors)",
                errs.len()
            );
            ExitCode::from(1)
        }
        Err(ImportError::Store(e)) => {
            eprintln!("bandwatch import: {file}: nothing imported: {e}");
            ExitCode::from(1)
        }
    }
}

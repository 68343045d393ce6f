//! `bandwatch import`: usage records from a CSV file (`customer,start,end,bytes[,source]`)
//! into the store, all or nothing, idempotent; errors name the file and line. The file is
//! read as a stream (a million rows take seconds and little memory); on a terminal a progress
//! line on stderr shows the rows read per second.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use jiff::Timestamp;

use crate::config;
use crate::report::import::{ImportError, Progress, import_from};
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
    let input = match std::fs::File::open(&args.file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bandwatch import: {file}: {e}");
            return ExitCode::from(1);
        }
    };
    let book = match Store::open_in(&cfg.daemon.data_dir, &cfg.retention) {
        Ok(s) => s.usage(),
        Err(e) => {
            eprintln!("bandwatch import: {e}");
            return ExitCode::from(1);
        }
    };
    let mut meter = Meter::new(std::io::stderr().is_terminal());
    let done = import_from(&book, input, &cfg.topology, Timestamp::now(), &mut |p| {
        meter.show(p)
    });
    meter.clear();
    match done {
        Ok(done) => {
            println!(
                "{file}: imported {} new, {} replaced, {} unchanged",
                done.inserted, done.replaced, done.unchanged
            );
            ExitCode::SUCCESS
        }
        Err(ImportError::Invalid(invalid)) => {
            for e in &invalid.errors {
                eprintln!("{file}:{}: {}", e.line, e.message);
            }
            if invalid.more() > 0 {
                eprintln!("{file}: ... and {} more errors, not shown", invalid.more());
            }
            eprintln!(
                "bandwatch import: {file}: nothing imported ({} error{})",
                invalid.total,
                if invalid.total == 1 { "" } else { "s" }
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("bandwatch import: {file}: nothing imported: {e}");
            ExitCode::from(1)
        }
    }
}

/// The progress line on a terminal: rows read and rows per second, rewritten in place.
struct Meter {
    on: bool,
    start: Instant,
    shown: bool,
}

impl Meter {
    fn new(on: bool) -> Meter {
        Meter {
            on,
            start: Instant::now(),
            shown: false,
        }
    }

    fn show(&mut self, p: Progress) {
        if !self.on {
            return;
        }
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let line = match p {
            Progress::Reading(rows) => {
                format!("{rows} rows read, {:.0} rows/s", rows as f64 / secs)
            }
            Progress::Checking(rows) => format!(
                "{rows} rows read in {secs:.1} s ({:.0} rows/s); checking and writing",
                rows as f64 / secs
            ),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

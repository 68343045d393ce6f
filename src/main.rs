//! The `bandwatch` binary: parses the command line and hands it to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    bandwatch::cli::run(bandwatch::cli::Cli::parse())
}

//! `bandwatch web-hash`: reads a password from standard input (its first line) and prints its
//! bcrypt hash for `basic_auth_users` in the web configuration, as exporter-toolkit expects.
//! The password is never an argument, so it stays out of the shell history and `ps`.

use std::io::BufRead as _;
use std::process::ExitCode;

/// Arguments of `web-hash`.
#[derive(Debug, clap::Args)]
pub struct WebHashArgs {
    /// bcrypt cost (each step doubles the work of a check; 10 to 14 is usual).
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(10..=16))]
    pub cost: u32,
}

/// Runs `web-hash`.
pub fn run(args: WebHashArgs) -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
        eprintln!("bandwatch web-hash: cannot read the password from standard input: {e}");
        return ExitCode::from(1);
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("bandwatch web-hash: the password is empty (give it on standard input)");
        return ExitCode::from(2);
    }
    match bcrypt::hash(password, args.cost) {
        Ok(h) => {
            println!("{h}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bandwatch web-hash: {e}");
            ExitCode::from(1)
        }
    }
}

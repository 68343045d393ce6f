//! `bandwatch token new NAME --scope SCOPE...`: makes an API token, prints it once, and prints
//! the `[[api.token]]` entry (with only its hash) to paste into the configuration. Nothing is
//! written anywhere: the token is not kept, so it cannot leak from bandwatch's files.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::{Scope, Scopes};
use crate::http::auth::token;

/// Arguments of `token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TokenAction,
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Makes a token and prints it with the configuration entry to paste.
    New {
        /// Its name, in logs and in `GET /api/v1/tokens` (say who or what uses it).
        name: String,
        /// A scope it gets; repeat for several: metrics:read, status:read, report:read,
        /// usage:write, silence:write, admin.
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// When it stops working: a date like 2027-06-30 (start of that day, UTC) or an
        /// RFC 3339 instant.
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
    },
}

/// Runs `token`.
pub fn run(args: TokenArgs) -> ExitCode {
    match args.action {
        TokenAction::New {
            name,
            scopes,
            expires,
        } => new(&name, &scopes, expires.as_deref()),
    }
}

fn new(name: &str, scopes: &[String], expires: Option<&str>) -> ExitCode {
    if name.trim().is_empty() || name.contains('"') || name.contains('\\') {
        eprintln!("bandwatch token new: the name must not be empty nor hold quotes or backslashes");
        return ExitCode::from(2);
    }
    let mut parsed = Vec::new();
    for s in scopes {
        match Scope::parse(s) {
            Ok(x) => parsed.push(x),
            Err(e) => {
                eprintln!("bandwatch token new: --scope {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(e) = expires
        && let Err(msg) = crate::config::access::parse_expiry(e)
    {
        eprintln!("bandwatch token new: --expires {msg}");
        return ExitCode::from(2);
    }
    let secret = match token::generate() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bandwatch token new: {e}");
            return ExitCode::from(1);
        }
    };
    let scopes = Scopes::of(parsed);
    let list: Vec<String> = scopes.iter().map(|s| format!("\"{s}\"")).collect();
    eprintln!("The token (shown only now; give it to `{name}` and keep it secret):");
    println!("{secret}");
    eprintln!("\nAdd this to the configuration and reload (the token itself is not in it):");
    println!("\n[[api.token]]");
    println!("name = \"{name}\"");
    println!("scopes = [{}]", list.join(", "));
    println!("hash = \"{}\"", token::hash_line(&secret));
    if let Some(e) = expires {
        println!("expires = \"{e}\"");
    }
    ExitCode::SUCCESS
}

//! `bandwatch outbox list|retry`: the notification outbox of the data directory. `list` shows
//! the messages waiting, refused or recently sent; `retry` makes refused messages (a login the
//! server refused, a rejected recipient) and delayed ones due now, after the operator fixed
//! the cause. A running daemon's sender picks them up within a minute.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config;
use crate::notify::{MessageState, Outbox};

/// Arguments of `outbox`.
#[derive(Debug, clap::Args)]
pub struct OutboxArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: OutboxAction,
}

/// `outbox` subcommands.
#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// Lists messages that are waiting or were refused (with `--all`, the sent ones too).
    List {
        /// Also the messages already sent.
        #[arg(long)]
        all: bool,
    },
    /// Tries refused and delayed messages again now.
    Retry,
}

/// Runs `outbox`.
pub fn run(config_path: &Path, args: OutboxArgs) -> ExitCode {
    let loaded = match config::load(config_path) {
        Ok(l) => l,
        Err(d) => {
            eprint!("{d}");
            return ExitCode::from(1);
        }
    };
    let data_dir = &loaded.config.daemon.data_dir;
    let store = match crate::store::Store::open_in(data_dir, &loaded.config.retention) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bandwatch outbox: {e}");
            return ExitCode::from(1);
        }
    };
    let outbox = Outbox::new(store.outbox());
    let now = jiff::Timestamp::now();
    match args.action {
        OutboxAction::List { all } => match outbox.messages() {
            Ok(messages) => {
                let shown: Vec<_> = messages
                    .iter()
                    .filter(|m| all || m.state != MessageState::Sent)
                    .collect();
                if shown.is_empty() {
                    println!("the outbox is empty");
                }
                for m in shown {
                    let state = match m.state {
                        MessageState::Pending => "pending",
                        MessageState::Sent => "sent",
                        MessageState::Failed => "refused",
                    };
                    println!(
                        "{:>6}  {:<8} attempts {:<3} route {:<12} {}",
                        m.id, state, m.attempts, m.route, m.subject
                    );
                    if let Some(e) = &m.last_error
                        && m.state != MessageState::Sent
                    {
                        println!("        last error: {e}");
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bandwatch outbox: {e}");
                ExitCode::from(1)
            }
        },
        OutboxAction::Retry => {
            let refused = outbox.requeue_failed(now);
            let delayed = outbox.retry_now(now);
            match (refused, delayed) {
                (Ok(r), Ok(d)) => {
                    println!(
                        "{r} refused and {d} delayed messages will be tried again now \
                         (a running daemon sends them within a minute)"
                    );
                    ExitCode::SUCCESS
                }
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("bandwatch outbox: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

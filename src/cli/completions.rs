//! `bandwatch completions bash|zsh|fish` and `bandwatch man`: shell completion scripts
//! (clap_complete) and the man page (clap_mangen), generated from the same command
//! definition the binary parses, so they never drift from it. The copies shipped in the .deb
//! (`dist/completions/`, `dist/man/bandwatch.1`) are written by these commands and a test
//! checks they are current.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, CommandFactory, ValueEnum};

/// Arguments of `bandwatch completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// A shell with a completion script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// The completion script of `shell` for the `bandwatch` command.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "bandwatch", &mut out);
    out
}

/// The man page of `bandwatch` (roff), with every subcommand's options. It names the crate
/// version only (not the git revision), so the copy shipped in `dist/man/` stays current
/// across commits.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let cmd = super::Cli::command().version(crate::version::VERSION);
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    // Each subcommand's own options, as a section of the same page.
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name();
        writeln!(out, ".SH \"BANDWATCH {}\"", name.to_uppercase())?;
        let sub_man = clap_mangen::Man::new(sub.clone().bin_name(format!("bandwatch {name}")));
        let mut sections = Vec::new();
        sub_man.render_synopsis_section(&mut sections)?;
        sub_man.render_options_section(&mut sections)?;
        // One level down: the subcommand's sections are subsections of its own.
        let text = String::from_utf8_lossy(&sections).replace(".SH ", ".SS ");
        out.extend_from_slice(text.as_bytes());
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// `bandwatch completions SHELL`.
pub fn completions(args: CompletionsArgs) -> ExitCode {
    emit(&completion_script(args.shell))
}

/// `bandwatch man`.
pub fn man() -> ExitCode {
    match man_page() {
        Ok(page) => emit(&page),
        Err(e) => {
            eprintln!("bandwatch man: {e}");
            ExitCode::from(1)
        }
    }
}

fn emit(bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bandwatch: cannot write to stdout: {e}");
            ExitCode::from(1)
        }
    }
}

//! The `bandwatch` binary: parses the command line and hands it to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    bandwatch::cli::run(bandwatch::cli::Cli::parse())
}

/// glibc gives each thread that allocates its own malloc arena (up to 8 per core), and an
/// arena keeps what it freed: the daemon's threads (pollers, writer, rules, HTTP) each held
/// megabytes of it. Two arenas measured 10 MiB less resident memory at 9,600 ports with no
/// measurable CPU cost (`benches/rig/rss.sh`). `MALLOC_ARENA_MAX` in the environment still
/// wins, for anyone who measures otherwise.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first thing in main, before any other thread exists; mallopt only
        // changes an allocator setting and returns 0 when it refuses.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

//! The `bandwatch` binary: parses the command line and hands it to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    bandwatch::cli::run(bandwatch::cli::Cli::parse())
}

/// glibc gives each thread that allocates its own malloc arena (up to 8 per core), and an
/// arena keeps what it freed for its own threads only: memory the main thread freed after
/// loading the configuration, or the rules thread after warming its baselines, was not reused
/// by the poller's or the writer's. One arena for the whole process (threads still take small
/// blocks from their own cache without the arena's lock) measured 60 -> 50 MiB resident at
/// 9,600 ports; two arenas had already saved 10 MiB over glibc's default
/// (`benches/rig/rss.sh`). `MALLOC_ARENA_MAX` in the environment still wins, for anyone who
/// measures otherwise.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first thing in main, before any other thread exists; mallopt only
        // changes an allocator setting and returns 0 when it refuses.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

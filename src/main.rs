//! The `bandwatch` binary: parses the command line and hands it to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    fix_malloc_thresholds();
    bandwatch::store::configure_sqlite();
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

/// Large blocks (1 MiB and more) are mapped and unmapped on their own, and the heap's free
/// top is given back past 4 MiB, always. glibc's default raises both limits the first time a
/// large block is freed, so every later block of that size came from the heap and stayed
/// resident after it was freed: the store's five-minute move sorts its rows in a buffer of a
/// few MiB, and each of the first moves added 3 MiB to the daemon for good (50 x 48 ports
/// every second: 30.3 -> 33.2 MiB at the second move, flat at 30.3 with fixed limits, in the
/// same window on the rig). `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` in the
/// environment still win.
fn fix_malloc_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: as above: first thing in main, allocator settings only.
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
            }
        }
        if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_none() {
            unsafe {
                libc::mallopt(libc::M_TRIM_THRESHOLD, 4 * 1024 * 1024);
            }
        }
    }
}

//! What the system counts for this process (CPU time, resident and virtual memory, open file
//! descriptors, the start time), read from `/proc/self` at scrape time for the standard
//! `process_*` families of `/metrics`: the ones every Prometheus client library exports, so a
//! fleet's dashboards and alerts on exporters' own cost work on bandwatch unchanged (is the
//! daemon's memory flat? how much CPU does a sweep cost?).

/// One reading of the process's own counters. Fields the system does not give are `None`
/// (not zero: unknown is not zero), and their families are left out of the scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time since the start, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident memory, bytes (`VmRSS`).
    pub resident_bytes: Option<u64>,
    /// Of the resident memory, the anonymous part (the heap, stacks; `RssAnon`), bytes.
    pub resident_anon_bytes: Option<u64>,
    /// Of the resident memory, the file-backed part (the program's and libraries' code
    /// mapped; `RssFile`), bytes.
    pub resident_file_bytes: Option<u64>,
    /// Virtual memory, bytes (`VmSize`).
    pub virtual_bytes: Option<u64>,
    /// The start, seconds since the epoch.
    pub start_time_seconds: Option<f64>,
    /// File descriptors open now (sockets included).
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors (`RLIMIT_NOFILE`).
    pub max_fds: Option<u64>,
    /// Threads.
    pub threads: Option<u64>,
}

/// Reads this process's counters now. Cheap: three small `/proc` files and one directory
/// listing (a few hundred microseconds).
pub fn sample() -> ProcessStats {
    #[cfg(target_os = "linux")]
    {
        let mut s = ProcessStats::default();
        // SAFETY: sysconf only reads a system constant.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
            && let Some(f) = stat_fields(&stat)
        {
            if ticks > 0 {
                s.cpu_seconds = Some((f.utime + f.stime) as f64 / ticks as f64);
                s.start_time_seconds =
                    boot_time().map(|boot| boot as f64 + f.starttime as f64 / ticks as f64);
            }
            s.virtual_bytes = Some(f.vsize);
            if page > 0 {
                s.resident_bytes = Some(f.rss_pages * page as u64);
            }
            s.threads = Some(f.threads);
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            let kib = |key: &str| status_kib(&status, key).map(|k| k * 1024);
            s.resident_bytes = kib("VmRSS:").or(s.resident_bytes);
            s.resident_anon_bytes = kib("RssAnon:");
            s.resident_file_bytes = kib("RssFile:");
        }
        s.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit into the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0
            && lim.rlim_cur != libc::RLIM_INFINITY
        {
            s.max_fds = Some(lim.rlim_cur);
        }
        s
    }
    #[cfg(not(target_os = "linux"))]
    ProcessStats::default()
}

/// The fields of `/proc/PID/stat` read here.
#[derive(Debug, PartialEq, Eq)]
struct StatFields {
    utime: u64,
    stime: u64,
    threads: u64,
    starttime: u64,
    vsize: u64,
    rss_pages: u64,
}

/// Reads `/proc/PID/stat`. The command name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so the fields are counted from the last `)`.
fn stat_fields(stat: &str) -> Option<StatFields> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // Fields from 3 (state) on: index 0 here is field 3.
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let get = |field: usize| -> Option<u64> { f.get(field - 3)?.parse().ok() };
    Some(StatFields {
        utime: get(14)?,
        stime: get(15)?,
        threads: get(20)?,
        starttime: get(22)?,
        vsize: get(23)?,
        rss_pages: get(24)?,
    })
}

/// A `Key:  123 kB` line of `/proc/PID/status`, in KiB.
pub(crate) fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The system's boot time, seconds since the epoch (`btime` of `/proc/stat`).
fn boot_time() -> Option<u64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stat_past_a_command_name_with_spaces_and_parentheses() {
        // A process may name itself anything (prctl PR_SET_NAME): `a) (b` must not shift
        // the fields.
        let stat = "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 1200 0 3 0 \
                    151 37 0 0 20 0 9 0 123456 98765432 2048 18446744073709551615 \
                    1 1 0 0 0 0 0 4096 17384 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            stat_fields(stat),
            Some(StatFields {
                utime: 151,
                stime: 37,
                threads: 9,
                starttime: 123456,
                vsize: 98765432,
                rss_pages: 2048,
            })
        );
        assert_eq!(stat_fields("4242 (cut short) S 1 2"), None);
        assert_eq!(stat_fields("no parenthesis at all"), None);
    }

    #[test]
    fn reads_a_status_line_in_kib() {
        let status = "Name:\tbandwatch\nVmRSS:\t   35320 kB\nRssAnon:\t   25104 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(35320));
        assert_eq!(status_kib(status, "RssAnon:"), Some(25104));
        assert_eq!(status_kib(status, "RssFile:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn samples_this_process_as_the_system_counts_it() {
        let before = sample();
        // Some work and memory that the next reading must show.
        let v: Vec<u64> = (0..4_000_000u64).map(|i| i.wrapping_mul(i)).collect();
        let mut x = 0u64;
        for _ in 0..10 {
            x = v.iter().fold(x, |a, b| a.wrapping_add(*b));
        }
        std::hint::black_box(x);
        let after = sample();
        let rss = after.resident_bytes.unwrap();
        assert!(rss >= 32_000_000, "a 32 MB vector is resident: {rss}");
        assert!(after.resident_anon_bytes.unwrap() >= 32_000_000);
        assert!(after.resident_file_bytes.unwrap() > 0);
        assert!(after.virtual_bytes.unwrap() > rss);
        assert!(after.cpu_seconds.unwrap() > before.cpu_seconds.unwrap());
        let now = jiff::Timestamp::now().as_second() as f64;
        let start = after.start_time_seconds.unwrap();
        // The test binary started before this test, and not a day ago.
        assert!(
            start <= now + 1.0 && start > now - 86_400.0,
            "{start} vs {now}"
        );
        let fds = after.open_fds.unwrap();
        assert!(fds >= 3, "stdin, stdout, stderr: {fds}");
        if let Some(max) = after.max_fds {
            assert!(max >= fds);
        }
        assert!(after.threads.unwrap() >= 1);
        drop(v);
    }
}

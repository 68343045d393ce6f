//! The process's memory as the system sees it: what the allocator holds free.
//!
//! glibc keeps the free space inside its heap resident: a block freed in the middle of the
//! heap is only reused, never given back, however long it stays free. On the rig at 200 x 48
//! every 10 s, a quarter of an hour in, the daemon's heap held 5.2 MB free of 25 (261 free
//! blocks, the largest of 0.5 to 1.4 MB: buffers of the store's five-minute move and seal,
//! grown vectors' old places), all of it counted in its resident memory.
//!
//! The program's own code is the other part: the kernel maps a page of it on first use, with
//! its cached neighbours (fault-around), and keeps it mapped. What the start ran and the steady
//! state never runs again (the command line, the configuration's load and checks, the store's
//! schema, TLS, the rules' warm-up) stays resident for the daemon's life:
//! [`release_startup_code`].

/// Gives the pages of the allocator's free blocks back to the system (`malloc_trim`): they
/// stay the allocator's to reuse, and a page used again costs one page fault. Called by the
/// store writer after each commit that sealed a 5-minute bucket or moved the recent samples
/// (twice in five minutes; a few hundred free blocks: well under a millisecond). On the rig,
/// after the move alone: 36.3 MiB after each move, 39.2 after each seal until the next move. Does nothing where the allocator is not glibc's.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's own lock and only returns whole free pages
    // (madvise); it may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What [`release_startup_code`] did: the executable's read-only mappings it advised, and the
/// process's file-backed resident memory before and after (`RssFile`, KiB; 0 where unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// How many of the executable's mappings (code, read-only data) were advised.
    pub mappings: usize,
    /// How many bytes they span.
    pub bytes: usize,
    /// `RssFile` of `/proc/self/status` before the advice, KiB.
    pub file_kib_before: u64,
    /// `RssFile` right after it, KiB.
    pub file_kib_after: u64,
}

/// Gives the pages of the program's own code and read-only data back to the system: a page
/// the daemon runs again is mapped again on its next use, so what stays resident is what the
/// steady state runs. `bandwatch run` calls it once the daemon has started, again once its
/// first whole minute is stored (the rules' warm-up from the store is over), and after each
/// reload. On the rig (200 x 48 ports every 10 s, 28 days of history) the executable's code
/// was 10.5 MiB resident after the start, and 5.6 MiB of it came back in the ten minutes
/// after the advice (polls, writes, seals, moves, rules, scrapes).
///
/// `MADV_DONTNEED` on each of the executable's read-only mappings that hold no private copy
/// of a page: it unmaps them, whoever else maps the same file. With `evict`, `MADV_PAGEOUT`
/// first: it reclaims the pages no other process maps from the page cache too, so the
/// kernel's fault-around (which maps a faulting page's cached neighbours with it) cannot bring
/// back what the steady state never runs; with `DONTNEED` alone the daemon held 1.3 MiB more
/// of its code in steady state (50 x 48 every second on the rig, side by side). The cost: the
/// next start reads those pages from the disk again, so `run` evicts only once the daemon has
/// run a minute (a daemon restarted again and again, a crash loop or a test, keeps its code
/// in the cache). A kernel before 5.4 has no `PAGEOUT` (`EINVAL`): `DONTNEED` alone then.
///
/// Only clean file pages: a mapping holding any private copy of a page (`Anonymous:` above
/// zero in `/proc/self/smaps`, such as the RELRO segment the dynamic linker wrote its
/// relocations into before making it read-only) is left alone, since `DONTNEED` would put
/// the file's bytes back in place of the copy (a test shows the process then crashes).
/// Nothing the program holds in memory changes. An error changes nothing but the resident
/// figure.
pub fn release_startup_code(evict: bool) -> std::io::Result<Released> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let exe = std::fs::metadata("/proc/self/exe")?;
        let smaps = std::fs::read_to_string("/proc/self/smaps")?;
        let ranges = clean_executable_ranges(&smaps, device(exe.dev()), exe.ino());
        let before = file_kib();
        let mut out = Released {
            mappings: ranges.len(),
            bytes: ranges.iter().map(|r| r.1 - r.0).sum(),
            file_kib_before: before,
            file_kib_after: 0,
        };
        for (start, end) in ranges {
            let advise = |advice| {
                // SAFETY: the range is one whole mapping of this process's executable, read
                // only and holding no private (copied-on-write) page, as /proc/self/smaps
                // lists it (page-aligned). Nothing in this process makes such a mapping
                // writable, so each of its pages holds the file's own bytes: MADV_PAGEOUT
                // and MADV_DONTNEED only take them out of the mapping, and the next access
                // maps the same bytes again from the file. No memory the program holds
                // changes, whatever code runs meanwhile.
                let r = unsafe { libc::madvise(start as *mut libc::c_void, end - start, advice) };
                if r == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            if evict {
                match advise(libc::MADV_PAGEOUT) {
                    Err(e) if e.raw_os_error() != Some(libc::EINVAL) => return Err(e),
                    _ => {}
                }
            }
            advise(libc::MADV_DONTNEED)?;
        }
        out.file_kib_after = file_kib();
        Ok(out)
    }
    #[cfg(not(target_os = "linux"))]
    Ok(Released::default())
}

/// `(major, minor)` of a `st_dev`, as `/proc/self/smaps` prints a mapping's device.
#[cfg(target_os = "linux")]
fn device(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// The read-only private mappings (`r-xp`, `r--p`) of the file `(device, inode)` in a
/// `/proc/PID/smaps` text that hold no private copy of a page (`Anonymous: 0 kB`), as
/// `[start, end)` addresses. Matched by device and inode, not by name: an upgrade that
/// replaced the binary leaves the path marked `(deleted)`. A mapping without a readable
/// `Anonymous:` line counts as holding copies, and is left alone.
fn clean_executable_ranges(smaps: &str, dev: (u64, u64), ino: u64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    // The mapping being read, if it is one of the executable's read-only ones: its range,
    // and whether its `Anonymous:` line said 0.
    let mut current: Option<((usize, usize), bool)> = None;
    for line in smaps.lines() {
        if let Some(header) = mapping_header(line) {
            if let Some((range, true)) = current.take() {
                out.push(range);
            }
            current = header
                .filter(|h| h.read_only_private && h.dev == dev && h.ino == ino)
                .map(|h| (h.range, false));
        } else if let Some(v) = line.strip_prefix("Anonymous:")
            && let Some((_, clean)) = current.as_mut()
        {
            *clean = v.trim().trim_end_matches("kB").trim().parse::<u64>().ok() == Some(0);
        }
    }
    if let Some((range, true)) = current {
        out.push(range);
    }
    out
}

/// A mapping's header line of `/proc/PID/smaps`, read.
struct MappingHeader {
    /// `[start, end)`.
    range: (usize, usize),
    /// `r-xp` or `r--p`.
    read_only_private: bool,
    /// The file's device, `(major, minor)`.
    dev: (u64, u64),
    /// The file's inode (0 for an anonymous mapping).
    ino: u64,
}

/// `Some(Some(header))` for a mapping's header line (`start-end perms offset major:minor
/// inode [path]`), `Some(None)` for a header whose other fields do not parse (a mapping to
/// leave alone), `None` for any other line (`Rss:`, `Anonymous:`, `VmFlags:`, ...).
fn mapping_header(line: &str) -> Option<Option<MappingHeader>> {
    let mut f = line.split_ascii_whitespace();
    let (a, b) = f.next()?.split_once('-')?;
    let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
        return None;
    };
    let (Some(perms), Some(_offset), Some(d), Some(i)) = (f.next(), f.next(), f.next(), f.next())
    else {
        return Some(None);
    };
    let dev = d.split_once(':').and_then(|(ma, mi)| {
        Some((
            u64::from_str_radix(ma, 16).ok()?,
            u64::from_str_radix(mi, 16).ok()?,
        ))
    });
    let (Some(dev), Ok(ino)) = (dev, i.parse::<u64>()) else {
        return Some(None);
    };
    Some((b > a).then_some(MappingHeader {
        range: (a, b),
        read_only_private: perms.starts_with("r-") && perms.ends_with('p'),
        dev,
        ino,
    }))
}

/// `RssFile` of `/proc/self/status`, KiB; 0 where it cannot be read.
fn file_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| crate::process::status_kib(&s, "RssFile:"))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `/proc/PID/smaps` text, cut to the fields read: the executable's ELF headers and
    /// read-only data, its code, its RELRO segment (read-only now, but written by the dynamic
    /// linker: private copies), its data, the heap, libc, and a file of the same inode on
    /// another device.
    const SMAPS: &str = "\
55fca887c000-55fca8c16000 r--p 00000000 fe:00 10011566                   /tmp/bw (deleted)
Size:               3688 kB
Rss:                1200 kB
Anonymous:             0 kB
AnonHugePages:         0 kB
VmFlags: rd mr mw me sd
55fca8c16000-55fca98da000 r-xp 00399000 fe:00 10011566                   /tmp/bw (deleted)
Size:              13072 kB
Rss:                6100 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me sd
55fca98da000-55fca993b000 r--p 0105c000 fe:00 10011566                   /tmp/bw (deleted)
Size:                388 kB
Rss:                 388 kB
Anonymous:           388 kB
VmFlags: rd mr mw me ac sd
55fca993b000-55fca9943000 rw-p 010bc000 fe:00 10011566                   /tmp/bw (deleted)
Anonymous:            32 kB
55fcd4c81000-55fcd6601000 rw-p 00000000 00:00 0                          [heap]
Anonymous:         26112 kB
7f7839e2e000-7f7839f84000 r-xp 00028000 fe:00 10011567                   /usr/lib/libc.so.6
Anonymous:             0 kB
7f7839f84000-7f7839fd7000 r-xp 00028000 fe:01 10011566                   /other/device
Anonymous:             0 kB
7f7839fd7000-7f7839fd9000 r--p 00000000 fe:00 10011566                   /tmp/bw (deleted)
Rss:                   8 kB
";

    #[test]
    fn finds_the_executables_clean_read_only_mappings_by_device_and_inode() {
        let got = clean_executable_ranges(SMAPS, (0xfe, 0), 10011566);
        // Not the RELRO segment (private copies), nor the last mapping, whose `Anonymous:`
        // line is missing, nor the writable data, libc, or the other device's file.
        assert_eq!(
            got,
            vec![
                (0x55fca887c000, 0x55fca8c16000),
                (0x55fca8c16000, 0x55fca98da000),
            ]
        );
        assert!(clean_executable_ranges(SMAPS, (0xfe, 0), 1).is_empty());
        assert!(
            clean_executable_ranges(
                "garbage\n\n1-2 r-xp\nAnonymous: 0 kB\nzz-1 r-xp 0 fe:00 10011566\n",
                (0xfe, 0),
                10011566
            )
            .is_empty()
        );
    }

    /// The resident KiB of this process's executable's read-only mappings, and how many of
    /// them hold private copies.
    #[cfg(target_os = "linux")]
    fn exe_read_only_rss() -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let exe = std::fs::metadata("/proc/self/exe").unwrap();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let (dev, ino) = (device(exe.dev()), exe.ino());
        let (mut mine, mut rss, mut anon) = (false, 0, 0);
        let kib = |v: &str| {
            v.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .unwrap()
        };
        for line in smaps.lines() {
            if let Some(h) = mapping_header(line) {
                mine = h.is_some_and(|h| h.read_only_private && h.dev == dev && h.ino == ino);
            } else if mine && let Some(v) = line.strip_prefix("Rss:") {
                rss += kib(v);
            } else if mine && let Some(v) = line.strip_prefix("Anonymous:") {
                anon += kib(v);
            }
        }
        (rss, anon)
    }

    /// Set in the child process that [`the_code_it_released_is_no_longer_resident_and_the_relocations_stay`]
    /// runs alone.
    const ALONE: &str = "BANDWATCH_MEM_TEST_ALONE";

    /// Runs the measurement in a child process of this test binary that runs this one test
    /// on one thread: in the parent, the other tests' threads fault code pages back in between
    /// the advice and the measure (CI once read 6604 KiB before and 7644 after).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_code_it_released_is_no_longer_resident_and_the_relocations_stay() {
        if std::env::var_os(ALONE).is_some() {
            return code_released_alone();
        }
        let name =
            "mem::tests::the_code_it_released_is_no_longer_resident_and_the_relocations_stay";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads", "1", "--nocapture"])
            .env(ALONE, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "the child failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[cfg(target_os = "linux")]
    fn code_released_alone() {
        let (before, copies) = exe_read_only_rss();
        assert!(
            before > 0,
            "the test binary's code is resident while it runs"
        );
        // Unmapped only (the page cache keeps the pages), then evicted as well.
        for evict in [false, true] {
            let (before, _) = exe_read_only_rss();
            let r = release_startup_code(evict).unwrap();
            assert!(r.mappings >= 2, "code and read-only data: {r:?}");
            assert!(r.bytes > 0);
            let (after, _) = exe_read_only_rss();
            assert!(
                after < before,
                "evict {evict}: resident code {before} KiB -> {after} KiB"
            );
        }
        let (_, copies_after) = exe_read_only_rss();
        // The private copies (the relocated RELRO segment) were not touched: dropping them
        // would have put the file's unrelocated bytes back, and this process would crash on
        // its next call through the GOT or a vtable.
        assert_eq!(
            copies_after, copies,
            "private copies {copies} -> {copies_after} KiB"
        );
        // The code runs on: this very test, a formatted string (vtables, read-only data),
        // a thread, and the parser, again.
        assert_eq!(format!("{:?}", Some(1.5_f64)), "Some(1.5)");
        assert_eq!(std::thread::spawn(|| 2 + 2).join().unwrap(), 4);
        assert_eq!(clean_executable_ranges(SMAPS, (0xfe, 0), 10011566).len(), 2);
    }
}

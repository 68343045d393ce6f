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

/// Gives the pages of the program's own code and read-only data back to the system
/// (`madvise(MADV_PAGEOUT)` on the executable's read-only mappings): a page the daemon runs
/// again is mapped again on its next use (read back if the system dropped it meanwhile), so
/// what stays resident is what the steady state runs. `bandwatch run` calls it once the
/// daemon has started, again once its first whole minute is stored (the rules' warm-up from
/// the store is over), and after each reload. On the rig (200 x 48 ports every 10 s, 28 days of history) the
/// executable's code was 10.5 MiB resident after the start, and 5.6 MiB of it came back in
/// the ten minutes after the advice (polls, writes, seals, moves, rules, scrapes).
///
/// Clean file pages only: nothing is written, nothing the program holds in memory changes.
/// Pages another process maps too are left alone by the kernel. An error (a kernel before
/// 5.4 has no `MADV_PAGEOUT`: `EINVAL`) changes nothing but the resident figure.
pub fn release_startup_code() -> std::io::Result<Released> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let exe = std::fs::metadata("/proc/self/exe")?;
        let maps = std::fs::read_to_string("/proc/self/maps")?;
        let ranges = executable_ranges(&maps, device(exe.dev()), exe.ino());
        let before = file_kib();
        let mut out = Released {
            mappings: ranges.len(),
            bytes: ranges.iter().map(|r| r.1 - r.0).sum(),
            file_kib_before: before,
            file_kib_after: 0,
        };
        for (start, end) in ranges {
            // SAFETY: the range is one whole mapping of this process's executable, read
            // only, as /proc/self/maps lists it (page-aligned); MADV_PAGEOUT on it only
            // unmaps clean file pages, which the next access maps again: no memory the
            // program holds changes, whatever code runs meanwhile.
            let r = unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT)
            };
            if r != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        out.file_kib_after = file_kib();
        Ok(out)
    }
    #[cfg(not(target_os = "linux"))]
    Ok(Released::default())
}

/// `(major, minor)` of a `st_dev`, as `/proc/self/maps` prints a mapping's device.
#[cfg(target_os = "linux")]
fn device(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// The read-only mappings (`r-xp`, `r--p`) of the file `(device, inode)` in a
/// `/proc/PID/maps` text, as `[start, end)` addresses. Matched by device and inode, not by
/// name: an upgrade that replaced the binary leaves the path marked `(deleted)`.
fn executable_ranges(maps: &str, dev: (u64, u64), ino: u64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(range), Some(perms), Some(_offset), Some(d), Some(i)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        if !(perms.starts_with("r-") && perms.ends_with('p')) {
            continue;
        }
        let same_dev = d.split_once(':').is_some_and(|(ma, mi)| {
            u64::from_str_radix(ma, 16).ok() == Some(dev.0)
                && u64::from_str_radix(mi, 16).ok() == Some(dev.1)
        });
        if !same_dev || i.parse::<u64>().ok() != Some(ino) {
            continue;
        }
        if let Some((a, b)) = range.split_once('-')
            && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            && b > a
        {
            out.push((a, b));
        }
    }
    out
}

/// `RssFile` of `/proc/self/status`, KiB; 0 where it cannot be read.
fn file_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("RssFile:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55fca887c000-55fca8c16000 r--p 00000000 fe:00 10011566                   /tmp/bw (deleted)
55fca8c16000-55fca98da000 r-xp 00399000 fe:00 10011566                   /tmp/bw (deleted)
55fca98da000-55fca993b000 r--p 0105c000 fe:00 10011566                   /tmp/bw (deleted)
55fca993b000-55fca9943000 rw-p 010bc000 fe:00 10011566                   /tmp/bw (deleted)
55fcd4c81000-55fcd6601000 rw-p 00000000 00:00 0                          [heap]
7f7839e2e000-7f7839f84000 r-xp 00028000 fe:00 10011567                   /usr/lib/libc.so.6
7f7839f84000-7f7839fd7000 r-xp 00028000 fe:01 10011566                   /other/device
";

    #[test]
    fn finds_the_executables_read_only_mappings_by_device_and_inode() {
        let got = executable_ranges(MAPS, (0xfe, 0), 10011566);
        assert_eq!(
            got,
            vec![
                (0x55fca887c000, 0x55fca8c16000),
                (0x55fca8c16000, 0x55fca98da000),
                (0x55fca98da000, 0x55fca993b000),
            ]
        );
        assert!(executable_ranges(MAPS, (0xfe, 0), 1).is_empty());
        assert!(executable_ranges("garbage\n\n1-2 r-xp", (0xfe, 0), 10011566).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_code_it_released_is_no_longer_resident_and_still_runs() {
        let exe_rss = || -> u64 {
            let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
            let me = std::fs::read_link("/proc/self/exe").unwrap_or_default();
            let me = me.to_string_lossy().into_owned();
            let mut mine = false;
            let mut kib = 0;
            for line in smaps.lines() {
                if line
                    .as_bytes()
                    .first()
                    .is_some_and(|b| b.is_ascii_hexdigit())
                    && line.contains('-')
                    && !line.starts_with("Rss")
                {
                    let perms = line.split_ascii_whitespace().nth(1).unwrap_or("");
                    mine = line.contains(me.as_str()) && !perms.contains('w');
                } else if mine && let Some(v) = line.strip_prefix("Rss:") {
                    kib += v
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .unwrap_or(0);
                }
            }
            kib
        };
        let before = exe_rss();
        assert!(
            before > 0,
            "the test binary's code is resident while it runs"
        );
        match release_startup_code() {
            Ok(r) => {
                assert!(r.mappings >= 2, "code and read-only data: {r:?}");
                assert!(r.bytes > 0);
                let after = exe_rss();
                assert!(after < before, "resident code {before} KiB -> {after} KiB");
                // The code runs on: this very test, and the parser above, again.
                assert_eq!(executable_ranges(MAPS, (0xfe, 0), 10011566).len(), 3);
            }
            // A kernel before 5.4 has no MADV_PAGEOUT: said, and nothing else changes.
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}"),
        }
    }
}

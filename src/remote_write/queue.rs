//! The on-disk queue of one receiver: a folder of segment files, each one request's body
//! (an encoded, compressed `WriteRequest`) named `SEQ-SAMPLES.rwq`, sent oldest first. It is
//! bounded in samples: a push that would exceed the bound first deletes the oldest segments
//! and reports how many samples went with them (`bandwatch_remote_write_samples_dropped_total`).
//! A segment is written to a temporary name and renamed, so a crash leaves whole segments
//! only; the queue is found again at the next start, so a receiver's outage across a restart
//! of bandwatch loses nothing within the bound either.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

/// One queued request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its place in the queue (increasing).
    pub seq: u64,
    /// Samples it holds.
    pub samples: u64,
}

/// A bounded queue of segment files in one folder.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    max_samples: u64,
    segments: VecDeque<Segment>,
    total: u64,
    next_seq: u64,
}

const EXT: &str = "rwq";

impl DiskQueue {
    /// Opens (creating) the queue in `dir`, bounded to `max_samples`; segments left by an
    /// earlier run are kept in order. Returns the queue and the samples dropped because the
    /// bound is now lower than what was queued.
    pub fn open(dir: &Path, max_samples: u64) -> io::Result<(DiskQueue, u64)> {
        std::fs::create_dir_all(dir)?;
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            match parse_name(&name) {
                Some(seg) => segments.push(seg),
                // A temporary file of a push cut short, or anything else: not ours to send.
                None if name.ends_with(".tmp") => {
                    let _ = std::fs::remove_file(&path);
                }
                None => {}
            }
        }
        segments.sort_by_key(|s| s.seq);
        let next_seq = segments.last().map_or(0, |s| s.seq + 1);
        let total = segments.iter().map(|s| s.samples).sum();
        let mut q = DiskQueue {
            dir: dir.to_path_buf(),
            max_samples,
            segments: segments.into(),
            total,
            next_seq,
        };
        let dropped = q.make_room(0);
        Ok((q, dropped))
    }

    /// Appends one request's `body` holding `samples` samples. Returns the samples of the
    /// oldest segments deleted to stay within the bound. A segment larger than the whole
    /// bound is not kept (its samples count as dropped).
    pub fn push(&mut self, body: &[u8], samples: u64) -> io::Result<u64> {
        if samples > self.max_samples {
            return Ok(samples);
        }
        let dropped = self.make_room(samples);
        let seg = Segment {
            seq: self.next_seq,
            samples,
        };
        let path = self.path(seg);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body)?;
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        self.next_seq += 1;
        self.total += samples;
        self.segments.push_back(seg);
        Ok(dropped)
    }

    /// The oldest segment, to send next.
    pub fn front(&self) -> Option<Segment> {
        self.segments.front().copied()
    }

    /// The body of a queued segment.
    pub fn read(&self, seg: Segment) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(seg))
    }

    /// Deletes a segment once sent (or refused for good); `false` when it is gone already
    /// (dropped for room while it was being sent).
    pub fn remove(&mut self, seg: Segment) -> bool {
        let Some(i) = self.segments.iter().position(|s| *s == seg) else {
            return false;
        };
        self.segments.remove(i);
        self.total -= seg.samples;
        if let Err(e) = std::fs::remove_file(self.path(seg)) {
            tracing::warn!(
                "remote write queue: cannot delete {}: {e}",
                self.path(seg).display()
            );
        }
        true
    }

    /// Samples queued.
    pub fn samples(&self) -> u64 {
        self.total
    }

    /// Segments queued.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The bound, in samples.
    pub fn max_samples(&self) -> u64 {
        self.max_samples
    }

    /// Deletes the oldest segments until `incoming` more samples fit; returns the samples
    /// deleted.
    fn make_room(&mut self, incoming: u64) -> u64 {
        let mut dropped = 0;
        while self.total + incoming > self.max_samples {
            let Some(old) = self.segments.front().copied() else {
                break;
            };
            self.remove(old);
            dropped += old.samples;
        }
        dropped
    }

    fn path(&self, seg: Segment) -> PathBuf {
        self.dir
            .join(format!("{:020}-{}.{EXT}", seg.seq, seg.samples))
    }
}

fn parse_name(name: &str) -> Option<Segment> {
    let stem = name.strip_suffix(&format!(".{EXT}"))?;
    let (seq, samples) = stem.split_once('-')?;
    Some(Segment {
        seq: seq.parse().ok()?,
        samples: samples.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound holds whatever is pushed: the queue never holds more than `max_samples`,
    /// the samples dropped are exactly the oldest ones, counted, and what is left is the
    /// newest, in order, also after reopening.
    #[test]
    fn the_bound_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, dropped) = DiskQueue::open(dir.path(), 1000).unwrap();
        assert_eq!(dropped, 0);
        let sizes: Vec<u64> = (0..200).map(|i| 1 + (i * 37 % 150)).collect();
        let mut pushed = 0u64;
        let mut dropped = 0u64;
        for (i, n) in sizes.iter().enumerate() {
            let body = format!("segment {i}");
            dropped += q.push(body.as_bytes(), *n).unwrap();
            pushed += n;
            assert!(q.samples() <= 1000, "{} queued", q.samples());
            assert_eq!(pushed, dropped + q.samples());
        }
        assert!(dropped > 0);
        // What is left is the newest suffix of what was pushed, in order.
        let mut expect = Vec::new();
        let mut room = 0u64;
        for (i, n) in sizes.iter().enumerate().rev() {
            if room + n > q.samples() {
                break;
            }
            room += n;
            expect.push(i);
        }
        expect.reverse();
        let (q2, dropped_again) = DiskQueue::open(dir.path(), 1000).unwrap();
        assert_eq!(dropped_again, 0);
        assert_eq!(q2.samples(), q.samples());
        let mut got = Vec::new();
        let mut q2 = q2;
        while let Some(seg) = q2.front() {
            let body = String::from_utf8(q2.read(seg).unwrap()).unwrap();
            got.push(
                body.strip_prefix("segment ")
                    .unwrap()
                    .parse::<usize>()
                    .unwrap(),
            );
            assert!(q2.remove(seg));
        }
        assert_eq!(got, expect);
        assert!(q2.is_empty());
        assert_eq!(q2.samples(), 0);
        // A lower bound at reopening drops the oldest to fit, and says how many.
        let (mut q3, _) = DiskQueue::open(dir.path(), 1000).unwrap();
        for i in 0..10 {
            q3.push(format!("segment {i}").as_bytes(), 100).unwrap();
        }
        drop(q3);
        let (q4, dropped) = DiskQueue::open(dir.path(), 450).unwrap();
        assert_eq!(dropped, 600);
        assert_eq!(q4.samples(), 400);
        assert_eq!(q4.len(), 4);
    }

    #[test]
    fn a_segment_dropped_while_sent_is_not_removed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = DiskQueue::open(dir.path(), 10).unwrap();
        q.push(b"a", 6).unwrap();
        let sending = q.front().unwrap();
        // The receiver is slow; a new push needs the room.
        assert_eq!(q.push(b"b", 6).unwrap(), 6);
        assert!(!q.remove(sending));
        assert_eq!(q.samples(), 6);
        assert_eq!(q.read(q.front().unwrap()).unwrap(), b"b");
    }
}

//! Warming after a start: the pages the first seal and sample move write are read into the
//! OS cache by a background reader before the writer needs them.
//!
//! A 5-minute seal adds into each series' newest 1-hour and 1-day rows and the move appends
//! to each series' newest page of samples and 5-minute buckets: four pages per port, spread
//! over the whole file. After a reboot none of them is in the cache, and the first seal read
//! them one at a time inside its transaction: on the rig's 28-day store (9,600 ports,
//! 4.7 GB) it held the write lock for one to two minutes, while sweeps queued in memory
//! (+10 to 25 MiB) and alert commits failed with "database is locked". The reader holds no
//! lock (WAL), so sweeps go on being written while it runs; the 5-minute seal and the move
//! wait for it, at most the writer's `warm_wait`, and then catch up in one transaction with
//! their pages in the cache. Like PostgreSQL's `pg_prewarm`, but only the pages about to be
//! written.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::store::error::{SqlContext, StoreError};
use crate::store::schema;

/// Each series' newest row of the tables a seal or move writes: the query reads the pages on
/// the way to it (the interior pages once, then one leaf per series).
const NEWEST: [&str; 4] = [
    "SELECT ts FROM port_sample_by_series WHERE series_id = ?1 ORDER BY ts DESC LIMIT 1",
    "SELECT bucket FROM rollup_5m_by_series WHERE series_id = ?1 ORDER BY bucket DESC LIMIT 1",
    "SELECT bucket FROM rollup_1h WHERE series_id = ?1 ORDER BY bucket DESC LIMIT 1",
    "SELECT bucket FROM rollup_1d WHERE series_id = ?1 ORDER BY bucket DESC LIMIT 1",
];

/// A background read of the pages the writer's first seal will write; the seal waits while
/// it runs (see the module's doc).
pub(crate) struct Warming {
    done: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    started: Instant,
    wait: Duration,
}

impl Warming {
    /// Starts reading `series`' newest pages of `path` on a thread of its own; the seal
    /// waits at most `wait` for it.
    pub(crate) fn start(path: &Path, mut series: Vec<i64>, wait: Duration) -> Warming {
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let w = Warming {
            done: done.clone(),
            stop: stop.clone(),
            started: Instant::now(),
            wait,
        };
        // In key order: the pages of neighbouring series lie near each other in the file.
        series.sort_unstable();
        series.dedup();
        let path = path.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("store-warm".into())
            .spawn(move || {
                let started = Instant::now();
                match read_newest(&path, &series, &stop) {
                    Ok(true) => tracing::info!(
                        file = %path.display(),
                        series = series.len(),
                        seconds = format_args!("{:.1}", started.elapsed().as_secs_f64()),
                        "the pages the next seal writes are in the cache"
                    ),
                    Ok(false) => {}
                    // Only a cache left cold: the seal reads what it needs itself.
                    Err(e) => tracing::warn!(
                        file = %path.display(),
                        error = %e,
                        "cannot read the store's pages ahead of the seal"
                    ),
                }
                done.store(true, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the store's warming thread");
            w.done.store(true, Ordering::Release);
        }
        w
    }

    /// A warming that never finishes by itself (tests: the seal waits until [`Warming::finish`]).
    #[cfg(test)]
    pub(crate) fn held(wait: Duration) -> Warming {
        Warming {
            done: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
            started: Instant::now(),
            wait,
        }
    }

    /// Marks a [`Warming::held`] one finished.
    #[cfg(test)]
    pub(crate) fn finish(&self) {
        self.done.store(true, Ordering::Release);
    }

    /// Whether the reader has finished (or failed: the seal then reads for itself).
    pub(crate) fn done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Whether the seal has waited as long as it may.
    pub(crate) fn expired(&self) -> bool {
        self.started.elapsed() >= self.wait
    }
}

impl Drop for Warming {
    fn drop(&mut self) {
        // The writer stops or reopens: the reader stops at its next series.
        self.stop.store(true, Ordering::Release);
    }
}

/// Reads each series' newest row of the [`NEWEST`] tables; `Ok(false)` when stopped early.
fn read_newest(path: &Path, series: &[i64], stop: &AtomicBool) -> Result<bool, StoreError> {
    let conn: Connection = schema::open_for_read(path)?;
    let mut stmts = Vec::with_capacity(NEWEST.len());
    for sql in NEWEST {
        stmts.push(
            conn.prepare(sql)
                .ctx(path, "preparing to read pages ahead")?,
        );
    }
    for &sid in series {
        if stop.load(Ordering::Acquire) {
            return Ok(false);
        }
        for s in &mut stmts {
            // The row itself is not needed: reading it brought its page into the cache.
            let mut rows = s.query([sid]).ctx(path, "reading pages ahead")?;
            rows.next().ctx(path, "reading pages ahead")?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Topology;
    use crate::poll::{
        Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
    };
    use crate::store::ingest::Ingest;
    use crate::store::metrics::WriterMetrics;

    /// A second on an hour (and a day) boundary.
    const HOUR_START: i64 = 1_800_000_000;

    fn demo() -> Arc<Topology> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
        Arc::new(crate::config::load(&path).unwrap().config.topology)
    }

    fn sweep(topo: &Topology, secs: i64, in_octets: u64) -> Arc<Sweep> {
        let sw = &topo.switches[0];
        Arc::new(Sweep {
            switch: sw.name.as_str().into(),
            time: jiff::Timestamp::from_second(secs).unwrap(),
            status: SweepStatus::Ok,
            sys_uptime: Some(1),
            ports: vec![PortResult {
                port: sw.ports[0].name.clone(),
                outcome: PortOutcome::Reading(PortReading {
                    if_index: 1,
                    oper_status: OperStatus::Up,
                    speed_bps: 1_000_000_000,
                    quality: Quality::Ok,
                    delta: Some(Delta {
                        dt_ms: 60_000,
                        in_octets,
                        out_octets: 0,
                        in_packets: None,
                        out_packets: None,
                    }),
                }),
            }],
        })
    }

    /// An `Ingest` on a new store in `dir` with the demo topology, the topology and the file.
    fn open(dir: &tempfile::TempDir) -> (Ingest, Arc<Topology>, std::path::PathBuf) {
        let path = dir.path().join("bandwatch.db");
        let topo = demo();
        let ing = Ingest::open(&path, topo.clone(), 120_000, None, false).unwrap();
        (ing, topo, path)
    }

    /// One sweep a minute of 1,000 bytes in, at the given minutes after [`HOUR_START`].
    fn write_minutes(ing: &mut Ingest, topo: &Topology, minutes: std::ops::RangeInclusive<i64>) {
        let metrics = WriterMetrics::default();
        for m in minutes {
            ing.write_batch(&[sweep(topo, HOUR_START + 60 * m, 1_000)], &metrics, false)
                .unwrap();
        }
    }

    #[test]
    fn the_first_seal_after_a_start_waits_for_its_pages_and_then_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ing, topo, path) = open(&dir);
        ing.warming = Some(Warming::held(Duration::from_secs(3600)));
        write_minutes(&mut ing, &topo, 1..=30);
        let check = Connection::open(&path).unwrap();
        let count = |sql: &str| -> i64 { check.query_row(sql, [], |r| r.get(0)).unwrap() };
        // Half an hour written, nothing sealed or moved while the pages are read ahead; the
        // buckets are in the recent half, where readers find them.
        assert_eq!(count("SELECT count(*) FROM rollup_1h"), 0);
        assert_eq!(count("SELECT count(*) FROM rollup_5m_by_series"), 0);
        assert_eq!(count("SELECT count(*) FROM port_sample_by_series"), 0);
        assert_eq!(
            count(
                "SELECT sum(in_octets) FROM rollup_5m WHERE series_id = (SELECT series_id FROM port_sample LIMIT 1)"
            ),
            30_000
        );
        assert_eq!(count("SELECT count(*) FROM port_sample"), 30);

        // Read ahead: the next batch seals every bucket that was due and moves the samples.
        ing.warming.as_ref().unwrap().finish();
        write_minutes(&mut ing, &topo, 31..=31);
        assert!(ing.warming.is_none());
        // The mark: the newest sweep (base + 31 min) less the grace (2 min), bucket 5.
        let sealed_to = HOUR_START / 300 + 5;
        let five: i64 = check
            .query_row(
                "SELECT sum(in_octets) FROM rollup_5m WHERE bucket < ?1 AND series_id = (SELECT series_id FROM port_sample LIMIT 1)",
                [sealed_to],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(five, 25_000);
        assert_eq!(
            count(
                "SELECT sum(in_octets) FROM rollup_1h WHERE series_id = (SELECT series_id FROM port_sample LIMIT 1)"
            ),
            five
        );
        assert_eq!(
            count(
                "SELECT sum(in_octets) FROM rollup_1d WHERE series_id = (SELECT series_id FROM port_sample LIMIT 1)"
            ),
            five
        );
        assert!(count("SELECT count(*) FROM port_sample_by_series") >= 30);
        assert_eq!(count("SELECT count(*) FROM port_sample"), 31);
    }

    #[test]
    fn a_seal_waits_no_longer_than_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ing, topo, path) = open(&dir);
        // Never finishes, and the seal may not wait at all.
        ing.warming = Some(Warming::held(Duration::ZERO));
        write_minutes(&mut ing, &topo, 1..=31);
        let check = Connection::open(&path).unwrap();
        let hourly: i64 = check
            .query_row("SELECT sum(in_octets) FROM rollup_1h WHERE series_id = (SELECT series_id FROM port_sample LIMIT 1)", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hourly, 25_000);
    }

    #[test]
    fn reading_ahead_finishes_on_a_store_and_stops_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ing, topo, path) = open(&dir);
        write_minutes(&mut ing, &topo, 1..=31);
        let series: Vec<i64> = (1..=200).collect();
        let w = Warming::start(&path, series.clone(), Duration::from_secs(60));
        let t = Instant::now();
        while !w.done() && t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(w.done(), "the reader ends");
        assert!(!w.expired());
        // A file that is not a store: the reader fails, says so, and counts as done (the
        // seal then reads for itself).
        let bad = dir.path().join("not-a-store.db");
        std::fs::write(&bad, b"not a database").unwrap();
        let w = Warming::start(&bad, series, Duration::from_secs(60));
        let t = Instant::now();
        while !w.done() && t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(w.done());
    }
}

//! Helpers of the report tests: a configuration file with customers on two switches, and
//! synthetic months written through the real store writer into a real SQLite file (hourly
//! sweeps, so two months stay fast; each hour's octets split exactly over its 5-minute
//! buckets).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use bandwatch::config::{self, Config, Duration};
use bandwatch::poll::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
    UnknownReason,
};
use bandwatch::store::{Store, WriterOptions};
use jiff::Timestamp;

/// The API token of the test configuration.
pub const TOKEN: &str = "s3cret-token";

/// The test configuration: switches `sw-a` (site a) and `sw-b` (site b).
pub const CONFIG: &str = r#"
[daemon]
data_dir = "var"

[retention]
raw = "forever"
rollup_5m = "forever"
rollup_1h = "forever"
rollup_1d = "forever"

[api]
token = "file:api-token"

[snmp.default]
version = "2c"
community = "${BANDWATCH_TEST_COMMUNITY:-public}"

[email]
transport = "file"
from = "bandwatch <bandwatch@example.net>"

[report]
day = 2
time = "07:30"
route = "sales"
up = 0.2
down = 0.2

[[route]]
name = "sales"
email = ["sales@example.net"]
[[route]]
name = "alice"
email = ["alice@example.net"]
[[route]]
name = "bob"
email = ["bob@example.net"]

[[site]]
name = "a"
[[site]]
name = "b"

[[switch]]
name = "sw-a"
site = "a"
address = "127.0.0.1:16100"
[[switch]]
name = "sw-b"
site = "b"
address = "127.0.0.1:16101"

[[product_line]]
name = "transit"

[[port]]
switch = "sw-a"
name = "p3"
product_line = "transit"
[[port]]
switch = "sw-a"
name = "p5"
product_line = "transit"
[[port]]
switch = "sw-b"
name = "p1"
product_line = "transit"

[[customer]]
id = "fresh"
name = "Fresh Ltd"
account_manager = "alice"
ports = [{ switch = "sw-a", name = "p1" }]

[[customer]]
id = "gone"
name = "Gone Inc"
account_manager = "alice"
ports = [{ switch = "sw-a", name = "p2" }]

[[customer]]
id = "grow"
name = "Grow AG"
account_manager = "bob"
ports = [{ switch = "sw-a", name = "p3" }]

[[customer]]
id = "gappy"
name = "Gappy SA"
account_manager = "bob"
billing = "volume"
ports = [{ switch = "sw-a", name = "p4" }]

[[customer]]
id = "two"
name = "Two Switches BV"
billing = "95th-sum"
ports = [{ switch = "sw-a", name = "p5" }, { switch = "sw-b", name = "p1" }]
"#;

/// A temporary folder with `bandwatch.toml` (the configuration above) and its data.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub config: Config,
}

impl Setup {
    /// A fresh folder under the system's temporary directory.
    pub fn new() -> Setup {
        Setup::in_dir(tempfile::tempdir().unwrap())
    }

    /// The configuration written into `dir`.
    pub fn in_dir(dir: tempfile::TempDir) -> Setup {
        Setup::write(dir, CONFIG)
    }

    /// Another configuration `text` in a fresh folder, its data directory made.
    pub fn with_config(text: &str) -> Setup {
        let s = Setup::write(tempfile::tempdir().unwrap(), text);
        std::fs::create_dir_all(&s.config.daemon.data_dir).unwrap();
        s
    }

    fn write(dir: tempfile::TempDir, text: &str) -> Setup {
        let config_path = dir.path().join("bandwatch.toml");
        std::fs::write(&config_path, text).unwrap();
        std::fs::write(dir.path().join("api-token"), TOKEN).unwrap();
        let config = config::load(&config_path).unwrap().config;
        Setup {
            dir,
            config_path,
            config,
        }
    }

    pub fn db(&self) -> PathBuf {
        self.config.daemon.data_dir.join("bandwatch.db")
    }
}

/// Unix seconds of `YYYY-MM-DD` at midnight UTC.
pub fn day(s: &str) -> i64 {
    s.parse::<jiff::civil::Date>()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_second()
}

/// What one port did in one step: octets in and out, or a gap.
pub type Hour = Option<(u64, u64)>;

/// Seconds per sweep of the synthetic months: one sweep a day keeps two months of several
/// ports to a few hundred sweeps (the store splits each day exactly over its 288 5-minute
/// buckets, so every bucket of a day has the day's rate).
pub const STEP: i64 = 86_400;

/// Writes a sweep every [`STEP`] seconds for every switch from `from` to `to` (unix seconds):
/// the sweep at `t` covers `[t - STEP, t]`, and `traffic(switch, port, t - STEP)` gives the
/// port's octets for that step. Waits until everything is committed.
pub fn write_steps(
    db: &Path,
    config: &Config,
    from: i64,
    to: i64,
    traffic: impl Fn(&str, &str, i64) -> Hour,
) {
    write_every(db, config, from, to, STEP, traffic)
}

/// [`write_steps`] with a sweep every `step` seconds.
pub fn write_every(
    db: &Path,
    config: &Config,
    from: i64,
    to: i64,
    step: i64,
    traffic: impl Fn(&str, &str, i64) -> Hour,
) {
    let mut topo = config.topology.clone();
    for s in &mut topo.switches {
        std::sync::Arc::make_mut(s).interval = Duration::from_secs(step as u64);
    }
    let retention = config.retention;
    let store = Store::open(db, &retention).unwrap();
    let writer = store
        .writer_with(
            Arc::new(topo.clone()),
            WriterOptions {
                retention_every: StdDuration::ZERO,
                ..WriterOptions::default()
            },
        )
        .unwrap();
    let mut t = from + step;
    while t <= to {
        for sw in &topo.switches {
            let ports = sw
                .ports
                .iter()
                .map(|p| PortResult {
                    port: p.name.clone(),
                    outcome: match traffic(&sw.name, &p.name, t - step) {
                        Some((i, o)) => PortOutcome::Reading(PortReading {
                            if_index: 1,
                            oper_status: OperStatus::Up,
                            speed_bps: 10_000_000_000,
                            quality: Quality::Ok,
                            delta: Some(Delta {
                                dt_ms: step as u64 * 1000,
                                in_octets: i,
                                out_octets: o,
                                in_packets: None,
                                out_packets: None,
                            }),
                        }),
                        None => PortOutcome::Unknown(UnknownReason::Timeout),
                    },
                })
                .collect();
            writer
                .submit(Sweep {
                    switch: sw.name.clone().into(),
                    time: Timestamp::from_second(t).unwrap(),
                    status: SweepStatus::Ok,
                    sys_uptime: Some(1),
                    ports,
                })
                .unwrap();
        }
        t += step;
    }
    writer.flush().unwrap();
}

/// Octets in one hour at `mbps` Mbit/s.
pub fn hour_at(mbps: u64) -> u64 {
    mbps * 1_000_000 / 8 * 3600
}

/// Octets in one [`STEP`] at `mbps` Mbit/s.
pub fn step_at(mbps: u64) -> u64 {
    hour_at(mbps) * STEP as u64 / 3600
}

/// The synthetic September and October 2026 (30 and 31 days):
/// - `fresh` (sw-a/p1): nothing in September, 1 Mbit/s in from 16 October.
/// - `gone` (sw-a/p2): 2 Mbit/s in through 9 October, nothing from 10 October.
/// - `grow` (sw-a/p3): 10 Mbit/s in / 5 out in September, 15 / 7.5 in October.
/// - `gappy` (sw-a/p4): 4 Mbit/s in both months, no answer 5..=7 October (3 days).
/// - `two` (sw-a/p5 and sw-b/p1): 3 Mbit/s in and 3 out on each port, both months.
pub fn months(switch: &str, port: &str, t: i64) -> Hour {
    let oct = day("2026-10-01");
    let mid = day("2026-10-16");
    let churn = day("2026-10-10");
    let gap = (day("2026-10-05"), day("2026-10-08"));
    Some(match (switch, port) {
        ("sw-a", "p1") => (if t >= mid { step_at(1) } else { 0 }, 0),
        ("sw-a", "p2") => (if t >= churn { 0 } else { step_at(2) }, 0),
        ("sw-a", "p3") if t >= oct => (step_at(15), step_at(15) / 2),
        ("sw-a", "p3") => (step_at(10), step_at(5)),
        ("sw-a", "p4") if t >= gap.0 && t < gap.1 => return None,
        ("sw-a", "p4") => (step_at(4), 0),
        ("sw-a", "p5") | ("sw-b", "p1") => (step_at(3), step_at(3)),
        _ => (0, 0),
    })
}

//! The schedule, through the real scheduler with stand-in SNMP sources: sweeps of a switch
//! start on a fixed grid (a poll's duration does not push later starts back), and a switch
//! whose polls overrun its interval neither delays another switch nor piles up: it skips
//! ticks, which are counted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration as StdDuration;

use bandwatch::config::{Duration, SnmpProfile, Switch, Topology};
use bandwatch::poll::scheduler::{Connector, spawn_with};
use bandwatch::poll::{Sweep, SweepStatus};
use bandwatch::snmp::{BoxFuture, SnmpError, SnmpSource, VarBind};
use jiff::Timestamp;
use tokio::sync::mpsc;

/// Answers nothing, after `delay`.
struct Slow {
    delay: StdDuration,
}

impl SnmpSource for Slow {
    fn get<'a>(&'a self, _o: &'a [Vec<u32>]) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            Err(SnmpError::Timeout)
        })
    }
    fn get_bulk<'a>(
        &'a self,
        _o: &'a [Vec<u32>],
        _n: u32,
        _r: u32,
    ) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            Err(SnmpError::Timeout)
        })
    }
    fn target(&self) -> String {
        "slow".into()
    }
}

fn switch(name: &str) -> Switch {
    Switch {
        name: name.into(),
        site: "lab".into(),
        address: name.into(),
        profile: "default".into(),
        snmp: SnmpProfile::default(),
        interval: Duration::from_secs(1),
        rediscover: Duration::from_secs(3600),
        alias_patterns: Vec::new(),
        ports: Vec::new(),
        description: None,
        shard: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeps_start_on_a_fixed_grid_and_a_slow_switch_delays_no_other() {
    let topology = Topology {
        switches: vec![Arc::new(switch("steady")), Arc::new(switch("stuck"))],
        ..Topology::default()
    };
    // "steady" takes 300 ms per poll, "stuck" 2.5 s (longer than its 1 s interval).
    let connector: Connector = Arc::new(|sw: Arc<Switch>| {
        Box::pin(async move {
            let delay = if sw.name == "steady" {
                StdDuration::from_millis(300)
            } else {
                StdDuration::from_millis(2500)
            };
            Ok(Box::new(Slow { delay }) as Box<dyn SnmpSource>)
        })
    });
    let (tx, mut rx) = mpsc::channel::<Sweep>(64);
    let poller = spawn_with(Arc::new(topology), 4, tx, connector);
    let mut steady: Vec<Timestamp> = Vec::new();
    let mut stuck = 0;
    let deadline = tokio::time::Instant::now() + StdDuration::from_millis(6500);
    while let Ok(Some(s)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        assert_eq!(s.status, SweepStatus::Timeout);
        if &*s.switch == "steady" {
            steady.push(s.time);
        } else {
            stuck += 1;
        }
    }
    let skipped = poller
        .metrics
        .switch("stuck")
        .unwrap()
        .skipped
        .load(Ordering::Relaxed);
    poller.shutdown();

    // Sweeps end 300 ms after their start; starts are on a 1 s grid, so ends are too: each
    // end lies within 250 ms of a whole number of seconds after the first (a loaded host may
    // wake a timer late, or skip a tick that came more than half an interval late). A drift
    // of 300 ms per sweep leaves the grid at the first gap.
    assert!(steady.len() >= 5, "{steady:?}");
    let offsets: Vec<f64> = steady
        .iter()
        .map(|t| (*t - steady[0]).total(jiff::Unit::Second).unwrap())
        .collect();
    for o in &offsets {
        assert!((o - o.round()).abs() < 0.25, "not on the grid: {offsets:?}");
    }
    let ticks = offsets[offsets.len() - 1].round() as usize;
    assert!(
        ticks <= offsets.len(),
        "more than one tick of the steady switch skipped: {offsets:?}"
    );

    // The stuck switch ran at most one sweep at a time and skipped the ticks it overran.
    assert!(
        (1..=3).contains(&stuck),
        "{stuck} sweeps of the stuck switch"
    );
    assert!(skipped >= 2, "skipped {skipped}");
}

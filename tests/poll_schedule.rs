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

    // Sweeps end 300 ms after their start; starts are 1 s apart, so ends are too: a drift
    // of 300 ms per sweep would stretch 5 gaps to 6.5 s.
    assert!(steady.len() >= 5, "{steady:?}");
    let gaps: Vec<f64> = steady
        .windows(2)
        .map(|w| (w[1] - w[0]).total(jiff::Unit::Second).unwrap())
        .collect();
    for g in &gaps {
        assert!((0.8..1.2).contains(g), "not on the grid: {gaps:?}");
    }
    let span = (steady[steady.len() - 1] - steady[0])
        .total(jiff::Unit::Second)
        .unwrap();
    let mean = span / (steady.len() - 1) as f64;
    assert!((mean - 1.0).abs() < 0.05, "drift: mean gap {mean}");

    // The stuck switch ran at most one sweep at a time and skipped the ticks it overran.
    assert!(
        (1..=3).contains(&stuck),
        "{stuck} sweeps of the stuck switch"
    );
    assert!(skipped >= 2, "skipped {skipped}");
}

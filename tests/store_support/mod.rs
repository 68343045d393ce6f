//! Helpers shared by the store tests: a hand-built topology and hand-built sweeps (until the
//! poller lands, sweeps are made here the way the poller makes them).
#![allow(dead_code)]

use std::sync::Arc;

use bandwatch::config::{
    Customer, Duration, Port, PortKey, PortLabels, ProductLine, Site, SnmpProfile, Switch, Topology,
};
use bandwatch::poll::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
    UnknownReason,
};
use jiff::Timestamp;

/// One port of the test topology: (switch, port, product line, customer).
pub type PortSpec<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>);

/// A topology from a list of ports; switch `X` is in site `site-X`'s site unless named
/// `a-*` / `b-*`, which go to sites `a` / `b`. Poll interval 60 s.
pub fn topology(ports: &[PortSpec<'_>]) -> Arc<Topology> {
    let mut t = Topology::default();
    let site_of = |sw: &str| -> String {
        sw.split_once('-')
            .map(|(s, _)| s.to_string())
            .unwrap_or_else(|| "main".to_string())
    };
    for (sw, port, pl, cust) in ports {
        let site = site_of(sw);
        if t.switch(sw).is_none() {
            t.switches.push(std::sync::Arc::new(Switch {
                name: sw.to_string(),
                site: site.clone(),
                address: "127.0.0.1:161".into(),
                profile: "default".into(),
                snmp: SnmpProfile::default(),
                interval: Duration::from_secs(60),
                rediscover: Duration::from_secs(3600),
                alias_patterns: Vec::new(),
                ports: Vec::new(),
                description: None,
                shard: None,
            }));
            t.sites
                .entry(site.clone())
                .or_insert_with(|| Site {
                    name: site.clone(),
                    description: None,
                    switches: Vec::new(),
                })
                .switches
                .push(sw.to_string());
        }
        let key = PortKey {
            switch: (*sw).into(),
            port: (*port).into(),
        };
        if let Some(pl) = pl {
            t.product_lines
                .entry(pl.to_string())
                .or_insert_with(|| ProductLine {
                    name: pl.to_string(),
                    owners: Vec::new(),
                    ports: Vec::new(),
                    description: None,
                })
                .ports
                .push(key.clone());
        }
        if let Some(c) = cust {
            t.customers
                .entry(c.to_string())
                .or_insert_with(|| Customer {
                    id: c.to_string(),
                    name: c.to_string(),
                    account_manager: None,
                    ports: Vec::new(),
                })
                .ports
                .push(key.clone());
        }
        let s = t.switches.iter_mut().find(|s| s.name == *sw).unwrap();
        std::sync::Arc::make_mut(s).ports.push(Port {
            name: (*port).into(),
            labels: PortLabels {
                site: site.into(),
                switch: (*sw).into(),
                port: (*port).into(),
                product_line: pl.map(str::to_string).map(Into::into),
                customer: cust.map(str::to_string).map(Into::into),
                role: None,
            },
            max_rate: None,
            attributed: false,
            description: None,
        });
    }
    Arc::new(t)
}

/// A reading with a delta over `dt_ms`.
pub fn reading(dt_ms: u64, in_octets: u64, out_octets: u64) -> PortOutcome {
    PortOutcome::Reading(PortReading {
        if_index: 1,
        oper_status: OperStatus::Up,
        speed_bps: 1_000_000_000,
        quality: Quality::Ok,
        delta: Some(Delta {
            dt_ms,
            in_octets,
            out_octets,
            in_packets: Some(in_octets / 1000),
            out_packets: Some(out_octets / 1000),
        }),
    })
}

/// A reading without a delta (first reading, reset, bogus).
pub fn no_delta(quality: Quality) -> PortOutcome {
    PortOutcome::Reading(PortReading {
        if_index: 1,
        oper_status: OperStatus::Up,
        speed_bps: 1_000_000_000,
        quality,
        delta: None,
    })
}

/// A port that could not be read.
pub fn unknown(reason: UnknownReason) -> PortOutcome {
    PortOutcome::Unknown(reason)
}

/// A sweep of one switch at a time.
pub fn sweep(switch: &str, time: Timestamp, ports: Vec<(&str, PortOutcome)>) -> Sweep {
    Sweep {
        switch: switch.to_string().into(),
        time,
        status: SweepStatus::Ok,
        sys_uptime: Some(1),
        ports: ports
            .into_iter()
            .map(|(p, outcome)| PortResult {
                port: p.into(),
                outcome,
            })
            .collect(),
    }
}

/// A whole-switch timeout: every port unknown.
pub fn timeout_sweep(switch: &str, time: Timestamp, ports: &[&str]) -> Sweep {
    let mut s = sweep(
        switch,
        time,
        ports
            .iter()
            .map(|p| (*p, unknown(UnknownReason::Timeout)))
            .collect(),
    );
    s.status = SweepStatus::Timeout;
    s
}

/// Seconds since the epoch as a timestamp.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

/// A round time in the recent past (a multiple of one day), so retention keeps everything.
pub fn base() -> i64 {
    let now = Timestamp::now().as_second();
    now - now.rem_euclid(86_400) - 3 * 86_400
}

//! Drives a [`SwitchPoller`] with raw datagrams instead of a network: each request of a
//! sweep is answered with the varbinds decoded from the next datagram (or its decode error).
//! The response-handling path end to end, for the fuzz target (`fuzz/`) and tests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::metrics::SwitchMetrics;
use super::sweep::Sweep;
use super::switch::SwitchPoller;
use crate::config::{Duration, Port, PortLabels, SnmpProfile, Switch};
use crate::snmp::client::decode_datagram;
use crate::snmp::{BoxFuture, SnmpError, SnmpSource, VarBind};

/// One prepared answer: varbinds or the error the request ends with.
type Answer = Result<Vec<VarBind>, SnmpError>;

/// Answers requests from a queue of prepared results; an empty queue is a timeout.
#[derive(Clone, Default)]
pub struct ReplaySource {
    answers: Arc<Mutex<VecDeque<Answer>>>,
}

impl ReplaySource {
    /// Queues the answer to a later request.
    pub fn push(&self, answer: Result<Vec<VarBind>, SnmpError>) {
        if let Ok(mut q) = self.answers.lock() {
            q.push_back(answer);
        }
    }

    fn next(&self) -> Result<Vec<VarBind>, SnmpError> {
        self.answers
            .lock()
            .ok()
            .and_then(|mut q| q.pop_front())
            .unwrap_or(Err(SnmpError::Timeout))
    }
}

impl SnmpSource for ReplaySource {
    fn get<'a>(&'a self, oids: &'a [Vec<u32>]) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
        Box::pin(async move {
            let vbs = self.next()?;
            // The same check the UDP source makes: the answer must name what was asked.
            if vbs.len() != oids.len() || vbs.iter().zip(oids).any(|(vb, o)| &vb.oid != o) {
                return Err(SnmpError::Malformed(
                    "varbinds do not match the request".into(),
                ));
            }
            Ok(vbs)
        })
    }
    fn get_bulk<'a>(
        &'a self,
        _oids: &'a [Vec<u32>],
        _non_repeaters: u32,
        _max_repetitions: u32,
    ) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
        Box::pin(async move { self.next() })
    }
    fn target(&self) -> String {
        "replay".into()
    }
}

fn replay_switch() -> Switch {
    let port = |name: &str| Port {
        name: crate::intern::intern(name),
        labels: PortLabels {
            site: "replay".into(),
            switch: "replay".into(),
            port: crate::intern::intern(name),
            ..PortLabels::default()
        },
        max_rate: None,
        attributed: false,
        description: None,
    };
    Switch {
        name: "replay".into(),
        site: "replay".into(),
        address: "replay".into(),
        profile: "default".into(),
        snmp: SnmpProfile::default(),
        interval: Duration::from_secs(10),
        rediscover: Duration::from_secs(3600),
        alias_patterns: Vec::new(),
        ports: vec![port("eth1"), port("eth2")],
        description: None,
        shard: None,
    }
}

/// Splits `data` into datagrams (a 0xff 0x00 0xff separator), decodes each, and runs up to
/// three sweeps of a two-port switch on the answers. Returns the sweeps; must never panic.
pub fn replay(data: &[u8]) -> Vec<Sweep> {
    let source = ReplaySource::default();
    for chunk in split(data) {
        source.push(decode_datagram(chunk));
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
        return Vec::new();
    };
    rt.block_on(async {
        let mut poller = SwitchPoller::new(
            Arc::new(replay_switch()),
            Box::new(source),
            Arc::new(SwitchMetrics::default()),
        );
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(poller.poll().await);
        }
        out
    })
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i..i + 3] == [0xff, 0x00, 0xff] {
            out.push(&data[start..i]);
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&data[start..]);
    out
}

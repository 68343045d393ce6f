//! The SNMP face of one simulated switch: a MIB handler serving sysUpTime and the ifTable and
//! ifXTable columns bandwatch reads, computed from the [`SwitchModel`] at the instant of each
//! request. While the model says "unreachable", requests get no answer in time.

use std::sync::Arc;
use std::time::Duration;

use async_snmp::handler::{
    BoxFuture, GetNextResult, GetResult, HandlerResult, MibHandler, RequestContext,
};
use async_snmp::{Oid, Value, VarBind};
use bytes::Bytes;
use tokio::time::Instant;

use super::traffic::SwitchModel;
use crate::snmp::oids::{Column, SYS_UPTIME};

/// ifTable then ifXTable columns, in OID order, as served by a full (64-bit) agent.
const COLUMNS_64: [Column; 15] = Column::ALL;

/// A simulated switch's MIB.
pub struct SimHandler {
    model: Arc<SwitchModel>,
    start: Instant,
    columns: Vec<(Column, Vec<u32>)>,
}

impl SimHandler {
    /// A handler for `model`, whose time 0 is `start`.
    pub fn new(model: Arc<SwitchModel>, start: Instant) -> Self {
        let columns = COLUMNS_64
            .iter()
            .filter(|c| !model.counter32 || !is_64_only(**c))
            .map(|c| (*c, c.oid()))
            .collect();
        SimHandler {
            model,
            start,
            columns,
        }
    }

    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Waits out an unreachable window (the client will have given up by then).
    async fn maybe_unreachable(&self) {
        let t = self.now();
        if let Some(until) = self.model.unreachable_until(t) {
            tokio::time::sleep(Duration::from_secs_f64(until - t + 1.0)).await;
        }
    }

    fn value(&self, column: Column, i: usize, t: f64) -> Value {
        let m = &self.model;
        let port = &m.ports[i];
        let c32 = |v: u64| Value::Counter32(v as u32);
        match column {
            Column::IfDescr => Value::OctetString(Bytes::from(format!("Ethernet port {}", i + 1))),
            Column::IfName => Value::OctetString(Bytes::from(port.name.clone())),
            Column::IfAlias => Value::OctetString(Bytes::from(port.alias.clone())),
            Column::IfSpeed => Value::Gauge32(m.speed_bps.min(u64::from(u32::MAX)) as u32),
            Column::IfHighSpeed => Value::Gauge32((m.speed_bps / 1_000_000) as u32),
            Column::IfOperStatus => Value::Integer(if m.oper_up(i, t) { 1 } else { 2 }),
            Column::IfInOctets => c32(m.octets(i, t).0),
            Column::IfOutOctets => c32(m.octets(i, t).1),
            Column::IfInUcastPkts => c32(m.packets(i, t).0),
            Column::IfOutUcastPkts => c32(m.packets(i, t).1),
            Column::IfHcInOctets => Value::Counter64(m.octets(i, t).0),
            Column::IfHcOutOctets => Value::Counter64(m.octets(i, t).1),
            Column::IfHcInUcastPkts => Value::Counter64(m.packets(i, t).0),
            Column::IfHcOutUcastPkts => Value::Counter64(m.packets(i, t).1),
            Column::IfCounterDiscontinuityTime => Value::TimeTicks(m.discontinuity_ticks(i, t)),
        }
    }

    fn lookup(&self, oid: &[u32], t: f64) -> GetResult {
        if oid == SYS_UPTIME {
            return GetResult::Value(Value::TimeTicks(self.model.uptime_ticks(t)));
        }
        let Some((column, index)) = Column::parse(oid) else {
            return GetResult::NoSuchObject;
        };
        if !self.columns.iter().any(|(c, _)| *c == column) {
            return GetResult::NoSuchObject;
        }
        match self.model.port_of_index(index, t) {
            Some(i) => GetResult::Value(self.value(column, i, t)),
            None => GetResult::NoSuchInstance,
        }
    }

    fn next(&self, oid: &[u32], t: f64) -> GetNextResult {
        if oid < SYS_UPTIME {
            return GetNextResult::Value(VarBind::new(
                Oid::from_slice(SYS_UPTIME),
                Value::TimeTicks(self.model.uptime_ticks(t)),
            ));
        }
        let indexes = self.model.indexes(t);
        for (column, prefix) in &self.columns {
            let candidate = if oid < prefix.as_slice() {
                indexes.first().copied()
            } else if oid.starts_with(prefix) {
                match oid.get(prefix.len()) {
                    None => indexes.first().copied(),
                    Some(&idx) => indexes.iter().copied().find(|&x| x > idx),
                }
            } else {
                None
            };
            if let Some(index) = candidate
                && let Some(i) = self.model.port_of_index(index, t)
            {
                let mut o = prefix.clone();
                o.push(index);
                return GetNextResult::Value(VarBind::new(
                    Oid::from_slice(&o),
                    self.value(*column, i, t),
                ));
            }
        }
        GetNextResult::EndOfMibView
    }
}

/// Columns a 32-bit-only (old) device does not serve: the ifHC* counters, ifHighSpeed and
/// ifCounterDiscontinuityTime.
fn is_64_only(c: Column) -> bool {
    matches!(
        c,
        Column::IfHcInOctets
            | Column::IfHcOutOctets
            | Column::IfHcInUcastPkts
            | Column::IfHcOutUcastPkts
            | Column::IfHighSpeed
            | Column::IfCounterDiscontinuityTime
    )
}

impl MibHandler for SimHandler {
    fn get<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        oid: &'a Oid,
    ) -> BoxFuture<'a, HandlerResult<GetResult>> {
        Box::pin(async move {
            self.maybe_unreachable().await;
            Ok(self.lookup(oid.arcs(), self.now()))
        })
    }

    fn get_next<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        oid: &'a Oid,
    ) -> BoxFuture<'a, HandlerResult<GetNextResult>> {
        Box::pin(async move {
            self.maybe_unreachable().await;
            Ok(self.next(oid.arcs(), self.now()))
        })
    }
}

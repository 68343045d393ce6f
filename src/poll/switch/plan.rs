//! Request planning: which columns a port needs, and how the ports of one sweep are grouped
//! into GETBULK runs of neighbouring ifIndexes (the rest read with GET), cached between sweeps.

use super::*;

/// Columns read for each port every sweep.
pub(super) const COLS: usize = 7;

/// Where ifCounterDiscontinuityTime is among a port's values.
pub(super) const DISCONTINUITY: usize = 6;

pub(super) const HC_COLUMNS: [Column; COLS] = [
    Column::IfHcInOctets,
    Column::IfHcOutOctets,
    Column::IfHcInUcastPkts,
    Column::IfHcOutUcastPkts,
    Column::IfHighSpeed,
    Column::IfOperStatus,
    Column::IfCounterDiscontinuityTime,
];

pub(super) const C32_COLUMNS: [Column; COLS] = [
    Column::IfInOctets,
    Column::IfOutOctets,
    Column::IfInUcastPkts,
    Column::IfOutUcastPkts,
    Column::IfSpeed,
    Column::IfOperStatus,
    Column::IfCounterDiscontinuityTime,
];

pub(super) fn columns(width: CounterWidth) -> &'static [Column; COLS] {
    match width {
        CounterWidth::C64 => &HC_COLUMNS,
        CounterWidth::C32 => &C32_COLUMNS,
    }
}

/// Ports read by one GETBULK: rows `first_row..=last_row` of the switch's ifIndex list.
#[derive(Clone, Debug)]
pub(super) struct BulkRun {
    pub(super) width: CounterWidth,
    pub(super) first_row: usize,
    pub(super) last_row: usize,
    pub(super) first_index: u32,
    /// (ifIndex, port) in ifIndex order.
    pub(super) ports: Vec<(u32, usize)>,
    /// The request's OIDs: sysUpTime's parent, then each column at the row before the run.
    pub(super) oids: Vec<Vec<u32>>,
}

/// How a set of ports is read: GETBULK runs and the ports left for GET. Kept between
/// sweeps (it changes only with discovery or a counter-width fallback).
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) which: Vec<usize>,
    pub(super) runs: Vec<BulkRun>,
    pub(super) leftovers: Vec<usize>,
}

impl SwitchPoller {
    /// The plan for `which`: the cached one when it was made for the same ports.
    pub(super) fn plan(&self, which: &[usize]) -> Arc<Plan> {
        let mut cache = self
            .plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = cache.as_ref()
            && p.which == which
        {
            return p.clone();
        }
        let (runs, leftovers) = self.plan_bulk(which);
        let plan = Arc::new(Plan {
            which: which.to_vec(),
            runs,
            leftovers,
        });
        *cache = Some(plan.clone());
        plan
    }

    /// Drops the cached plan (ifIndexes or counter widths changed).
    pub(super) fn forget_plan(&self) {
        *self
            .plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Groups ports (same counter width) whose ifIndexes are close in the switch's ifIndex
    /// list into runs of at most [`BULK_ROWS`] (v3: [`BULK_ROWS_V3`]) rows, fewer when the
    /// profile's `max_repetitions` is lower, with at most [`BULK_MAX_GAP`] unwanted
    /// rows between two wanted ones. Ports that fit no run are returned for GET.
    pub(super) fn plan_bulk(&self, which: &[usize]) -> (Vec<BulkRun>, Vec<usize>) {
        let limit = match self.switch.snmp.credentials {
            SnmpCredentials::V2c { .. } => BULK_ROWS,
            SnmpCredentials::V3(_) => BULK_ROWS_V3,
        };
        let rows = (self.switch.snmp.max_repetitions as usize).clamp(1, limit);
        let mut runs: Vec<BulkRun> = Vec::new();
        let mut leftovers = Vec::new();
        for width in [CounterWidth::C64, CounterWidth::C32] {
            let mut wanted: Vec<(usize, u32, usize)> = Vec::new(); // (row, ifIndex, port)
            for &i in which {
                let p = &self.ports[i];
                if p.width != width {
                    continue;
                }
                match p.if_index.and_then(|x| self.indexes.binary_search(&x).ok()) {
                    Some(row) if p.if_index.is_some_and(|x| x > 0) => {
                        wanted.push((row, p.if_index.unwrap_or(0), i))
                    }
                    _ => leftovers.push(i),
                }
            }
            wanted.sort_unstable();
            let mut current: Option<BulkRun> = None;
            for (row, if_index, i) in wanted {
                if let Some(run) = current.as_mut()
                    && row - run.last_row <= BULK_MAX_GAP + 1
                    && row - run.first_row < rows
                {
                    run.last_row = row;
                    run.ports.push((if_index, i));
                    continue;
                }
                runs.extend(current.take());
                current = Some(BulkRun {
                    width,
                    first_row: row,
                    last_row: row,
                    first_index: if_index,
                    ports: vec![(if_index, i)],
                    oids: Vec::new(),
                });
            }
            runs.extend(current);
        }
        for run in &mut runs {
            let cols = columns(run.width);
            run.oids.push(SYS_UPTIME[..SYS_UPTIME.len() - 1].to_vec());
            run.oids
                .extend(cols.iter().map(|c| c.instance(run.first_index - 1)));
        }
        (runs, leftovers)
    }
}

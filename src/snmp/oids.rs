//! The numeric OIDs bandwatch reads (Debian ships no IF-MIB, so no names are resolved).

/// sysUpTime.0 (TimeTicks, hundredths of a second since the agent started).
pub const SYS_UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
/// ifTable entry: 1.3.6.1.2.1.2.2.1
pub const IF_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1];
/// ifXTable entry: 1.3.6.1.2.1.31.1.1.1
pub const IFX_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1];

/// A column of ifTable or ifXTable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// ifDescr (ifTable .2)
    IfDescr,
    /// ifSpeed (ifTable .5), bits per second, Gauge32
    IfSpeed,
    /// ifOperStatus (ifTable .8)
    IfOperStatus,
    /// ifInOctets (ifTable .10), Counter32
    IfInOctets,
    /// ifInUcastPkts (ifTable .11), Counter32
    IfInUcastPkts,
    /// ifOutOctets (ifTable .16), Counter32
    IfOutOctets,
    /// ifOutUcastPkts (ifTable .17), Counter32
    IfOutUcastPkts,
    /// ifName (ifXTable .1)
    IfName,
    /// ifHCInOctets (ifXTable .6), Counter64
    IfHcInOctets,
    /// ifHCInUcastPkts (ifXTable .7), Counter64
    IfHcInUcastPkts,
    /// ifHCOutOctets (ifXTable .10), Counter64
    IfHcOutOctets,
    /// ifHCOutUcastPkts (ifXTable .11), Counter64
    IfHcOutUcastPkts,
    /// ifHighSpeed (ifXTable .15), megabits per second
    IfHighSpeed,
    /// ifAlias (ifXTable .18)
    IfAlias,
    /// ifCounterDiscontinuityTime (ifXTable .19)
    IfCounterDiscontinuityTime,
}

impl Column {
    /// Every column, for tables (the simulator) that serve them all.
    pub const ALL: [Column; 15] = [
        Column::IfDescr,
        Column::IfSpeed,
        Column::IfOperStatus,
        Column::IfInOctets,
        Column::IfInUcastPkts,
        Column::IfOutOctets,
        Column::IfOutUcastPkts,
        Column::IfName,
        Column::IfHcInOctets,
        Column::IfHcInUcastPkts,
        Column::IfHcOutOctets,
        Column::IfHcOutUcastPkts,
        Column::IfHighSpeed,
        Column::IfAlias,
        Column::IfCounterDiscontinuityTime,
    ];

    /// The table entry and column number.
    pub fn parts(self) -> (&'static [u32], u32) {
        match self {
            Column::IfDescr => (IF_ENTRY, 2),
            Column::IfSpeed => (IF_ENTRY, 5),
            Column::IfOperStatus => (IF_ENTRY, 8),
            Column::IfInOctets => (IF_ENTRY, 10),
            Column::IfInUcastPkts => (IF_ENTRY, 11),
            Column::IfOutOctets => (IF_ENTRY, 16),
            Column::IfOutUcastPkts => (IF_ENTRY, 17),
            Column::IfName => (IFX_ENTRY, 1),
            Column::IfHcInOctets => (IFX_ENTRY, 6),
            Column::IfHcInUcastPkts => (IFX_ENTRY, 7),
            Column::IfHcOutOctets => (IFX_ENTRY, 10),
            Column::IfHcOutUcastPkts => (IFX_ENTRY, 11),
            Column::IfHighSpeed => (IFX_ENTRY, 15),
            Column::IfAlias => (IFX_ENTRY, 18),
            Column::IfCounterDiscontinuityTime => (IFX_ENTRY, 19),
        }
    }

    /// The column's OID (without an index).
    pub fn oid(self) -> Vec<u32> {
        let (entry, col) = self.parts();
        let mut v = Vec::with_capacity(entry.len() + 2);
        v.extend_from_slice(entry);
        v.push(col);
        v
    }

    /// The OID of this column for one ifIndex.
    pub fn instance(self, if_index: u32) -> Vec<u32> {
        let mut v = self.oid();
        v.push(if_index);
        v
    }

    /// The column and ifIndex an instance OID names, if it is one of ours.
    pub fn parse(oid: &[u32]) -> Option<(Column, u32)> {
        let (entry, rest) = if oid.starts_with(IFX_ENTRY) {
            (IFX_ENTRY, &oid[IFX_ENTRY.len()..])
        } else if oid.starts_with(IF_ENTRY) {
            (IF_ENTRY, &oid[IF_ENTRY.len()..])
        } else {
            return None;
        };
        let [col, index] = rest else { return None };
        Column::ALL
            .iter()
            .copied()
            .find(|c| c.parts() == (entry, *col))
            .map(|c| (c, *index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip() {
        for c in Column::ALL {
            assert_eq!(Column::parse(&c.instance(42)), Some((c, 42)));
        }
        assert_eq!(
            Column::IfHcInOctets.instance(7),
            vec![1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 7]
        );
        assert_eq!(Column::parse(SYS_UPTIME), None);
        assert_eq!(Column::parse(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 8]), None);
    }
}

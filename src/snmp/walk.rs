//! Walking several table columns at once with GETBULK, on top of any [`SnmpSource`]: the
//! static columns (ifName, ifDescr, ifAlias) are read this way at discovery.

use super::source::{SnmpError, SnmpSource, SnmpValue, VarBind};

/// Upper bound of varbinds per GETBULK response we ask for (columns x repetitions), so one
/// response fits one UDP datagram even under SNMPv3 (see crates.md).
pub const MAX_BULK_VARBINDS: u32 = 60;

/// No column of a real switch has this many rows (the largest chassis with subinterfaces
/// have tens of thousands); a walk that gets here is looping, and stops before it costs
/// much memory.
pub const MAX_ROWS: usize = 50_000;

/// Walks every column in `columns` to its end and returns, per column, its instances in
/// order. A response whose OIDs do not increase, or that is empty, is an error.
pub async fn walk_columns<S: SnmpSource + ?Sized>(
    source: &S,
    columns: &[Vec<u32>],
    max_repetitions: u32,
) -> Result<Vec<Vec<VarBind>>, SnmpError> {
    let mut results: Vec<Vec<VarBind>> = vec![Vec::new(); columns.len()];
    let mut cursors: Vec<Vec<u32>> = columns.to_vec();
    let mut active: Vec<usize> = (0..columns.len()).collect();
    while !active.is_empty() {
        let width = active.len() as u32;
        let reps = max_repetitions.min(MAX_BULK_VARBINDS / width).max(1);
        let oids: Vec<Vec<u32>> = active.iter().map(|&c| cursors[c].clone()).collect();
        let response = source.get_bulk(&oids, 0, reps).await?;
        if response.is_empty() {
            return Err(SnmpError::Malformed(
                "empty GETBULK response during a walk".into(),
            ));
        }
        let mut done = vec![false; active.len()];
        for (i, vb) in response.into_iter().enumerate() {
            let slot = i % active.len();
            if done[slot] {
                continue;
            }
            let col = active[slot];
            if vb.value == SnmpValue::EndOfMibView || !vb.oid.starts_with(&columns[col]) {
                done[slot] = true;
                continue;
            }
            if vb.oid <= cursors[col] {
                return Err(SnmpError::Malformed(format!(
                    "walk went backwards or stood still at {vb}"
                )));
            }
            if results[col].len() >= MAX_ROWS {
                return Err(SnmpError::Malformed(format!(
                    "more than {MAX_ROWS} rows in one column"
                )));
            }
            cursors[col] = vb.oid.clone();
            results[col].push(vb);
        }
        active = active
            .iter()
            .zip(done)
            .filter(|(_, d)| !d)
            .map(|(c, _)| *c)
            .collect();
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snmp::source::BoxFuture;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// A MIB in memory answering GETBULK like an agent.
    struct Table {
        rows: BTreeMap<Vec<u32>, SnmpValue>,
        requests: Mutex<Vec<(usize, u32)>>,
    }

    impl SnmpSource for Table {
        fn get<'a>(
            &'a self,
            _oids: &'a [Vec<u32>],
        ) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
            Box::pin(async { Err(SnmpError::Agent("not used".into())) })
        }
        fn get_bulk<'a>(
            &'a self,
            oids: &'a [Vec<u32>],
            _non_repeaters: u32,
            reps: u32,
        ) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
            Box::pin(async move {
                self.requests.lock().unwrap().push((oids.len(), reps));
                let mut cursors = oids.to_vec();
                let mut out = Vec::new();
                for _ in 0..reps {
                    for c in cursors.iter_mut() {
                        let next = self
                            .rows
                            .range::<Vec<u32>, _>((
                                std::ops::Bound::Excluded(c.clone()),
                                std::ops::Bound::Unbounded,
                            ))
                            .next();
                        match next {
                            Some((o, v)) => {
                                *c = o.clone();
                                out.push(VarBind {
                                    oid: o.clone(),
                                    value: v.clone(),
                                });
                            }
                            None => out.push(VarBind {
                                oid: c.clone(),
                                value: SnmpValue::EndOfMibView,
                            }),
                        }
                    }
                }
                Ok(out)
            })
        }
        fn target(&self) -> String {
            "memory".into()
        }
    }

    #[tokio::test]
    async fn walks_three_columns_of_different_lengths() {
        let mut rows = BTreeMap::new();
        for i in 1..=25u32 {
            rows.insert(vec![1, 1, i], SnmpValue::Integer(i64::from(i)));
            rows.insert(
                vec![1, 2, i],
                SnmpValue::Octets(format!("p{i}").into_bytes()),
            );
        }
        rows.insert(vec![1, 3, 7], SnmpValue::Integer(7));
        rows.insert(vec![2, 1], SnmpValue::Integer(0));
        let t = Table {
            rows,
            requests: Mutex::new(Vec::new()),
        };
        let cols = vec![vec![1, 1], vec![1, 2], vec![1, 3]];
        let got = walk_columns(&t, &cols, 10).await.unwrap();
        assert_eq!(got[0].len(), 25);
        assert_eq!(got[1].len(), 25);
        assert_eq!(got[2].len(), 1);
        assert_eq!(got[1][24].value, SnmpValue::Octets(b"p25".to_vec()));
        // Never more than MAX_BULK_VARBINDS asked for in one request.
        for (n, reps) in t.requests.lock().unwrap().iter() {
            assert!(*n as u32 * reps <= MAX_BULK_VARBINDS);
        }
    }

    #[tokio::test]
    async fn a_walk_that_does_not_advance_is_an_error() {
        struct Stuck;
        impl SnmpSource for Stuck {
            fn get<'a>(
                &'a self,
                _o: &'a [Vec<u32>],
            ) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
                Box::pin(async { Ok(vec![]) })
            }
            fn get_bulk<'a>(
                &'a self,
                oids: &'a [Vec<u32>],
                _n: u32,
                _r: u32,
            ) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
                Box::pin(async move {
                    Ok(vec![VarBind {
                        oid: oids[0].clone(),
                        value: SnmpValue::Integer(1),
                    }])
                })
            }
            fn target(&self) -> String {
                "stuck".into()
            }
        }
        let err = walk_columns(&Stuck, &[vec![1, 1]], 10).await.unwrap_err();
        assert!(matches!(err, SnmpError::Malformed(_)), "{err:?}");
    }
}

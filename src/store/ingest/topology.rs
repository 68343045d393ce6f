//! Applying a topology in the writer: a series for every port and aggregate (labels
//! refreshed on reload), memberships (switch, site, product lines, customers), coverage
//! weights, and ports a sweep carries that the topology does not list.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, Transaction, params};

use super::{AggState, Ingest, PortMap, PortState, UPSERT_SERIES};
use crate::config::{PortKey, Topology};
use crate::store::entity::EntityKind;
use crate::store::error::{SqlContext, StoreError};

impl Ingest {
    /// Creates or relabels the series of every port and aggregate in the topology and
    /// rebuilds memberships. Series of entities no longer configured are kept (history).
    pub(crate) fn apply_topology(&mut self, topology: Arc<Topology>) -> Result<(), StoreError> {
        let mut conn = self.take_conn()?;
        let res = self.apply_topology_in(&mut conn, topology);
        self.conn = Some(conn);
        res
    }

    fn apply_topology_in(
        &mut self,
        conn: &mut Connection,
        topology: Arc<Topology>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx(&path, "starting a topology update")?;
        // The ports' states are rebuilt: their open 5-minute sums are written first.
        self.flush_open(&tx, &path)?;
        let now = jiff::Timestamp::now().as_second();
        let mut ports = PortMap::default();
        let mut aggs: Vec<AggState> = Vec::new();
        let mut agg_index: HashMap<(EntityKind, String), usize> = HashMap::new();
        {
            let mut upsert = tx
                .prepare(UPSERT_SERIES)
                .ctx(&path, "preparing the series upsert")?;
            let mut port_upsert = tx
                .prepare(UPSERT_SERIES)
                .ctx(&path, "preparing the series upsert")?;
            let mut agg = |kind: EntityKind,
                           name: &str,
                           site: Option<&str>,
                           product_line: Option<&str>,
                           customer: Option<&str>|
             -> Result<usize, StoreError> {
                if let Some(i) = agg_index.get(&(kind, name.to_string())) {
                    return Ok(*i);
                }
                let switch = (kind == EntityKind::Switch).then_some(name);
                let (id, _w, cap): (i64, f64, Option<i64>) = upsert
                    .query_row(
                        params![
                            kind.as_str(),
                            name,
                            site,
                            switch,
                            None::<&str>,
                            product_line,
                            customer,
                            None::<&str>,
                            now
                        ],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .ctx(&path, "writing an aggregate series")?;
                aggs.push(AggState {
                    series_id: id,
                    ports: Vec::new(),
                    total_weight: 0.0,
                    capacity_bps: cap.map(|c| c.max(0) as u64),
                });
                agg_index.insert((kind, name.to_string()), aggs.len() - 1);
                Ok(aggs.len() - 1)
            };
            for site in topology.sites.values() {
                agg(EntityKind::Site, &site.name, Some(&site.name), None, None)?;
            }
            for pl in topology.product_lines.values() {
                agg(
                    EntityKind::ProductLine,
                    &pl.name,
                    None,
                    Some(&pl.name),
                    None,
                )?;
            }
            for c in topology.customers.values() {
                agg(EntityKind::Customer, &c.id, None, None, Some(&c.id))?;
            }
            let mut pl_of: HashMap<&PortKey, Vec<&str>> = HashMap::new();
            for pl in topology.product_lines.values() {
                for k in &pl.ports {
                    pl_of.entry(k).or_default().push(&pl.name);
                }
            }
            let mut cust_of: HashMap<&PortKey, Vec<&str>> = HashMap::new();
            for c in topology.customers.values() {
                for k in &c.ports {
                    cust_of.entry(k).or_default().push(&c.id);
                }
            }
            for sw in &topology.switches {
                let sw_i = agg(EntityKind::Switch, &sw.name, Some(&sw.site), None, None)?;
                let site_i = agg(EntityKind::Site, &sw.site, Some(&sw.site), None, None)?;
                for p in &sw.ports {
                    let key = p.key();
                    let l = &p.labels;
                    let (id, weight, cap): (i64, f64, Option<i64>) = port_upsert
                        .query_row(
                            params![
                                EntityKind::Port.as_str(),
                                key.to_string(),
                                l.site,
                                l.switch,
                                l.port,
                                l.product_line,
                                l.customer,
                                l.role,
                                now
                            ],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                        )
                        .ctx(&path, "writing a port series")?;
                    let mut members = vec![sw_i, site_i];
                    let mut pls: Vec<&str> = pl_of.get(&key).cloned().unwrap_or_default();
                    pls.extend(l.product_line.as_deref());
                    for name in pls {
                        let i = agg(EntityKind::ProductLine, name, None, Some(name), None)?;
                        if !members.contains(&i) {
                            members.push(i);
                        }
                    }
                    let mut cs: Vec<&str> = cust_of.get(&key).cloned().unwrap_or_default();
                    cs.extend(l.customer.as_deref());
                    for name in cs {
                        let i = agg(EntityKind::Customer, name, None, None, Some(name))?;
                        if !members.contains(&i) {
                            members.push(i);
                        }
                    }
                    ports.insert(
                        key,
                        PortState {
                            series_id: id,
                            weight: if weight.is_finite() && weight >= 1.0 {
                                weight
                            } else {
                                1.0
                            },
                            members,
                            speed_bps: cap.map(|c| c.max(0) as u64),
                            last_ts: None,
                            open: Default::default(),
                        },
                    );
                }
            }
        }
        tx.commit().ctx(&path, "committing a topology update")?;
        // Held for the life of the topology: no room for growth (a doubling Vec of 9,600
        // ports has up to half of it empty).
        ports.states.shrink_to_fit();
        self.topology = topology;
        self.ports = ports;
        self.aggs = aggs;
        self.rebuild_grids();
        self.recompute_totals();
        Ok(())
    }

    pub(super) fn recompute_totals(&mut self) {
        for a in &mut self.aggs {
            a.ports.clear();
            a.total_weight = 0.0;
        }
        for p in self.ports.values() {
            for &i in &p.members {
                self.aggs[i].ports.push(p.series_id);
                self.aggs[i].total_weight += p.weight;
            }
        }
        for a in &mut self.aggs {
            a.ports.shrink_to_fit();
        }
    }

    /// A port of a sweep that the topology does not list (found by an alias pattern, or
    /// configured after the topology was loaded): stored as a port series of its own,
    /// member of no aggregate.
    pub(super) fn adhoc_port(
        &mut self,
        tx: &Transaction<'_>,
        switch: &str,
        port: &str,
    ) -> Result<(), StoreError> {
        let key = PortKey {
            switch: crate::intern::intern(switch),
            port: crate::intern::intern(port),
        };
        let site = self.topology.switch(switch).map(|s| s.site.clone());
        let (id, weight, cap): (i64, f64, Option<i64>) = tx
            .prepare_cached(
                "INSERT INTO series(kind, name, site, switch, port, created) \
                 VALUES ('port', ?1, ?2, ?3, ?4, ?5) ON CONFLICT(kind, name) DO UPDATE SET \
                 switch = excluded.switch RETURNING id, weight, capacity_bps",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![
                        key.to_string(),
                        site,
                        switch,
                        port,
                        jiff::Timestamp::now().as_second()
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .ctx(&self.path, "writing a port series")?;
        self.ports.insert(
            key,
            PortState {
                series_id: id,
                weight: weight.max(1.0),
                members: Vec::new(),
                speed_bps: cap.map(|c| c.max(0) as u64),
                last_ts: None,
                open: Default::default(),
            },
        );
        Ok(())
    }
}

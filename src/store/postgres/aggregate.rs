//! Aggregates and rollups on PostgreSQL: product lines, sites, switches and customers in 60 s
//! slots (`agg_slot`) and 5-minute, 1-hour and 1-day buckets (`rollup_5m`, `rollup_1h`,
//! `rollup_1d`), written by the sweep writer in the transaction that stores the samples.
//!
//! Several daemons write into the same tables, so a sample's share is added only by the
//! transaction that stored the sample: the sample insert returns the keys it stored (new
//! slots, or a gap replaced by a reading), and only those are added. An HA pair writing the
//! same slot, or a batch retried after a lost connection, adds nothing twice. Every tier is
//! added to directly (no sealing: PostgreSQL's upsert adds in place, and no daemon owns a
//! "seal mark" the others would have to agree on).
//!
//! Coverage: a configured member port's covered milliseconds count `1 / configured members`
//! of the aggregate (the same for every daemon, because each builds it from the whole
//! configured topology), where SQLite weighs ports by their usual traffic. A port attributed
//! by an ifAlias pattern is known only to the daemon that polls its switch, so counting it
//! would make shards disagree on the weights (and an aggregate's coverage pass 100 %): it
//! adds its traffic with no weight of its own (its switch's configured ports, polled in the
//! same sweep, carry the coverage), except in an aggregate with no configured member, where
//! its attributed ports count equally. Port series themselves have no rollups here: they are
//! read from the raw samples (`reader.rs`), within the raw retention.

use std::collections::HashMap;

use postgres::Transaction;

use super::super::SLOT_SECS;
use super::super::entity::EntityKind;
use super::super::error::StoreError;
use super::super::split::{share, split};
use super::conn::{Target, pg_err};
use crate::config::{PortKey, Topology};

const SLOT_MS: i64 = SLOT_SECS * 1000;

/// The tables written, with the length of their buckets in ms. Bucket columns hold
/// `unix ms / length`.
pub(crate) const TABLES: [(&str, i64); 4] = [
    ("agg_slot", SLOT_MS),
    ("rollup_5m", 300_000),
    ("rollup_1h", 3_600_000),
    ("rollup_1d", 86_400_000),
];

/// Sums of one bucket of one aggregate.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sums {
    pub(crate) in_octets: i64,
    pub(crate) out_octets: i64,
    pub(crate) in_packets: i64,
    pub(crate) out_packets: i64,
    pub(crate) covered_ms: f64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.in_octets += o.in_octets;
        self.out_octets += o.out_octets;
        self.in_packets += o.in_packets;
        self.out_packets += o.out_packets;
        self.covered_ms += o.covered_ms;
    }
}

/// What one stored sample brings: `[start_ms, end_ms)` and its counts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Piece {
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) in_octets: u64,
    pub(crate) out_octets: u64,
    pub(crate) in_packets: u64,
    pub(crate) out_packets: u64,
}

/// One batch's additions, per table, keyed by (series id, bucket).
#[derive(Default)]
pub(crate) struct AggBatch {
    tables: [HashMap<(i64, i64), Sums>; 4],
}

impl AggBatch {
    /// Whether nothing was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.tables.iter().all(HashMap::is_empty)
    }

    /// Adds `piece` into aggregate `agg` with coverage weight `frac`.
    pub(crate) fn add(&mut self, agg: i64, frac: f64, p: &Piece) {
        let dt = p.end_ms - p.start_ms;
        if dt <= 0 {
            return;
        }
        for (t, (_, len)) in TABLES.iter().enumerate() {
            let mut before = 0;
            for (b, ov) in split(p.start_ms, p.end_ms, *len) {
                let s = Sums {
                    in_octets: i64::try_from(share(p.in_octets, before, ov, dt)).unwrap_or(0),
                    out_octets: i64::try_from(share(p.out_octets, before, ov, dt)).unwrap_or(0),
                    in_packets: i64::try_from(share(p.in_packets, before, ov, dt)).unwrap_or(0),
                    out_packets: i64::try_from(share(p.out_packets, before, ov, dt)).unwrap_or(0),
                    covered_ms: ov as f64 * frac,
                };
                before += ov;
                self.tables[t].entry((agg, b)).or_default().add(&s);
            }
        }
    }

    /// Adds a flow-measured 60 s slot (its coverage as measured) into every tier.
    pub(crate) fn add_slot(&mut self, agg: i64, slot_start_s: i64, s: &Sums) {
        let start_ms = slot_start_s * 1000;
        for (t, (_, len)) in TABLES.iter().enumerate() {
            self.tables[t]
                .entry((agg, start_ms.div_euclid(*len)))
                .or_default()
                .add(s);
        }
    }

    /// Adds everything into the tables (upserts that add in place), in the caller's
    /// transaction.
    pub(crate) fn write(
        &self,
        tx: &mut Transaction<'_>,
        target: &Target,
    ) -> Result<(), StoreError> {
        for ((table, _), rows) in TABLES.iter().zip(&self.tables) {
            if rows.is_empty() {
                continue;
            }
            let mut keys: Vec<&(i64, i64)> = rows.keys().collect();
            keys.sort_unstable();
            let col =
                |f: &dyn Fn(&Sums) -> i64| keys.iter().map(|k| f(&rows[*k])).collect::<Vec<i64>>();
            let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
            let buckets: Vec<i64> = keys.iter().map(|k| k.1).collect();
            let (ino, outo) = (col(&|s| s.in_octets), col(&|s| s.out_octets));
            let (inp, outp) = (col(&|s| s.in_packets), col(&|s| s.out_packets));
            let covered: Vec<f64> = keys.iter().map(|k| rows[*k].covered_ms).collect();
            tx.execute(
                &format!(
                    "INSERT INTO {table} AS t (series_id, bucket, in_octets, out_octets, \
                       in_packets, out_packets, covered_ms) \
                     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], \
                       $4::bigint[], $5::bigint[], $6::bigint[], $7::float8[]) \
                     ON CONFLICT (series_id, bucket) DO UPDATE SET \
                       in_octets = t.in_octets + EXCLUDED.in_octets, \
                       out_octets = t.out_octets + EXCLUDED.out_octets, \
                       in_packets = t.in_packets + EXCLUDED.in_packets, \
                       out_packets = t.out_packets + EXCLUDED.out_packets, \
                       covered_ms = t.covered_ms + EXCLUDED.covered_ms"
                ),
                &[&ids, &buckets, &ino, &outo, &inp, &outp, &covered],
            )
            .map_err(pg_err(target, "adding into aggregates and rollups"))?;
        }
        Ok(())
    }
}

/// Which aggregates each configured port belongs to, with its coverage weight in each.
#[derive(Default)]
pub(crate) struct Members {
    of_port: HashMap<i64, Vec<(i64, f64)>>,
}

impl Members {
    /// The aggregates of a port series (empty for ports no topology lists).
    pub(crate) fn of(&self, port: i64) -> &[(i64, f64)] {
        self.of_port.get(&port).map_or(&[], Vec::as_slice)
    }
}

/// An aggregate series to create: kind, name, and its labels (site, switch, product line,
/// customer), as SQLite writes them.
type AggSeries = (EntityKind, String, [Option<String>; 4]);

/// Creates the aggregate series of `topology`, records which ports each has
/// (`series_member`, for capacities) and returns the memberships. `port_id` gives a
/// configured port's series id.
pub(crate) fn apply(
    tx: &mut Transaction<'_>,
    target: &Target,
    topology: &Topology,
    port_id: &dyn Fn(&PortKey) -> Option<i64>,
) -> Result<Members, StoreError> {
    let mut aggs: Vec<AggSeries> = Vec::new();
    let mut index: HashMap<(EntityKind, String), usize> = HashMap::new();
    let mut agg = |kind: EntityKind, name: &str, labels: [Option<&str>; 4]| -> usize {
        *index.entry((kind, name.to_string())).or_insert_with(|| {
            aggs.push((
                kind,
                name.to_string(),
                labels.map(|l| l.map(str::to_string)),
            ));
            aggs.len() - 1
        })
    };
    for site in topology.sites.values() {
        agg(
            EntityKind::Site,
            &site.name,
            [Some(&site.name), None, None, None],
        );
    }
    for pl in topology.product_lines.values() {
        agg(
            EntityKind::ProductLine,
            &pl.name,
            [None, None, Some(&pl.name), None],
        );
    }
    for c in topology.customers.values() {
        agg(EntityKind::Customer, &c.id, [None, None, None, Some(&c.id)]);
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
    // (port series id, aggregate index, attributed by an ifAlias pattern)
    let mut pairs: Vec<(i64, usize, bool)> = Vec::new();
    for sw in &topology.switches {
        let sw_i = agg(
            EntityKind::Switch,
            &sw.name,
            [Some(&sw.site), Some(&sw.name), None, None],
        );
        let site_i = agg(
            EntityKind::Site,
            &sw.site,
            [Some(&sw.site), None, None, None],
        );
        for p in &sw.ports {
            let key = p.key();
            let Some(pid) = port_id(&key) else { continue };
            let mut members = vec![sw_i, site_i];
            let mut pls: Vec<&str> = pl_of.get(&key).cloned().unwrap_or_default();
            pls.extend(p.labels.product_line.as_deref());
            for name in pls {
                members.push(agg(
                    EntityKind::ProductLine,
                    name,
                    [None, None, Some(name), None],
                ));
            }
            let mut cs: Vec<&str> = cust_of.get(&key).cloned().unwrap_or_default();
            cs.extend(p.labels.customer.as_deref());
            for name in cs {
                members.push(agg(
                    EntityKind::Customer,
                    name,
                    [None, None, None, Some(name)],
                ));
            }
            members.sort_unstable();
            members.dedup();
            pairs.extend(members.into_iter().map(|m| (pid, m, p.attributed)));
        }
    }
    let kinds: Vec<&str> = aggs.iter().map(|a| a.0.as_str()).collect();
    let names: Vec<&str> = aggs.iter().map(|a| a.1.as_str()).collect();
    let label = |i: usize| aggs.iter().map(|a| a.2[i].as_deref()).collect::<Vec<_>>();
    let now = jiff::Timestamp::now().as_second();
    let rows = tx
        .query(
            "INSERT INTO series (kind, name, site, switch, product_line, customer, created) \
             SELECT k, n, si, sw, pl, cu, $7 FROM unnest($1::text[], $2::text[], $3::text[], \
               $4::text[], $5::text[], $6::text[]) AS t(k, n, si, sw, pl, cu) \
             ON CONFLICT (kind, name) DO UPDATE SET site = EXCLUDED.site, \
               switch = EXCLUDED.switch, product_line = EXCLUDED.product_line, \
               customer = EXCLUDED.customer \
             RETURNING id, kind, name",
            &[
                &kinds,
                &names,
                &label(0),
                &label(1),
                &label(2),
                &label(3),
                &now,
            ],
        )
        .map_err(pg_err(target, "writing aggregate series"))?;
    let mut ids: HashMap<(String, String), i64> = HashMap::new();
    for r in rows {
        let e = pg_err(target, "reading aggregate series");
        ids.insert(
            (r.try_get(1).map_err(&e)?, r.try_get(2).map_err(&e)?),
            r.try_get(0).map_err(&e)?,
        );
    }
    let agg_ids: Vec<i64> = aggs
        .iter()
        .map(|a| {
            ids.get(&(a.0.as_str().to_string(), a.1.clone()))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    // Coverage weights: the configured members of an aggregate count equally; the attributed
    // ones (known only to the daemon polling their switch, so another shard would count a
    // different number) count only in an aggregate that has no configured member.
    let (mut configured, mut attributed) = (vec![0usize; aggs.len()], vec![0usize; aggs.len()]);
    for (_, a, by_alias) in &pairs {
        if *by_alias {
            attributed[*a] += 1;
        } else {
            configured[*a] += 1;
        }
    }
    let mut members = Members::default();
    for (pid, a, by_alias) in &pairs {
        let weight = match (configured[*a], *by_alias) {
            (0, _) => 1.0 / attributed[*a].max(1) as f64,
            (_, true) => 0.0,
            (n, false) => 1.0 / n as f64,
        };
        members
            .of_port
            .entry(*pid)
            .or_default()
            .push((agg_ids[*a], weight));
    }
    let (m_agg, m_port): (Vec<i64>, Vec<i64>) =
        pairs.iter().map(|(p, a, _)| (agg_ids[*a], *p)).unzip();
    tx.execute(
        "DELETE FROM series_member WHERE agg_id = ANY($1)",
        &[&agg_ids],
    )
    .map_err(pg_err(target, "writing aggregate members"))?;
    tx.execute(
        "INSERT INTO series_member (agg_id, port_id) \
         SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING",
        &[&m_agg, &m_port],
    )
    .map_err(pg_err(target, "writing aggregate members"))?;
    Ok(members)
}

//! The PostgreSQL schema and its versioned migrations (table `bandwatch_schema`). Two daemons
//! starting together migrate once: the whole run holds a transaction-scoped advisory lock and
//! re-reads the version inside it. A schema newer than this build's is refused untouched.

use postgres::Client;

use super::super::error::StoreError;
use super::conn::{Target, pg_err};

/// Migrations in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    MIGRATION_1,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_5,
];

/// The schema version this build writes.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Key of the advisory lock held while migrating ("bandwatch" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x6261_6e64_7761_7463;

/// Version 5: the flow minutes stored per customer or product line and shard (see
/// `store::flows::FlowSlot::shard`): the second daemon of an HA pair adds nothing twice.
const MIGRATION_5: &str = r#"
CREATE TABLE flow_claim(
    series_id bigint NOT NULL,
    slot      bigint NOT NULL,
    shard     text   NOT NULL,
    PRIMARY KEY (series_id, slot, shard)
);
CREATE INDEX flow_claim_slot ON flow_claim(slot);
"#;

/// Version 4: per alert, route and family of notices, the last one queued (see
/// `store::once`): the same notice from the other daemon of an HA pair is not queued again.
const MIGRATION_4: &str = r#"
CREATE TABLE notify_once(
    rule    text    NOT NULL,
    entity  text    NOT NULL,
    route   text    NOT NULL,
    family  text    NOT NULL,
    open    boolean NOT NULL,
    started bigint  NOT NULL,
    at      bigint  NOT NULL,
    PRIMARY KEY (rule, entity, route, family)
);
CREATE INDEX alert_history_alert ON alert_history(rule, entity, ts);
"#;

/// Version 3: aggregates in 60 s slots and the rollups of aggregates (bucket = unix ms /
/// bucket length; covered_ms weighted by the port's share of the aggregate, see
/// `aggregate.rs`), which ports each aggregate has, and imported usage records.
const MIGRATION_3: &str = r#"
CREATE TABLE series_member(
    agg_id  bigint NOT NULL,
    port_id bigint NOT NULL,
    PRIMARY KEY (agg_id, port_id)
);
CREATE TABLE agg_slot(
    series_id   bigint NOT NULL,
    bucket      bigint NOT NULL,
    in_octets   bigint NOT NULL,
    out_octets  bigint NOT NULL,
    in_packets  bigint NOT NULL,
    out_packets bigint NOT NULL,
    covered_ms  double precision NOT NULL,
    PRIMARY KEY (series_id, bucket)
);
CREATE TABLE rollup_5m (LIKE agg_slot INCLUDING ALL);
CREATE TABLE rollup_1h (LIKE agg_slot INCLUDING ALL);
CREATE TABLE rollup_1d (LIKE agg_slot INCLUDING ALL);
CREATE TABLE usage_record(
    customer text   NOT NULL,
    start_s  bigint NOT NULL,
    end_s    bigint NOT NULL,
    bytes    bigint NOT NULL,
    source   text   NOT NULL,
    written  bigint NOT NULL,
    PRIMARY KEY (customer, source, start_s, end_s)
);
"#;

/// Version 2: alert state and history, silences, and the outbox's notice queue, messages and
/// delivery record (the same tables as SQLite's, so `AlertStore::commit` queues the notices it
/// owes in the same transaction).
const MIGRATION_2: &str = r#"
CREATE TABLE alert_state(
    rule          text NOT NULL,
    entity        text NOT NULL,
    state         text NOT NULL CHECK (state IN ('inactive','pending','firing','resolved')),
    since         bigint NOT NULL,
    last_eval     bigint NOT NULL,
    last_notified bigint,
    value         double precision,
    labels        text,
    data          text,
    PRIMARY KEY (rule, entity)
);
CREATE TABLE alert_history(
    id         bigserial PRIMARY KEY,
    rule       text NOT NULL,
    entity     text NOT NULL,
    from_state text NOT NULL,
    to_state   text NOT NULL,
    ts         bigint NOT NULL,
    value      double precision,
    message    text
);
CREATE INDEX alert_history_ts ON alert_history(ts);
CREATE TABLE silence(
    id       bigserial PRIMARY KEY,
    rule     text,
    matchers text NOT NULL,
    starts   bigint NOT NULL,
    ends     bigint NOT NULL,
    comment  text,
    created  bigint NOT NULL
);
CREATE TABLE notify_queue(
    id          bigserial PRIMARY KEY,
    route       text   NOT NULL,
    notice      text   NOT NULL,
    received_ms bigint NOT NULL
);
CREATE INDEX notify_queue_route ON notify_queue(route, id);
CREATE TABLE notify_outbox(
    id              bigserial PRIMARY KEY,
    route           text   NOT NULL,
    envelope_from   text   NOT NULL,
    envelope_to     text   NOT NULL,
    subject         text   NOT NULL,
    body            bytea  NOT NULL,
    alerts          text   NOT NULL,
    state           text   NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_ms bigint NOT NULL,
    created_ms      bigint NOT NULL,
    sent_ms         bigint,
    last_error      text,
    claim_token     bigint,
    claimed_ms      bigint
);
CREATE INDEX notify_outbox_due ON notify_outbox(state, next_attempt_ms);
CREATE TABLE notify_delivered(
    rule             text NOT NULL,
    entity           text NOT NULL,
    route            text NOT NULL,
    firing_sent_ms   bigint,
    resolved_sent_ms bigint,
    PRIMARY KEY (rule, entity, route)
);
"#;

/// Version 1: series, raw port samples partitioned by day, the store's own state, leases.
const MIGRATION_1: &str = r#"
-- Key/value state of the store itself (newest_ms: the newest sweep's time, unix ms).
CREATE TABLE meta(
    key   text PRIMARY KEY,
    value bigint NOT NULL
);

-- One row per entity, as in SQLite. `name` is `SWITCH/PORT` for ports.
CREATE TABLE series(
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('port','product_line','site','switch','customer')),
    name         text NOT NULL,
    site         text,
    switch       text,
    port         text,
    product_line text,
    customer     text,
    role         text,
    weight       double precision NOT NULL DEFAULT 1.0,
    capacity_bps bigint,
    created      bigint NOT NULL,
    UNIQUE (kind, name)
);
CREATE INDEX series_switch ON series(switch) WHERE kind = 'port';

-- Raw port samples, one row per port and poll slot. slot_ms: the start of the poll slot the
-- response (ts, unix seconds) belongs to, on the switch's grid `k * interval + phase` (the
-- scheduler's, the same in every daemon), in unix milliseconds: the key that makes two
-- daemons polling one switch store each slot once. A row without dt_ms is a gap; flag says
-- why (see store::flag). Partitioned by day on slot_ms: retention drops partitions.
CREATE TABLE port_sample(
    series_id   bigint   NOT NULL,
    slot_ms     bigint   NOT NULL,
    ts          bigint   NOT NULL,
    dt_ms       bigint,
    in_octets   bigint,
    out_octets  bigint,
    in_packets  bigint,
    out_packets bigint,
    oper        smallint,
    flag        smallint NOT NULL,
    speed_bps   bigint,
    PRIMARY KEY (series_id, slot_ms)
) PARTITION BY RANGE (slot_ms);

-- Leases for work done by one daemon at a time (see store::lease): expiry by the
-- database's clock; the token grows with every change of holder.
CREATE TABLE lease(
    name     text PRIMARY KEY,
    holder   text NOT NULL,
    token    bigint NOT NULL,
    expires  timestamptz NOT NULL,
    acquired timestamptz NOT NULL
);
"#;

/// Applies the missing migrations in one transaction under the migration lock.
pub(crate) fn migrate(client: &mut Client, target: &Target) -> Result<(), StoreError> {
    let e = |c| pg_err(target, c);
    let mut tx = client.transaction().map_err(e("starting a migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(e("waiting for the migration lock"))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS bandwatch_schema(version bigint NOT NULL)")
        .map_err(e("creating the schema version table"))?;
    let found: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM bandwatch_schema",
            &[],
        )
        .and_then(|r| r.try_get(0))
        .map_err(e("reading the schema version"))?;
    if found > PG_SCHEMA_VERSION {
        return Err(StoreError::PostgresTooNew {
            target: target.to_string(),
            found,
            supported: PG_SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= found {
            continue;
        }
        tx.batch_execute(sql)
            .map_err(e("applying a schema migration"))?;
        tx.execute("DELETE FROM bandwatch_schema", &[])
            .map_err(e("recording the schema version"))?;
        tx.execute(
            "INSERT INTO bandwatch_schema(version) VALUES ($1)",
            &[&version],
        )
        .map_err(e("recording the schema version"))?;
        tracing::info!(database = %target, version, "database schema migrated");
    }
    tx.commit().map_err(e("committing the migrations"))
}

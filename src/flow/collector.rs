//! The flow collector: one UDP listener task per `[flow] listen` address and a flush task.
//!
//! Each datagram is checked against the exporters of the model in force (by source IP; an
//! unknown address is counted and logged once, never decoded), decoded, and its records
//! attributed into the open minutes. Once a minute has ended (plus a short grace), its
//! customer slots go to the store. A reload puts a new model in force through the model
//! source: new exporters and prefixes apply from the next datagram, without restarting.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::FlowRecord;
use super::aggregate::{Attribution, Minutes};
use super::decode::{Decoder, Drop};
use super::evidence::Evidence;
use super::metrics::FlowMetrics;
use super::table::{FlowModel, canonical};
use crate::store::FlowSink;

/// Where the collector takes the model in force from (the daemon reads its runtime model).
pub type ModelSource = Arc<dyn Fn() -> Arc<FlowModel> + Send + Sync>;

/// How long after a minute's end its slots are handed over (datagrams in flight).
const GRACE_MS: i64 = 2_000;
/// Unknown exporter addresses remembered for "logged once".
const MAX_WARNED: usize = 1024;
/// The largest datagram read (UDP's limit).
const MAX_DATAGRAM: usize = 65_535;

struct State {
    decoder: Decoder,
    minutes: Minutes,
    warned: HashSet<IpAddr>,
    records: Vec<FlowRecord>,
}

/// A running collector.
pub struct Collector {
    metrics: Arc<FlowMetrics>,
    addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
    flusher: Option<JoinHandle<()>>,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Collector {
    /// Binds every `listen` address and starts receiving. Fails (naming the address) when
    /// one cannot be bound.
    pub async fn start(
        listen: &[SocketAddr],
        models: ModelSource,
        sink: Arc<dyn FlowSink>,
        evidence: Arc<Evidence>,
    ) -> std::io::Result<Collector> {
        let metrics = Arc::new(FlowMetrics::default());
        let state = Arc::new(Mutex::new(State {
            decoder: Decoder::new(),
            minutes: Minutes::new(now_ms()),
            warned: HashSet::new(),
            records: Vec::new(),
        }));
        let (stop, stop_rx) = watch::channel(false);
        let mut sockets = Vec::new();
        for a in listen {
            let s = bind(*a).map_err(|e| {
                std::io::Error::new(e.kind(), format!("flow listener {a}: cannot bind: {e}"))
            })?;
            sockets.push(s);
        }
        let mut addrs = Vec::new();
        let mut listeners = Vec::new();
        for s in sockets {
            let local = s.local_addr()?;
            addrs.push(local);
            tracing::info!(listen = %local, "flow collector listening (NetFlow v9, IPFIX)");
            listeners.push(tokio::spawn(listen_loop(
                s,
                state.clone(),
                models.clone(),
                metrics.clone(),
                evidence.clone(),
                stop_rx.clone(),
            )));
        }
        let flusher = tokio::spawn(flush_loop(state, models, sink, metrics.clone(), stop_rx));
        Ok(Collector {
            metrics,
            addrs,
            stop,
            listeners,
            flusher: Some(flusher),
        })
    }

    /// The bound addresses (a `:0` port resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The collector's counters.
    pub fn metrics(&self) -> Arc<FlowMetrics> {
        self.metrics.clone()
    }

    /// Stops the listeners and hands the open minutes (the current one covered up to now)
    /// to the store.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for l in self.listeners.drain(..) {
            let _ = l.await;
        }
        if let Some(f) = self.flusher.take() {
            let _ = f.await;
        }
    }
}

/// Receive buffer asked for each listener: exporters send in bursts (a template refresh, a
/// sweep of expired flows); the kernel caps it at `net.core.rmem_max`.
const RECV_BUFFER: usize = 8 << 20;

/// A non-blocking UDP socket on `addr` with a large receive buffer.
fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if let Err(e) = s.set_recv_buffer_size(RECV_BUFFER) {
        tracing::debug!(error = %e, "flow listener: the receive buffer stays at the default");
    }
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

async fn listen_loop(
    socket: UdpSocket,
    state: Arc<Mutex<State>>,
    models: ModelSource,
    metrics: Arc<FlowMetrics>,
    evidence: Arc<Evidence>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, peer)) => {
                    let model = models();
                    let mut st = match state.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    let now = now_ms();
                    if let Some(switch) = handle(&mut st, &model, &metrics, peer, &buf[..n], now) {
                        evidence.record(&switch, now, &st.records);
                    }
                }
                Err(e) => {
                    // ICMP errors surface here on some systems; the socket stays usable.
                    tracing::debug!(error = %e, "flow listener receive error");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
}

/// One datagram: exporter check, decode, attribution, counters. Returns the exporter's
/// switch when records were decoded (they are in `st.records`).
fn handle(
    st: &mut State,
    model: &FlowModel,
    metrics: &FlowMetrics,
    peer: SocketAddr,
    data: &[u8],
    now: i64,
) -> Option<String> {
    let ip = canonical(peer.ip());
    let Some(exporter) = model.exporter(ip) else {
        FlowMetrics::add(&metrics.datagrams_unknown_exporter, 1);
        if st.warned.len() < MAX_WARNED && st.warned.insert(ip) {
            tracing::warn!(peer = %ip, "flow datagram from an address that is no configured exporter: dropped (logged once per address)");
        }
        return None;
    };
    let State {
        decoder,
        minutes,
        records,
        ..
    } = st;
    records.clear();
    match decoder.decode(ip, data, u64::from(exporter.sampling), records) {
        Ok(d) => {
            FlowMetrics::add(&metrics.datagrams_ok, 1);
            FlowMetrics::add(&metrics.unknown_template_sets, d.unknown_template_sets);
            FlowMetrics::add(&metrics.records_absurd_sampling, d.absurd_sampling);
            FlowMetrics::add(&metrics.records_skipped, d.skipped);
            minutes.seen(now, exporter.index);
            for r in records.iter() {
                match minutes.add(now, model, r) {
                    Attribution::Customer => FlowMetrics::add(&metrics.records_attributed, 1),
                    Attribution::None => FlowMetrics::add(&metrics.records_unattributed, 1),
                }
            }
            Some(exporter.switch.clone())
        }
        Err(Drop::Malformed) => {
            FlowMetrics::add(&metrics.datagrams_malformed, 1);
            tracing::debug!(exporter = %exporter.switch, peer = %ip, len = data.len(), "malformed flow datagram dropped");
            None
        }
        Err(Drop::UnsupportedVersion(v)) => {
            FlowMetrics::add(&metrics.datagrams_unsupported, 1);
            tracing::debug!(exporter = %exporter.switch, peer = %ip, version = v, "flow datagram of an unsupported version dropped");
            None
        }
    }
}

async fn flush_loop(
    state: Arc<Mutex<State>>,
    models: ModelSource,
    sink: Arc<dyn FlowSink>,
    metrics: Arc<FlowMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let last = tokio::select! {
            _ = stop.changed() => true,
            _ = tick.tick() => false,
        };
        let model = models();
        let now = now_ms();
        let slots = {
            let mut st = match state.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            st.minutes.take_due(now, GRACE_MS, &model, last)
        };
        metrics.usage.record(now, GRACE_MS, &model, &slots);
        if !slots.is_empty() {
            let n = slots.len() as u64;
            let sink = sink.clone();
            match tokio::task::spawn_blocking(move || sink.submit_flows(slots)).await {
                Ok(Ok(())) => FlowMetrics::add(&metrics.slots_written, n),
                Ok(Err(e)) => {
                    FlowMetrics::add(&metrics.store_errors, 1);
                    tracing::error!(error = %e, slots = n, "flow minutes not stored");
                }
                Err(e) => {
                    FlowMetrics::add(&metrics.store_errors, 1);
                    tracing::error!(error = %e, "flow store task failed");
                }
            }
        }
        if last {
            return;
        }
    }
}

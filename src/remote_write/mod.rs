//! Prometheus remote write (spec 1.0) of the port, aggregate, switch and alert series to any
//! receiver (VictoriaMetrics, Mimir, Thanos, Prometheus with its receiver on).
//!
//! Per `[[remote_write]]` entry one worker with two tasks:
//! - the *collector* takes, every `interval`, the live view the sweep pipeline keeps (after
//!   each sweep has gone to the store) and the alert source, writes the chosen families with
//!   `/metrics`'s own code ([`collect`]), cuts them into requests of `max_samples_per_send`,
//!   encodes and compresses each ([`wire`]) and appends it to the receiver's on-disk queue
//!   ([`queue`], under `data_dir/remote_write/NAME/`);
//! - the *sender* POSTs the oldest queued request ([`client`]) until it is taken (2xx) or
//!   refused for good (4xx but 429, counted), backing off from `min_backoff` to
//!   `max_backoff` while the receiver fails (5xx, 429, no connection), so an outage loses
//!   nothing within `queue.max_samples`; beyond it the oldest requests are dropped, counted.
//!
//! A reload diffs the entries by name: an unchanged one keeps its worker, a changed one is
//! restarted on the same queue, a removed one stops (its queue stays on disk).

pub mod client;
pub mod collect;
pub mod metrics;
pub mod queue;
pub mod wire;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::config::remote_write::RemoteWrite;
use crate::http::{LiveView, MetricsSource};
pub use metrics::{RemoteWriteMetrics, TargetMetrics};
use queue::DiskQueue;

/// The remote write stage: one worker per configured receiver.
pub struct RemoteWriter {
    live: LiveView,
    sources: Arc<Vec<Arc<dyn MetricsSource>>>,
    root: PathBuf,
    metrics: Arc<RemoteWriteMetrics>,
    workers: BTreeMap<String, Worker>,
}

struct Worker {
    config: RemoteWrite,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RemoteWriter {
    /// A stage with no receiver yet, reading `live` and `sources` (the alert source), with
    /// its queues under `data_dir/remote_write/` and its counters in `metrics`.
    pub fn new(
        live: LiveView,
        sources: Vec<Arc<dyn MetricsSource>>,
        data_dir: &Path,
        metrics: Arc<RemoteWriteMetrics>,
    ) -> RemoteWriter {
        RemoteWriter {
            live,
            sources: Arc::new(sources),
            root: data_dir.join("remote_write"),
            metrics,
            workers: BTreeMap::new(),
        }
    }

    /// Runs exactly the receivers of `targets`: unchanged ones keep running, changed ones
    /// restart on their queue, new ones start, removed ones stop. Returns what could not be
    /// started (a queue folder that cannot be opened), each naming the receiver and reason.
    pub async fn apply(&mut self, targets: &[RemoteWrite]) -> Vec<String> {
        let mut errors = Vec::new();
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        let gone: Vec<String> = self
            .workers
            .keys()
            .filter(|k| !names.contains(&k.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(w) = self.workers.remove(&name) {
                info!(remote = %name, "remote write stopped (removed from the configuration)");
                w.stop().await;
            }
        }
        for t in targets {
            if let Some(w) = self.workers.get(&t.name) {
                if w.config == *t {
                    continue;
                }
                if let Some(w) = self.workers.remove(&t.name) {
                    w.stop().await;
                }
            }
            match self.start_worker(t) {
                Ok(w) => {
                    info!(remote = %t.name, "remote write running");
                    self.workers.insert(t.name.clone(), w);
                }
                Err(e) => {
                    error!("{e}");
                    errors.push(e);
                }
            }
        }
        self.metrics.retain(&names);
        errors
    }

    /// Stops every worker; what is queued stays on disk for the next start.
    pub async fn stop(self) {
        for (_, w) in self.workers {
            w.stop().await;
        }
    }

    fn start_worker(&self, t: &RemoteWrite) -> Result<Worker, String> {
        let dir = self.root.join(&t.name);
        let (q, dropped) = DiskQueue::open(&dir, t.queue.max_samples).map_err(|e| {
            format!(
                "remote write {}: cannot open its queue {}: {e}",
                t.name,
                dir.display()
            )
        })?;
        let client = client::Client::new(t)?;
        let m = self.metrics.target(&t.name);
        TargetMetrics::add(&m.dropped, dropped);
        m.queued
            .store(q.samples(), std::sync::atomic::Ordering::Relaxed);
        m.max_samples
            .store(t.queue.max_samples, std::sync::atomic::Ordering::Relaxed);
        if !q.is_empty() {
            info!(remote = %t.name, samples = q.samples(), "remote write queue found on disk");
        }
        let q = Arc::new(Mutex::new(q));
        let wake = Arc::new(Notify::new());
        let (stop, stop_rx) = watch::channel(false);
        let collector = tokio::spawn(collect_loop(
            t.clone(),
            self.live.clone(),
            self.sources.clone(),
            q.clone(),
            wake.clone(),
            m.clone(),
            stop_rx.clone(),
        ));
        let sender = tokio::spawn(send_loop(t.clone(), client, q, wake, m, stop_rx));
        Ok(Worker {
            config: t.clone(),
            stop,
            tasks: vec![collector, sender],
        })
    }
}

impl Worker {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let grace = self.config.timeout.std() + std::time::Duration::from_secs(2);
        for t in self.tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout(grace, t).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Appends one collection's requests to the queue, each compressed. Returns the samples
/// queued and those dropped for room.
pub fn enqueue(
    queue: &Mutex<DiskQueue>,
    chunks: Vec<collect::Chunk>,
) -> Result<(u64, u64), String> {
    let (mut queued, mut dropped) = (0u64, 0u64);
    for chunk in chunks {
        let body = wire::compress(&chunk.request).map_err(|e| format!("compressing: {e}"))?;
        let mut q = queue.lock().unwrap_or_else(PoisonError::into_inner);
        dropped += q
            .push(&body, chunk.samples)
            .map_err(|e| format!("writing the queue: {e}"))?;
        queued += chunk.samples;
    }
    Ok((queued, dropped))
}

async fn collect_loop(
    t: RemoteWrite,
    live: LiveView,
    sources: Arc<Vec<Arc<dyn MetricsSource>>>,
    queue: Arc<Mutex<DiskQueue>>,
    wake: Arc<Notify>,
    m: Arc<TargetMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let period = t.interval.std();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut collector = Some(collect::Collector::new(&t.families, &t.external_labels));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let at_ms = jiff::Timestamp::now().as_millisecond();
        let snap = live.snapshot();
        let (sources, queue2) = (sources.clone(), queue.clone());
        let per_send = t.queue.max_samples_per_send;
        let Some(mut c) = collector.take() else {
            return;
        };
        let done = tokio::task::spawn_blocking(move || {
            let chunks = c.collect(&snap, &sources, at_ms, per_send);
            (enqueue(&queue2, chunks), c)
        })
        .await;
        let done = match done {
            Ok((r, c)) => {
                collector = Some(c);
                Ok(r)
            }
            Err(e) => {
                // The collection panicked: start again with an empty label cache.
                collector = Some(collect::Collector::new(&t.families, &t.external_labels));
                Err(e)
            }
        };
        match done {
            Ok(Ok((queued, dropped))) => {
                if dropped > 0 {
                    TargetMetrics::add(&m.dropped, dropped);
                    warn!(
                        remote = %t.name,
                        dropped,
                        "remote write queue full: the oldest samples were dropped"
                    );
                }
                debug!(remote = %t.name, samples = queued, "remote write collected");
            }
            Ok(Err(e)) => error!(remote = %t.name, "remote write: {e}"),
            Err(e) => error!(remote = %t.name, "remote write collection failed: {e}"),
        }
        let n = queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .samples();
        m.queued.store(n, std::sync::atomic::Ordering::Relaxed);
        wake.notify_one();
    }
}

async fn send_loop(
    t: RemoteWrite,
    mut client: client::Client,
    queue: Arc<Mutex<DiskQueue>>,
    wake: Arc<Notify>,
    m: Arc<TargetMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    use std::sync::atomic::Ordering;
    let mut backoff = t.queue.min_backoff.std();
    let mut failing = 0u64;
    loop {
        if *stop.borrow() {
            return;
        }
        let head = {
            let q = queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.front().map(|s| (s, q.read(s)))
        };
        let Some((seg, body)) = head else {
            tokio::select! {
                _ = wake.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                // Deleted for room meanwhile, or unreadable: not sendable either way.
                let mut q = queue.lock().unwrap_or_else(PoisonError::into_inner);
                if q.remove(seg) {
                    warn!(remote = %t.name, "remote write: unreadable queue segment dropped: {e}");
                    TargetMetrics::add(&m.dropped, seg.samples);
                }
                m.queued.store(q.samples(), Ordering::Relaxed);
                continue;
            }
        };
        // Not cut short by a stop (the client's timeout bounds it): the segment is then
        // either counted as sent or still queued, never sent without being counted.
        let outcome = client.send(bytes::Bytes::from(body)).await;
        let retry = match outcome {
            client::Outcome::Sent => {
                TargetMetrics::add(&m.sent, seg.samples);
                m.last_success.store(
                    jiff::Timestamp::now().as_second().max(0) as u64,
                    Ordering::Relaxed,
                );
                if failing > 0 {
                    info!(remote = %t.name, retries = failing, "remote write receiver is back");
                }
                failing = 0;
                backoff = t.queue.min_backoff.std();
                false
            }
            client::Outcome::Refused(why) => {
                TargetMetrics::add(&m.refused, seg.samples);
                warn!(
                    remote = %t.name,
                    samples = seg.samples,
                    "remote write refused by the receiver, dropped: {why}"
                );
                false
            }
            client::Outcome::Retry(why) => {
                TargetMetrics::add(&m.retries, 1);
                if failing == 0 {
                    warn!(remote = %t.name, "remote write failed, retrying with backoff: {why}");
                } else {
                    debug!(remote = %t.name, "remote write failed again: {why}");
                }
                failing += 1;
                true
            }
        };
        if retry {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            backoff = (backoff * 2).min(t.queue.max_backoff.std());
        } else {
            let mut q = queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.remove(seg);
            m.queued.store(q.samples(), Ordering::Relaxed);
        }
    }
}

//! What one collection exports: the families of `/metrics` whose names start with one of
//! the configured prefixes, written by the very code that writes `/metrics`
//! ([`crate::http::metrics::write_all`] into a capturing [`Exposition`]), so names and labels
//! cannot drift apart. Each sample becomes one series with `__name__`, its labels (empty
//! ones left out, as Prometheus drops them when it scrapes) and the external labels (a
//! series' own label wins over an external one of the same name, as in Prometheus), sorted
//! by name as the spec requires, with one sample at the collection's time.
//!
//! A series' encoded labels are cached by its name and rendered label set, and reused at
//! every collection while the series exists (dropped once a collection no longer has it).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use super::wire;
use crate::http::MetricsSource;
use crate::http::exposition::{Exposition, parse_rendered};
use crate::http::live::Snapshot;

/// One request's worth of series: an encoded, uncompressed `WriteRequest` and its samples.
#[derive(Debug)]
pub struct Chunk {
    /// The encoded request.
    pub request: Vec<u8>,
    /// How many samples (one per series) it holds.
    pub samples: u64,
}

/// Collects and encodes series for one receiver, keeping the encoded labels between
/// collections.
pub struct Collector {
    families: Arc<Vec<String>>,
    state: Arc<Mutex<State>>,
}

struct State {
    external: BTreeMap<String, String>,
    cache: HashMap<String, Cached>,
    generation: u64,
    key: String,
    at_ms: i64,
    per_send: u64,
    chunks: Vec<Chunk>,
    current: Vec<u8>,
    current_n: u64,
}

struct Cached {
    labels: Box<[u8]>,
    seen: u64,
}

impl Collector {
    /// A collector of the families named by prefix, adding `external` labels.
    pub fn new(families: &[String], external: &BTreeMap<String, String>) -> Collector {
        Collector {
            families: Arc::new(families.to_vec()),
            state: Arc::new(Mutex::new(State {
                external: external.clone(),
                cache: HashMap::new(),
                generation: 0,
                key: String::with_capacity(256),
                at_ms: 0,
                per_send: 1,
                chunks: Vec::new(),
                current: Vec::new(),
                current_n: 0,
            })),
        }
    }

    /// The series of `snap` and `sources` at `at_ms` (milliseconds since the epoch), cut
    /// into requests of at most `per_send` samples.
    pub fn collect(
        &mut self,
        snap: &Snapshot,
        sources: &[Arc<dyn MetricsSource>],
        at_ms: i64,
        per_send: usize,
    ) -> Vec<Chunk> {
        {
            let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            st.generation += 1;
            st.at_ms = at_ms;
            st.per_send = per_send.max(1) as u64;
        }
        let families = self.families.clone();
        let state = self.state.clone();
        let mut e = Exposition::capturing(
            move |name| families.iter().any(|p| name.starts_with(p.as_str())),
            Box::new(move |name, rendered, value| {
                state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .add(name, rendered, value);
            }),
        );
        crate::http::metrics::write_all(&mut e, snap, sources);
        drop(e);
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.flush();
        let generation = st.generation;
        st.cache.retain(|_, c| c.seen == generation);
        std::mem::take(&mut st.chunks)
    }

    /// Series whose labels are cached (those of the last collection).
    pub fn cached(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cache
            .len()
    }
}

impl State {
    fn add(&mut self, name: &str, rendered: &str, value: f64) {
        if value.is_nan() {
            return;
        }
        self.key.clear();
        self.key.push_str(name);
        self.key.push_str(rendered);
        let generation = self.generation;
        match self.cache.get_mut(self.key.as_str()) {
            Some(c) => {
                c.seen = generation;
                wire::put_series(&mut self.current, &c.labels, value, self.at_ms);
            }
            None => {
                let labels = series_labels(name, rendered, &self.external);
                wire::put_series(&mut self.current, &labels, value, self.at_ms);
                self.cache.insert(
                    self.key.clone(),
                    Cached {
                        labels,
                        seen: generation,
                    },
                );
            }
        }
        self.current_n += 1;
        if self.current_n >= self.per_send {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.current_n == 0 {
            return;
        }
        let request = std::mem::replace(
            &mut self.current,
            Vec::with_capacity(self.per_send as usize * 200),
        );
        self.chunks.push(Chunk {
            request,
            samples: self.current_n,
        });
        self.current_n = 0;
    }
}

/// The encoded labels of one series: `__name__`, its non-empty labels, the external labels
/// it does not have itself, sorted by name.
fn series_labels(name: &str, rendered: &str, external: &BTreeMap<String, String>) -> Box<[u8]> {
    let own = parse_rendered(rendered);
    let mut labels: Vec<(&str, &str)> = Vec::with_capacity(own.len() + external.len() + 1);
    labels.push(("__name__", name));
    for (k, v) in &own {
        if !v.is_empty() {
            labels.push((k, v));
        }
    }
    for (k, v) in external {
        if !own.iter().any(|(o, ov)| o == k && !ov.is_empty()) {
            labels.push((k, v));
        }
    }
    labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
    wire::encode_labels(labels).into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::exposition::MetricType;

    struct Alerts(Vec<&'static str>);
    impl MetricsSource for Alerts {
        fn write(&self, e: &mut Exposition) {
            e.family("bandwatch_alerts", MetricType::Gauge, "Alerts.");
            for entity in &self.0 {
                e.sample(
                    "bandwatch_alerts",
                    &[
                        ("rule", "spike"),
                        ("entity", entity),
                        ("scope", ""),
                        ("cluster", "own"),
                    ],
                    1.0,
                );
            }
            e.family(
                "bandwatch_store_failing",
                MetricType::Gauge,
                "Not exported.",
            );
            e.sample("bandwatch_store_failing", &[], 0.0);
        }
    }

    fn decoded(chunks: &[Chunk]) -> Vec<wire::decode::TimeSeries> {
        chunks
            .iter()
            .flat_map(|c| wire::decode::body(&wire::compress(&c.request).unwrap()).timeseries)
            .collect()
    }

    #[test]
    fn series_are_filtered_labelled_sorted_and_cut() {
        let snap = Snapshot::default();
        let external: BTreeMap<String, String> = [("cluster", "bj"), ("replica", "a")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut c = Collector::new(&["bandwatch_alerts".to_string()], &external);
        let sources: Vec<Arc<dyn MetricsSource>> =
            vec![Arc::new(Alerts(vec!["cdn", "cloud", "video"]))];
        let chunks = c.collect(&snap, &sources, 42, 2);
        assert_eq!(
            chunks.iter().map(|c| c.samples).collect::<Vec<_>>(),
            vec![2, 1]
        );
        let s = decoded(&chunks);
        let labels: Vec<(&str, &str)> = s[0]
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        // Sorted by name, `__name__` first; the empty `scope` left out; the series' own
        // `cluster` kept over the external one.
        assert_eq!(
            labels,
            vec![
                ("__name__", "bandwatch_alerts"),
                ("cluster", "own"),
                ("entity", "cdn"),
                ("replica", "a"),
                ("rule", "spike"),
            ]
        );
        assert_eq!(s[2].labels[2].value, "video");
        assert_eq!(s[0].samples[0].value, 1.0);
        assert_eq!(s[0].samples[0].timestamp, 42);
        assert_eq!(c.cached(), 3);
        // The next collection reuses the cached labels and forgets a series that is gone.
        let sources: Vec<Arc<dyn MetricsSource>> = vec![Arc::new(Alerts(vec!["cloud"]))];
        let s2 = decoded(&c.collect(&snap, &sources, 43, 10));
        assert_eq!(s2.len(), 1);
        assert_eq!(s2[0].labels, s[1].labels);
        assert_eq!(s2[0].samples[0].timestamp, 43);
        assert_eq!(c.cached(), 1);
    }
}

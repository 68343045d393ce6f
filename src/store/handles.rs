//! The handles a [`super::Store`] hands out to the stages that read series and usage: cheap
//! to clone (an `Arc`), backed by any implementation of the store's traits. They open
//! nothing: the connections belong to the store.

use std::ops::Deref;
use std::sync::Arc;

use super::traits::{SeriesSource, UsageStore};

/// Reads series: ranges, latest points, seasonal windows, stored samples. Every method of
/// [`SeriesSource`] is callable on it.
#[derive(Clone)]
pub struct Reader(Arc<dyn SeriesSource>);

impl Reader {
    /// A handle on any series source (the SQLite store's, or another backend's).
    pub fn new(source: Arc<dyn SeriesSource>) -> Reader {
        Reader(source)
    }
}

impl Deref for Reader {
    type Target = dyn SeriesSource;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

/// Billing reads and imported usage records: 5-minute buckets, customers, usage records,
/// firing spans. Every method of [`UsageStore`] is callable on it.
#[derive(Clone)]
pub struct UsageBook(Arc<dyn UsageStore>);

impl UsageBook {
    /// A handle on any usage store (the SQLite store's, or another backend's).
    pub fn new(store: Arc<dyn UsageStore>) -> UsageBook {
        UsageBook(store)
    }
}

impl Deref for UsageBook {
    type Target = dyn UsageStore;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::fmt::Debug for UsageBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageBook")
    }
}

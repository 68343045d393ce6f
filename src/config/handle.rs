//! The configuration in force, shared by the parts of the daemon that read it while they serve
//! (the HTTP report, the usage API, the money metrics, the monthly report delivery) and
//! replaced as a whole on reload, so none of them keeps serving start-up prices, customers or
//! tokens after a good reload.

use std::sync::{Arc, PoisonError, RwLock};

use super::Config;

/// A shared, replaceable [`Config`]: readers take a snapshot with [`ConfigHandle::get`].
#[derive(Clone, Debug)]
pub struct ConfigHandle(Arc<RwLock<Arc<Config>>>);

impl ConfigHandle {
    /// A handle on `config`.
    pub fn new(config: Config) -> ConfigHandle {
        ConfigHandle(Arc::new(RwLock::new(Arc::new(config))))
    }

    /// The configuration in force now (a snapshot: a reload does not change it under you).
    pub fn get(&self) -> Arc<Config> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `config` in force for every holder of this handle.
    pub fn replace(&self, config: Config) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
    }
}

//! The web configuration in force: read at start, read again when the file or one of the
//! files it names (certificates, keys, client CA) changes, so new users, headers and a
//! renewed certificate apply without a restart (exporter-toolkit re-reads on every request).
//! A change that does not load is logged and the last good configuration stays in force.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use super::WebConfig;

/// What identifies a version of a file: its modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

#[derive(Default)]
struct State {
    path: Option<PathBuf>,
    stamps: Vec<Stamp>,
    files: Vec<PathBuf>,
    current: Option<Arc<WebConfig>>,
}

/// The web configuration of one listener, kept current.
#[derive(Clone, Default)]
pub struct WebConfigWatch {
    state: Arc<Mutex<State>>,
}

impl WebConfigWatch {
    /// Loads `path` once; the error is every problem found, for the daemon's start.
    pub fn start(path: Option<&Path>) -> Result<WebConfigWatch, crate::config::Diagnostics> {
        let w = WebConfigWatch::default();
        if let Some(path) = path {
            let (wc, warnings) = WebConfig::load(path)?;
            for d in warnings.warnings() {
                tracing::warn!("{d}");
            }
            w.install(path, wc);
        }
        Ok(w)
    }

    fn install(&self, path: &Path, wc: WebConfig) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.stamps = wc.files.iter().map(|f| stamp(f)).collect();
        s.files = wc.files.clone();
        s.path = Some(path.to_path_buf());
        s.current = Some(Arc::new(wc));
    }

    /// The configuration in force for `path` (the one `[http] web_config` names now),
    /// re-read first when it or one of its files changed.
    pub fn current(&self, path: Option<&Path>) -> Option<Arc<WebConfig>> {
        let Some(path) = path else {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            *s = State::default();
            return None;
        };
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let same_path = s.path.as_deref() == Some(path);
        let changed = !same_path || s.files.iter().zip(&s.stamps).any(|(f, st)| stamp(f) != *st);
        if !changed {
            return s.current.clone();
        }
        match WebConfig::load(path) {
            Ok((wc, _)) => {
                tracing::info!(file = %path.display(), "web configuration (re)loaded");
                s.stamps = wc.files.iter().map(|f| stamp(f)).collect();
                s.files = wc.files.clone();
                s.path = Some(path.to_path_buf());
                s.current = Some(Arc::new(wc));
            }
            Err(diags) => {
                tracing::error!(
                    file = %path.display(),
                    "the web configuration does not load; the last good one stays in force:\n{diags}"
                );
                // Not retried until a file changes again.
                s.stamps = s.files.iter().map(|f| stamp(f)).collect();
                if !same_path {
                    s.path = Some(path.to_path_buf());
                    s.files = vec![path.to_path_buf()];
                    s.stamps = vec![stamp(path)];
                }
            }
        }
        s.current.clone()
    }
}

//! The status page, `GET /`: server-rendered HTML (no JavaScript needed) with the product
//! lines' and sites' 24-hour charts (inline SVG) read from the store.

use std::path::PathBuf;
use std::sync::OnceLock;

static DATABASE: OnceLock<PathBuf> = OnceLock::new();

/// Tells the status page which database file to chart. Stop-gap until `AppState` carries the
/// database path (the daemon owns `AppState`'s construction); the first call wins.
pub fn use_database(path: PathBuf) {
    let _ = DATABASE.set(path);
}

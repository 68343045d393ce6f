//! Basic authentication against the bcrypt hashes of the web configuration's
//! `basic_auth_users`. bcrypt is slow on purpose (tens of milliseconds), so it runs on the
//! blocking pool, an unknown user is checked against a dummy hash (the answer takes as long
//! as for a known one), and a successful check is remembered (by a SHA-256 of user, password
//! and hash, never the password) so a scrape every 15 s does not pay it each time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;

use super::token::sha256_hex;
use crate::http::web_config::WebConfig;

/// A valid bcrypt hash (cost 10) of a password nobody has: unknown users are checked
/// against it.
const DUMMY: &str = "$2b$10$ZicDYPZmmL16Rf8UQ8l42uVMzxfZy/VG.9fDUYlZbNiv19RT.D3d.";

/// How many successful checks are remembered before the memory starts over.
const REMEMBERED: usize = 1024;

/// Successful checks remembered.
#[derive(Clone, Default)]
pub struct Verified {
    ok: Arc<Mutex<HashSet<String>>>,
}

impl Verified {
    /// The user name when `credential` (the base64 of `user:password`) matches a user of
    /// `web`; `None` for anything else.
    pub async fn check(&self, credential: &str, web: Option<&WebConfig>) -> Option<String> {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credential)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        let known = web.and_then(|w| w.users.get(user));
        let hash = known.map_or(DUMMY, String::as_str).to_string();
        let key = sha256_hex(&format!("{user}\0{password}\0{hash}"));
        if known.is_some()
            && self
                .ok
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&key)
        {
            return Some(user.to_string());
        }
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || {
            bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if !(matches && known.is_some()) {
            return None;
        }
        let mut ok = self.ok.lock().unwrap_or_else(PoisonError::into_inner);
        if ok.len() >= REMEMBERED {
            ok.clear();
        }
        ok.insert(key);
        Some(user.to_string())
    }
}

//! API tokens: made by `bandwatch token new`, shown once, kept in the configuration only as
//! their SHA-256 (`sha256:<hex>`). A token is 32 random bytes, so a fast hash is enough
//! (unlike a password, it cannot be guessed from a list); comparisons take the same time
//! whatever the bytes.

use ring::rand::SecureRandom as _;

use crate::config::access::TOKEN_HASH_PREFIX;

/// Every token starts with this, so a leaked one is recognizable (secret scanners, logs).
pub const PREFIX: &str = "bw_";

/// A new random token, or why the system's random source failed.
pub fn generate() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system's random source failed".to_string())?;
    Ok(format!("{PREFIX}{}", hex(&bytes)))
}

/// Lowercase hex SHA-256 of `token` (without the `sha256:` prefix).
pub fn sha256_hex(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// The value of `[[api.token]] hash` for `token`.
pub fn hash_line(token: &str) -> String {
    format!("{TOKEN_HASH_PREFIX}{}", sha256_hex(token))
}

/// Compares without stopping at the first difference.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_to_the_config_form() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64, "{a}");
        // SHA-256 of "abc", FIPS 180-2 appendix B.1.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(hash_line(&a).starts_with("sha256:"));
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }
}

//! A fast, non-cryptographic hasher for in-memory maps whose keys the daemon builds itself
//! and that are never attacker-chosen (the store writer's bucket keys and port names, the
//! rule engine's interned indexes): the standard SipHash showed up as a noticeable share of
//! ingest and rule evaluation time.

use std::hash::{BuildHasherDefault, Hasher};

/// FxHash-style multiply-rotate hashing.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in chunks.by_ref() {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(K);
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
}

/// A `HashMap` using [`FastHasher`].
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keys_stay_distinct() {
        let mut m: FastMap<(i64, i64), u32> = FastMap::default();
        for s in 0..200 {
            for b in 0..50 {
                *m.entry((s, b)).or_default() += 1;
            }
        }
        assert_eq!(m.len(), 10_000);
        let mut n: FastMap<String, usize> = FastMap::default();
        n.insert("Ethernet1/1".into(), 1);
        n.insert("Ethernet1/10".into(), 2);
        assert_eq!(n.get("Ethernet1/1"), Some(&1));
        assert_eq!(n.get("Ethernet1/10"), Some(&2));
        assert_eq!(n.get("Ethernet1/2"), None);
    }
}

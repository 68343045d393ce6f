//! One shared copy of each label value (a site, a switch, a port name, a role) for the whole
//! process. A fleet of thousands of ports repeats a few hundred values, and every stage
//! (topology, poller, writer, live view, rules) keeps a port's labels for the life of the
//! daemon: as [`Arc<str>`] from this pool they are one allocation each, not one per stage.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// Interned strings. Entries only the pool still holds are dropped when it has doubled since
/// the last sweep, so a reload that renames things does not grow it for ever.
struct Pool {
    set: HashSet<Arc<str>>,
    sweep_at: usize,
}

static POOL: LazyLock<Mutex<Pool>> = LazyLock::new(|| {
    Mutex::new(Pool {
        set: HashSet::new(),
        sweep_at: 1024,
    })
});

/// The shared copy of `s`.
pub fn intern(s: &str) -> Arc<str> {
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(a) = pool.set.get(s) {
        return Arc::clone(a);
    }
    if pool.set.len() >= pool.sweep_at {
        pool.set.retain(|a| Arc::strong_count(a) > 1);
        pool.sweep_at = (pool.set.len() * 2).max(1024);
    }
    let a: Arc<str> = Arc::from(s);
    pool.set.insert(Arc::clone(&a));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_allocation_and_unused_ones_are_dropped() {
        let a = intern("bj1-core-a");
        let b = intern(&String::from("bj1-core-a"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &intern("bj1-core-b")));
        // Enough unused values to pass a sweep: the ones still held survive it, equal.
        for i in 0..5000 {
            intern(&format!("gone-{i}"));
        }
        assert!(Arc::ptr_eq(&a, &intern("bj1-core-a")));
        let pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            pool.set.len() < 5000,
            "unused entries were swept: {}",
            pool.set.len()
        );
    }
}

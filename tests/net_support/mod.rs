//! Free ports on 127.0.0.1 for the servers and simulated switches the tests start.
//!
//! Every test runs in one process (`tests/main.rs`), many at once: a range handed out here is
//! never handed out again in this process, and each port of it was free when it was handed out
//! (another process on the machine, a demo say, may hold the ports in between).
#![allow(dead_code)]

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where this process's port ranges start: below Linux's ephemeral range (32768-60999), so a
/// socket bound to port 0 never takes a port of a range, and offset by the process id, so two
/// test processes on one machine start apart.
const FIRST: u32 = 10_000;
const SPAN: u32 = 22_000;

static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);

/// The first of `n` consecutive UDP ports, each free on 127.0.0.1 when this returns; no other
/// call in this process gets any of them.
pub fn udp_range(n: u16) -> u16 {
    range(n, |p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
        .unwrap_or_else(|| panic!("no {n} free consecutive UDP ports on 127.0.0.1"))
}

/// A UDP port free on 127.0.0.1 now, that no other call in this process gets.
pub fn udp_port() -> u16 {
    udp_range(1)
}

/// A TCP port free on 127.0.0.1 now, that no other call in this process gets. From the same
/// ranges as the UDP ports, below the ephemeral range: an outgoing connection's source port
/// (the tests open many, to PostgreSQL, SMTP, the daemons) never takes it between this call
/// and the server's bind.
pub fn tcp_port() -> u16 {
    range(1, |p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        .unwrap_or_else(|| panic!("no free TCP port on 127.0.0.1"))
}

/// The first of `n` consecutive ports below the ephemeral range for which `free` holds, never
/// handed out before in this process.
fn range(n: u16, free: impl Fn(u16) -> bool) -> Option<u16> {
    let n = u32::from(n.max(1));
    let start = (std::process::id().wrapping_mul(2_654_435_761) >> 8) % SPAN;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..2_000 {
        let offset = NEXT.fetch_add(n, Ordering::SeqCst) % SPAN;
        if offset + n > SPAN {
            continue;
        }
        let base = FIRST + offset;
        if (base..base + n).all(|p| free(p as u16)) {
            return Some(base as u16);
        }
    }
    None
}

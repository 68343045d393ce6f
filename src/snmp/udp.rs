//! One UDP socket shared by the SNMP clients of many switches, with the answers handed to
//! the request that waits for them by request-id (and source address). One receive task per
//! socket for the whole fleet: a datagram costs one `recvfrom` and one wake-up of the switch
//! task that asked, and the waiting task decodes it (so the CPU work is spread out).

use crate::hash::FastMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::debug;

use super::ber::peek_request_id;
use super::source::SnmpError;

/// Kernel receive buffer of a shared socket: room for bursts of answers from many switches.
pub const RECV_BUFFER: usize = 4 << 20;

/// Largest datagram read (the largest UDP payload).
const MAX_DATAGRAM: usize = 65_535;

/// Spare datagram buffers kept for reuse (requests and answers): enough for the requests
/// of a fleet in flight at once; beyond that, buffers are freed.
const SPARE_BUFFERS: usize = 64;

/// Buffers larger than this are not kept (a rare big walk answer should not pin memory).
const SPARE_MAX_CAPACITY: usize = 16 << 10;

type Spare = Arc<Mutex<Vec<Vec<u8>>>>;

/// A request waiting for its answer.
struct Waiter {
    peer: SocketAddr,
    tx: oneshot::Sender<Vec<u8>>,
}

/// Requests in flight by request-id (a fast hash: ids are ours, not an attacker's choice of
/// keys; an answer with an unknown id is dropped after one look-up).
type Pending = Arc<Mutex<FastMap<i32, Waiter>>>;

/// A shared socket and the requests in flight on it.
pub struct Demux {
    socket: Arc<UdpSocket>,
    pending: Pending,
    spare: Spare,
    next_id: AtomicU32,
    task: JoinHandle<()>,
}

impl Drop for Demux {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Removes a request from the pending map when its exchange ends (answer, timeout or
/// cancellation), so a late answer finds nobody and is dropped.
pub struct Registration<'a> {
    demux: &'a Demux,
    id: i32,
    /// Where the answer arrives.
    pub answer: oneshot::Receiver<Vec<u8>>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        lock(&self.demux.pending).remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An empty buffer, reused when one is spare.
fn take_buffer(spare: &Spare) -> Vec<u8> {
    lock(spare).pop().unwrap_or_default()
}

impl Demux {
    /// Binds a socket on `bind` (`0.0.0.0:0` or `[::]:0`) and starts its receive task.
    /// Must be called inside a tokio runtime.
    pub fn bind(bind: SocketAddr) -> Result<Arc<Demux>, SnmpError> {
        let err = |e: std::io::Error| SnmpError::Network(format!("cannot bind {bind}: {e}"));
        let domain = socket2::Domain::for_address(bind);
        let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))
            .map_err(err)?;
        // A smaller buffer than asked is fine (the kernel caps it); only log.
        if let Err(e) = s.set_recv_buffer_size(RECV_BUFFER) {
            debug!(error = %e, "cannot enlarge the SNMP socket's receive buffer");
        }
        s.set_nonblocking(true).map_err(err)?;
        s.bind(&bind.into()).map_err(err)?;
        let socket = Arc::new(UdpSocket::from_std(s.into()).map_err(err)?);
        let pending: Pending = Arc::default();
        let spare: Spare = Arc::default();
        let task = tokio::spawn(receive(socket.clone(), pending.clone(), spare.clone()));
        // Request-ids start at a different place in each process, so that answers to a
        // previous run's requests are not taken for ours.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(16))
            .unwrap_or(1);
        Ok(Arc::new(Demux {
            socket,
            pending,
            spare,
            next_id: AtomicU32::new(seed),
            task,
        }))
    }

    /// The local address of the socket.
    pub fn local_addr(&self) -> Result<SocketAddr, SnmpError> {
        self.socket
            .local_addr()
            .map_err(|e| SnmpError::Network(e.to_string()))
    }

    /// A fresh request-id (positive, never 0) with a place for its answer from `peer`.
    pub fn register(&self, peer: SocketAddr) -> Registration<'_> {
        let (tx, answer) = oneshot::channel();
        let mut map = lock(&self.pending);
        let id = loop {
            let id = (self.next_id.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff) as i32;
            if id != 0 && !map.contains_key(&id) {
                break id;
            }
        };
        map.insert(id, Waiter { peer, tx });
        Registration {
            demux: self,
            id,
            answer,
        }
    }

    /// An empty buffer for a request, reused when one is spare.
    pub fn buffer(&self) -> Vec<u8> {
        take_buffer(&self.spare)
    }

    /// Gives a request's or an answer's buffer back for reuse: no allocation per datagram
    /// once the fleet runs.
    pub fn recycle(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() == 0 || buffer.capacity() > SPARE_MAX_CAPACITY {
            return;
        }
        buffer.clear();
        let mut spare = lock(&self.spare);
        if spare.len() < SPARE_BUFFERS {
            spare.push(buffer);
        }
    }

    /// Sends one datagram to `peer`.
    pub async fn send(&self, datagram: &[u8], peer: SocketAddr) -> Result<(), SnmpError> {
        self.socket
            .send_to(datagram, peer)
            .await
            .map(|_| ())
            .map_err(|e| SnmpError::Network(format!("cannot send to {peer}: {e}")))
    }
}

impl Registration<'_> {
    /// The request-id registered.
    pub fn id(&self) -> i32 {
        self.id
    }
}

/// Reads every datagram of the socket and hands it to the request it answers: by
/// request-id when the header is readable (and only when it comes from the address asked),
/// else to a request waiting on that address, which then fails as malformed. Anything else
/// (late answers, strangers) is dropped.
async fn receive(socket: Arc<UdpSocket>, pending: Pending, spare: Spare) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                debug!(error = %e, "SNMP socket receive failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let datagram = &buf[..n];
        let waiter = {
            let mut map = lock(&pending);
            let key = match peek_request_id(datagram) {
                Some(id) => map.get(&id).filter(|w| w.peer == from).map(|_| id),
                None => map.iter().find(|(_, w)| w.peer == from).map(|(id, _)| *id),
            };
            key.and_then(|k| map.remove(&k))
        };
        match waiter {
            Some(w) => {
                let mut answer = take_buffer(&spare);
                answer.extend_from_slice(datagram);
                let _ = w.tx.send(answer);
            }
            None => debug!(%from, bytes = n, "SNMP datagram answers no pending request: dropped"),
        }
    }
}

//! State shared between the accept loop, the connection pumps and the control sessions.

use std::collections::BTreeMap;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::framing::Chunk;

/// How long a control command waits for the connections to carry it out.
pub const ORDER_TIMEOUT: Duration = Duration::from_secs(2);

/// The fault modes; they apply to every connection and persist for new ones until changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Modes {
    pub stall: bool,
    pub withhold_pingresp: bool,
    pub chunk: Chunk,
}

impl Default for Modes {
    fn default() -> Self {
        Self {
            stall: false,
            withhold_pingresp: false,
            chunk: Chunk::None,
        }
    }
}

/// What a control command asks of one connection.
#[derive(Debug)]
pub enum OrderKind {
    /// New modes; `rechunk` when the chunk mode was (re)set, which flushes held bytes and
    /// re-seeds `random`.
    Modes { modes: Modes, rechunk: bool },
    /// One raw binary frame to the client.
    Inject(Vec<u8>),
    /// One text frame to the client.
    Text(String),
}

/// An order plus the channel its connection acknowledges on once it has carried it out.
#[derive(Debug)]
pub struct Order {
    pub kind: OrderKind,
    pub ack: Sender<()>,
}

/// The control side's handle on one live connection.
pub struct ConnHandle {
    pub orders: Sender<Order>,
    pub client: TcpStream,
    pub upstream: TcpStream,
    pub killed: Arc<AtomicBool>,
}

#[derive(Default)]
pub struct Registry {
    pub modes: Modes,
    pub conns: BTreeMap<u64, ConnHandle>,
    next_id: u64,
}

#[derive(Default)]
pub struct Stats {
    /// WebSocket handshakes completed with clients.
    pub accepted: AtomicU64,
    /// Payload bytes of client frames handed to the broker.
    pub c2s_bytes: AtomicU64,
    /// Payload bytes of broker data handed to clients (after filtering; not injected frames).
    pub s2c_bytes: AtomicU64,
    pub pingresp_withheld: AtomicU64,
    /// Data frames handed to clients, injected and text frames included.
    pub frames_to_client: AtomicU64,
}

pub fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

pub struct Shared {
    pub upstream: SocketAddr,
    pub stats: Stats,
    registry: Mutex<Registry>,
}

impl Shared {
    pub fn new(upstream: SocketAddr) -> Self {
        Self {
            upstream,
            stats: Stats::default(),
            registry: Mutex::new(Registry::default()),
        }
    }

    /// The registry; a panicked holder does not make it unusable.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a connection; returns its id and the modes it starts with.
    pub fn register(&self, handle: ConnHandle) -> (u64, Modes) {
        let mut reg = self.registry();
        reg.next_id += 1;
        let id = reg.next_id;
        reg.conns.insert(id, handle);
        (id, reg.modes.clone())
    }

    pub fn deregister(&self, id: u64) {
        self.registry().conns.remove(&id);
    }

    /// Changes the modes (for current and future connections) and waits until every current
    /// connection has taken them on. Returns how many did.
    pub fn set_modes(&self, change: impl FnOnce(&mut Modes), rechunk: bool) -> usize {
        self.broadcast(|reg| {
            change(&mut reg.modes);
            let modes = reg.modes.clone();
            move || OrderKind::Modes {
                modes: modes.clone(),
                rechunk,
            }
        })
    }

    /// Sends an order to every current connection and waits for them to carry it out.
    pub fn order_all(&self, make: impl Fn() -> OrderKind) -> usize {
        self.broadcast(|_| make)
    }

    fn broadcast<F: Fn() -> OrderKind>(&self, prepare: impl FnOnce(&mut Registry) -> F) -> usize {
        let (ack, acks) = mpsc::channel();
        {
            let mut reg = self.registry();
            let make = prepare(&mut reg);
            for conn in reg.conns.values() {
                // A send fails only when that connection has already ended.
                let _ = conn.orders.send(Order {
                    kind: make(),
                    ack: ack.clone(),
                });
            }
        }
        drop(ack);
        // Connections that end before acknowledging drop their sender, so this does not hang.
        let deadline = Instant::now() + ORDER_TIMEOUT;
        let mut done = 0;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match acks.recv_timeout(left) {
                Ok(()) => done += 1,
                Err(_) => break,
            }
        }
        done
    }

    /// Kills every current connection: TCP shutdown of the broker side, then the client side,
    /// with no close frames. Waits until they are gone and returns how many there were.
    pub fn drop_all(&self) -> usize {
        let ids: Vec<u64> = {
            let reg = self.registry();
            for conn in reg.conns.values() {
                conn.killed.store(true, Ordering::SeqCst);
                let _ = conn.upstream.shutdown(Shutdown::Both);
                let _ = conn.client.shutdown(Shutdown::Both);
            }
            reg.conns.keys().copied().collect()
        };
        let deadline = Instant::now() + ORDER_TIMEOUT;
        while Instant::now() < deadline {
            if !ids.iter().any(|id| self.registry().conns.contains_key(id)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        ids.len()
    }

    pub fn open(&self) -> usize {
        self.registry().conns.len()
    }
}

//! One proxied connection: the client's WebSocket, the broker's WebSocket, and a thread that
//! moves frames between them on non-blocking sockets, applying the current fault modes.

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tungstenite::http::{HeaderValue, StatusCode};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error, Message, WebSocket};

use crate::framing::{Chunker, PacketSplitter};
use crate::state::{add, ConnHandle, Modes, Order, OrderKind, Shared};

/// Limit for each handshake and for the close handshake at the end.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);
/// At most this many messages are read from one side per loop turn.
const READ_BATCH: usize = 64;

type Ws = WebSocket<TcpStream>;

/// Serves one accepted TCP connection until either side ends. Never panics on peer input.
pub fn serve(shared: Arc<Shared>, stream: TcpStream) {
    let _ = run(&shared, stream);
}

fn run(shared: &Arc<Shared>, stream: TcpStream) -> Result<(), String> {
    let text = |e: std::io::Error| e.to_string();
    stream.set_nodelay(true).map_err(text)?;
    stream
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(text)?;
    stream
        .set_write_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(text)?;
    let client_tcp = stream.try_clone().map_err(text)?;
    let (orders_tx, orders) = mpsc::channel();
    let killed = Arc::new(AtomicBool::new(false));

    // The broker connection is made, and the connection registered, while the client waits for
    // its handshake answer: once a client sees `open`, control commands reach its connection,
    // and a broker that cannot be reached fails the client's handshake (502).
    let mut joined = None;
    #[allow(clippy::result_large_err)] // the shape of tungstenite's `Callback`
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let upstream = connect_upstream(shared).map_err(|e| {
            let mut refusal = ErrorResponse::new(Some(format!("fault-proxy: broker: {e}\n")));
            *refusal.status_mut() = StatusCode::BAD_GATEWAY;
            refusal
        })?;
        let handle = upstream
            .get_ref()
            .try_clone()
            .map(|upstream_tcp| ConnHandle {
                orders: orders_tx,
                client: client_tcp,
                upstream: upstream_tcp,
                killed: killed.clone(),
            });
        let Ok(handle) = handle else {
            let mut refusal = ErrorResponse::new(None);
            *refusal.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return Err(refusal);
        };
        let (id, modes) = shared.register(handle);
        joined = Some((Deregister { shared, id }, modes, upstream));
        Ok(echo_mqtt(req, resp))
    };
    let handshake = tungstenite::accept_hdr(stream, callback).map_err(|e| e.to_string());
    // Deregisters when this function returns, however it returns.
    let Some((_registered, modes, upstream)) = joined else {
        return Err("no broker".into());
    };
    let client = handshake?;
    shared.stats.accepted.fetch_add(1, Ordering::Relaxed);

    for ws in [&client, &upstream] {
        ws.get_ref().set_nonblocking(true).map_err(text)?;
    }
    Pump::new(shared, client, upstream, orders, killed, modes).run();
    Ok(())
}

/// Echoes `Sec-WebSocket-Protocol: mqtt` when the client offers it (browsers and MQTT.js
/// refuse a connection whose server does not pick one of the offered subprotocols).
fn echo_mqtt(req: &Request, mut resp: Response) -> Response {
    let offers_mqtt = req
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "mqtt");
    if offers_mqtt {
        resp.headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("mqtt"));
    }
    resp
}

fn connect_upstream(shared: &Shared) -> Result<Ws, String> {
    let stream = TcpStream::connect_timeout(&shared.upstream, HANDSHAKE_TIMEOUT)
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut request = format!("ws://{}/mqtt", shared.upstream)
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request
        .headers_mut()
        .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("mqtt"));
    let (ws, _response) = tungstenite::client(request, stream).map_err(|e| e.to_string())?;
    Ok(ws)
}

struct Deregister<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Deregister<'_> {
    fn drop(&mut self) {
        self.shared.deregister(self.id);
    }
}

/// How one side ended.
#[derive(Debug)]
enum End {
    /// It sent a close frame (tungstenite has queued the reply).
    Close(Option<CloseFrame>),
    /// The TCP connection failed or ended without a close frame, or the peer broke protocol.
    Abrupt,
}

enum Side {
    Client,
    Upstream,
}

struct Pump<'a> {
    shared: &'a Shared,
    client: Ws,
    upstream: Ws,
    orders: Receiver<Order>,
    killed: Arc<AtomicBool>,
    modes: Modes,
    /// Client frames not yet forwarded (only non-empty while stalled).
    c2s: VecDeque<Message>,
    /// The client ended; forwarded to the broker once `c2s` is drained.
    client_end: Option<End>,
    /// Broker frames not yet processed (only non-empty while stalled).
    s2c: VecDeque<Message>,
    upstream_end: Option<End>,
    splitter: PacketSplitter,
    chunker: Chunker,
    /// Broker frames ready for the client, sent before anything in `s2c`.
    outbox: Vec<Vec<u8>>,
}

impl<'a> Pump<'a> {
    fn new(
        shared: &'a Shared,
        client: Ws,
        upstream: Ws,
        orders: Receiver<Order>,
        killed: Arc<AtomicBool>,
        modes: Modes,
    ) -> Self {
        let chunker = Chunker::new(modes.chunk);
        Self {
            shared,
            client,
            upstream,
            orders,
            killed,
            modes,
            c2s: VecDeque::new(),
            client_end: None,
            s2c: VecDeque::new(),
            upstream_end: None,
            splitter: PacketSplitter::new(),
            chunker,
            outbox: Vec::new(),
        }
    }

    fn run(mut self) {
        let mut idle_turns = 0u32;
        loop {
            loop {
                match self.orders.try_recv() {
                    Ok(order) => self.obey(order),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            if self.killed.load(Ordering::SeqCst) {
                return;
            }
            let mut progress = false;
            if self.client_end.is_none() {
                progress |= pull(&mut self.client, &mut self.c2s, &mut self.client_end);
            }
            if self.upstream_end.is_none() {
                progress |= pull(&mut self.upstream, &mut self.s2c, &mut self.upstream_end);
            }
            if !self.modes.stall {
                progress |= self.forward();
            }
            self.flush_both();

            if !self.modes.stall {
                if self.client_end.is_some() && self.c2s.is_empty() {
                    return self.finish(Side::Client);
                }
                if self.upstream_end.is_some() && self.s2c.is_empty() {
                    let mut frames = std::mem::take(&mut self.outbox);
                    self.chunker.flush_all(&mut frames);
                    self.send_to_client(frames, true);
                    let _ = self.client.flush();
                    return self.finish(Side::Upstream);
                }
            }

            if progress {
                idle_turns = 0;
            } else {
                idle_turns = idle_turns.saturating_add(1);
                // Poll fast right after traffic (1 ms), slower (10 ms) once quiet for ~0.25 s.
                let nap = if idle_turns < 200 { 1 } else { 10 };
                thread::sleep(Duration::from_millis(nap));
            }
        }
    }

    fn obey(&mut self, order: Order) {
        match order.kind {
            OrderKind::Modes { modes, rechunk } => {
                if rechunk {
                    // Bytes coalesce was holding go out first, when forwarding resumes.
                    self.chunker.set_mode(modes.chunk, &mut self.outbox);
                }
                self.modes = modes;
            }
            OrderKind::Inject(bytes) => self.send_to_client(vec![bytes], false),
            OrderKind::Text(text) => {
                if self.client.write(Message::text(text)).is_ok_or_blocked() {
                    add(&self.shared.stats.frames_to_client, 1);
                }
            }
        }
        let _ = self.client.flush();
        let _ = order.ack.send(());
    }

    /// Forwards everything queued in both directions. Returns whether anything moved.
    fn forward(&mut self) -> bool {
        let mut moved = false;
        while let Some(msg) = self.c2s.pop_front() {
            moved = true;
            let len = msg.len();
            if self.upstream.write(msg).is_ok_or_blocked() {
                add(&self.shared.stats.c2s_bytes, len);
            } else if self.upstream_end.is_none() {
                self.upstream_end = Some(End::Abrupt);
            }
        }

        let now = Instant::now();
        let mut frames = std::mem::take(&mut self.outbox);
        moved |= !frames.is_empty();
        while let Some(msg) = self.s2c.pop_front() {
            moved = true;
            match msg {
                Message::Binary(data) => {
                    let fed = self.splitter.feed(&data, self.modes.withhold_pingresp);
                    add(&self.shared.stats.pingresp_withheld, fed.withheld as usize);
                    self.chunker.push(&fed.bytes, &fed.ends, now, &mut frames);
                }
                // Brokers speak binary; anything else passes untouched, in order.
                other => {
                    self.send_to_client(std::mem::take(&mut frames), true);
                    if self.client.write(other).is_ok_or_blocked() {
                        add(&self.shared.stats.frames_to_client, 1);
                    }
                }
            }
        }
        self.chunker.poll(now, &mut frames);
        moved |= !frames.is_empty();
        self.send_to_client(frames, true);
        moved
    }

    /// Writes binary frames to the client; `from_broker` counts them in `s2c_bytes`.
    fn send_to_client(&mut self, frames: Vec<Vec<u8>>, from_broker: bool) {
        for frame in frames {
            let len = frame.len();
            if self.client.write(Message::binary(frame)).is_ok_or_blocked() {
                add(&self.shared.stats.frames_to_client, 1);
                if from_broker {
                    add(&self.shared.stats.s2c_bytes, len);
                }
            } else if self.client_end.is_none() {
                self.client_end = Some(End::Abrupt);
            }
        }
    }

    fn flush_both(&mut self) {
        if !self.client.flush().is_ok_or_blocked() && self.client_end.is_none() {
            self.client_end = Some(End::Abrupt);
        }
        if !self.upstream.flush().is_ok_or_blocked() && self.upstream_end.is_none() {
            self.upstream_end = Some(End::Abrupt);
        }
    }

    /// Ends the connection after `ended` ended, mirroring how it ended on the other side: a
    /// close frame is forwarded as a close frame, an abrupt end as a bare TCP shutdown.
    fn finish(mut self, ended: Side) {
        if self.killed.load(Ordering::SeqCst) {
            return;
        }
        let (gone, other, end) = match ended {
            Side::Client => (&mut self.client, &mut self.upstream, self.client_end.take()),
            Side::Upstream => (
                &mut self.upstream,
                &mut self.client,
                self.upstream_end.take(),
            ),
        };
        for ws in [&mut *gone, &mut *other] {
            let _ = ws.get_ref().set_nonblocking(false);
            let _ = ws.get_ref().set_write_timeout(Some(CLOSE_TIMEOUT));
            let _ = ws.get_ref().set_read_timeout(Some(CLOSE_TIMEOUT));
        }
        if let Some(End::Close(frame)) = end {
            // Send our reply to its close frame, then close the other side the same way and
            // give the other peer a moment to answer before the TCP connection goes.
            let _ = gone.flush();
            let _ = gone.get_ref().shutdown(Shutdown::Both);
            let _ = other.close(frame.map(sendable));
            let _ = other.flush();
            let deadline = Instant::now() + CLOSE_TIMEOUT;
            while Instant::now() < deadline && other.read().is_ok() {}
        } else {
            let _ = gone.get_ref().shutdown(Shutdown::Both);
        }
        let _ = other.get_ref().shutdown(Shutdown::Both);
    }
}

/// Codes a peer may receive but must not send.
fn sendable(frame: CloseFrame) -> CloseFrame {
    match frame.code {
        CloseCode::Status | CloseCode::Abnormal | CloseCode::Tls => CloseFrame {
            code: CloseCode::Normal,
            reason: frame.reason,
        },
        _ => frame,
    }
}

/// Reads what is available from one side into `queue`. Returns whether anything happened.
fn pull(ws: &mut Ws, queue: &mut VecDeque<Message>, end: &mut Option<End>) -> bool {
    let mut progress = false;
    for _ in 0..READ_BATCH {
        match ws.read() {
            Ok(msg @ (Message::Binary(_) | Message::Text(_))) => {
                queue.push_back(msg);
                progress = true;
            }
            Ok(Message::Close(frame)) => {
                *end = Some(End::Close(frame));
                return true;
            }
            // Pings are answered by tungstenite itself; pongs need nothing.
            Ok(_) => progress = true,
            Err(Error::Io(e)) if is_retry(&e) => break,
            Err(_) => {
                *end = Some(End::Abrupt);
                return true;
            }
        }
    }
    progress
}

fn is_retry(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
}

trait OkOrBlocked {
    /// Success, or a non-blocking write that tungstenite has buffered for later.
    fn is_ok_or_blocked(&self) -> bool;
}

impl OkOrBlocked for Result<(), Error> {
    fn is_ok_or_blocked(&self) -> bool {
        match self {
            Ok(()) => true,
            Err(Error::Io(e)) => is_retry(e),
            Err(_) => false,
        }
    }
}

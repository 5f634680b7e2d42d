//! The only code that touches `web_sys::WebSocket` and timers.
//!
//! [`Driver`] owns the sans-IO [`Session`], one WebSocket at a time and one timer. Commands
//! go through [`crate::bridge::execute`], the one dispatcher both backends share (in the
//! worker and in the page). After every input the driver runs the polling order documented
//! in `crate::mqtt`: link actions, then events (handed to the sink with any refusal, as
//! [`Update`]s), then the next deadline.

pub mod client;
pub mod clock;
pub mod worker;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::bridge::held::HeldPayloads;
use crate::bridge::{self, Brokers, Command, Update};
use crate::mesh::MeshDecoder;
use crate::mqtt::{Millis, Session, SessionConfig, Transmit, TransportError};

/// Receives the session's events and the answers to commands, in order. It must not call
/// back into the driver synchronously (it only queues).
pub type UpdateSink = Box<dyn FnMut(Vec<Update>)>;

/// Owns the session and its link; cheap to clone (shared handle).
#[derive(Clone)]
pub struct Driver {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    session: Session,
    brokers: Brokers,
    /// Meshtastic channel keys; decodes mesh traffic before it reaches the UI.
    mesh: MeshDecoder,
    /// Large payloads the UI has previews of.
    held: HeldPayloads,
    link: Option<Link>,
    /// Bumped for every socket so callbacks from an old one are ignored.
    generation: u64,
    timer: Option<(Millis, Timeout)>,
    /// A socket opened before the session asked for one ([`Driver::adopt_preconnected`]).
    warm: Option<WarmSocket>,
    /// Where a received frame is copied for the session: one buffer, not one allocation per
    /// frame (a frame per message in a flood).
    frame_buf: Vec<u8>,
    /// Bytes for the socket not sent yet, and the zero-delay timer that sends them: what
    /// the session says in answer to received frames (a PUBACK per QoS 1 message) waits for
    /// the frames queued behind them and goes out with theirs as one WebSocket frame.
    /// mosquitto sends a subscriber the next QoS 1 messages only as acks come back, and one
    /// frame per ack held a QoS 1 flood to about 60 % of this rate.
    outgoing: Vec<u8>,
    send_timer: Option<Timeout>,
    sink: UpdateSink,
}

/// When [`Driver::pump`] sends what the session said.
#[derive(Clone, Copy)]
enum Sending {
    /// At once: the answer to a command, a timer or an open socket.
    Now,
    /// Once the frames already received are handled (a zero-delay timer).
    AfterQueuedFrames,
}

/// The largest frame buffer kept between frames.
const FRAME_BUF_KEEP: usize = 64 * 1024;

/// How long a preconnected socket waits for the session to ask for it before it is closed.
const PRECONNECT_KEEP_MS: u32 = 10_000;

/// A WebSocket the loader opened to `url` before the session asked for one. It has no
/// handlers: the broker says nothing before CONNECT, so no message can be missed, and its
/// `readyState` says whether it opened (the open event, if any, has been dispatched by then).
struct WarmSocket {
    url: String,
    socket: WebSocket,
    _expiry: Timeout,
}

impl WarmSocket {
    /// Hands the socket over (if it is for `url` and still usable), with whether it is open
    /// already; else closes it.
    fn take_for(self, url: &str) -> Option<(WebSocket, bool)> {
        match self.socket.ready_state() {
            WebSocket::CONNECTING | WebSocket::OPEN if self.url == url => {
                let open = self.socket.ready_state() == WebSocket::OPEN;
                Some((self.socket.clone(), open))
            }
            _ => {
                self.discard();
                None
            }
        }
    }

    /// Closes it unused.
    fn discard(self) {
        let _ = self.socket.close();
    }
}

/// One WebSocket and the closures it calls (dropped together).
struct Link {
    socket: WebSocket,
    opened: bool,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Link {
    fn detach(&self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
}

impl Driver {
    pub fn new(config: SessionConfig, sink: UpdateSink) -> Driver {
        Driver {
            inner: Rc::new(RefCell::new(Inner {
                session: Session::new(config),
                brokers: Brokers::default(),
                mesh: MeshDecoder::default(),
                held: HeldPayloads::default(),
                link: None,
                generation: 0,
                timer: None,
                warm: None,
                frame_buf: Vec::new(),
                outgoing: Vec::new(),
                send_timer: None,
                sink,
            })),
        }
    }

    /// Keeps `socket`, which the loader opened to `url` while the app loaded (the page will
    /// connect to that broker at once), for the session's first `Open` to take over if it is
    /// to the same URL, so the broker's handshake is not on the way to `connected`. Unused,
    /// it is closed after a few seconds.
    pub fn adopt_preconnected(&self, url: &str, socket: WebSocket) {
        socket.set_binary_type(BinaryType::Arraybuffer);
        let weak = Rc::downgrade(&self.inner);
        let expiry = Timeout::new(PRECONNECT_KEEP_MS, move || {
            let warm = upgrade(&weak).and_then(|driver| driver.inner.borrow_mut().warm.take());
            if let Some(warm) = warm {
                warm.discard();
            }
        });
        let mut inner = self.inner.borrow_mut();
        if let Some(old) = inner.warm.take() {
            old.discard();
        }
        inner.warm = Some(WarmSocket {
            url: url.to_string(),
            socket,
            _expiry: expiry,
        });
    }

    /// Carries out one command; a refusal comes back through the sink after the events
    /// the session produced before it.
    pub fn execute(&self, command: Command) {
        let refusal = {
            let mut inner = self.inner.borrow_mut();
            let Inner {
                session,
                brokers,
                mesh,
                held,
                ..
            } = &mut *inner;
            bridge::execute(session, brokers, mesh, held, command, clock::now_ms())
        };
        self.pump(refusal, Sending::Now);
    }

    /// Runs the polling order until the session is quiet, then hands the events (and
    /// `answer`, if any) to the sink.
    fn pump(&self, answer: Option<Update>, sending: Sending) {
        let mut updates = Vec::new();
        {
            let mut inner = self.inner.borrow_mut();
            while let Some(transmit) = inner.session.poll_transmit() {
                match transmit {
                    Transmit::Open => {
                        send_outgoing(&mut inner);
                        self.open(&mut inner);
                    }
                    Transmit::Bytes(bytes) => inner.outgoing.extend_from_slice(&bytes),
                    Transmit::Close => {
                        send_outgoing(&mut inner);
                        if let Some(link) = inner.link.take() {
                            link.detach();
                        }
                    }
                }
            }
            if !inner.outgoing.is_empty() {
                match sending {
                    Sending::Now => send_outgoing(&mut inner),
                    Sending::AfterQueuedFrames => self.schedule_send(&mut inner),
                }
            }
            let Inner {
                session,
                brokers,
                mesh,
                held,
                ..
            } = &mut *inner;
            while let Some(mut event) = session.poll_event() {
                // Failover watches the same events; a move applies to the next open.
                let moved = brokers.observe(&event, session);
                let after = bridge::observe(mesh, held, &mut event);
                updates.push(Update::Session(event));
                updates.extend(after);
                updates.extend(moved.map(Update::Broker));
            }
            self.arm_timer(&mut inner);
        }
        updates.extend(answer);
        if !updates.is_empty() {
            let mut inner = self.inner.borrow_mut();
            (inner.sink)(updates);
        }
    }

    fn open(&self, inner: &mut Inner) {
        if let Some(old) = inner.link.take() {
            old.detach();
        }
        inner.generation += 1;
        let generation = inner.generation;
        let url = inner.brokers.current().to_string();
        let warm = inner.warm.take().and_then(|warm| warm.take_for(&url));
        let already_open = warm.as_ref().is_some_and(|(_, open)| *open);
        let socket = match warm
            .map(|(socket, _)| Ok(socket))
            .unwrap_or_else(|| WebSocket::new_with_str(&url, "mqtt"))
        {
            Ok(socket) => socket,
            Err(err) => {
                let why = err
                    .dyn_ref::<js_sys::Error>()
                    .map(|e| String::from(e.message()))
                    .unwrap_or_else(|| "the browser refused the URL".into());
                let weak = Rc::downgrade(&self.inner);
                // Report asynchronously: we are inside the session's poll loop.
                Timeout::new(0, move || {
                    if let Some(driver) = upgrade(&weak) {
                        driver.closed(
                            generation,
                            TransportError::OpenFailed(format!("cannot open {url}: {why}")),
                        );
                    }
                })
                .forget();
                return;
            }
        };
        socket.set_binary_type(BinaryType::Arraybuffer);

        let weak = Rc::downgrade(&self.inner);
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            if let Some(driver) = upgrade(&weak) {
                driver.opened(generation);
            }
        });
        let weak = Rc::downgrade(&self.inner);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(driver) = upgrade(&weak) {
                driver.frame(generation, event.data());
            }
        });
        let weak = Rc::downgrade(&self.inner);
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            if let Some(driver) = upgrade(&weak) {
                driver.socket_closed(generation, event.code(), event.reason());
            }
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        inner.link = Some(Link {
            socket,
            opened: false,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        });
        if already_open {
            // A preconnected socket that has opened fires no `open` again; report it as the
            // handler would, after this poll loop.
            let weak = Rc::downgrade(&self.inner);
            Timeout::new(0, move || {
                if let Some(driver) = upgrade(&weak) {
                    driver.opened(generation);
                }
            })
            .forget();
        }
    }

    fn is_current(&self, generation: u64) -> bool {
        self.inner.borrow().generation == generation
    }

    fn opened(&self, generation: u64) {
        if !self.is_current(generation) {
            return;
        }
        {
            let mut inner = self.inner.borrow_mut();
            if let Some(link) = inner.link.as_mut() {
                link.opened = true;
            }
            inner.session.handle_open(clock::now_ms());
        }
        self.pump(None, Sending::Now);
    }

    fn frame(&self, generation: u64, data: wasm_bindgen::JsValue) {
        if !self.is_current(generation) {
            return;
        }
        {
            let mut inner = self.inner.borrow_mut();
            let now = clock::now_ms();
            match data.dyn_into::<js_sys::ArrayBuffer>() {
                Ok(buffer) => {
                    let array = js_sys::Uint8Array::new(&buffer);
                    let mut bytes = std::mem::take(&mut inner.frame_buf);
                    bytes.resize(array.length() as usize, 0);
                    array.copy_to(&mut bytes);
                    inner.session.handle_bytes(&bytes, now);
                    // A rare large frame does not keep its size for the rest of the session.
                    if bytes.capacity() > FRAME_BUF_KEEP {
                        bytes = Vec::new();
                    }
                    inner.frame_buf = bytes;
                }
                Err(_) => inner.session.handle_text_frame(now),
            }
        }
        self.pump(None, Sending::AfterQueuedFrames);
    }

    fn socket_closed(&self, generation: u64, code: u16, reason: String) {
        if !self.is_current(generation) {
            return;
        }
        let (opened, url) = {
            let inner = self.inner.borrow();
            (
                inner.link.as_ref().is_some_and(|l| l.opened),
                inner.brokers.current().to_string(),
            )
        };
        let error = if opened {
            TransportError::Closed {
                code,
                reason: close_reason(code, &reason),
            }
        } else {
            TransportError::OpenFailed(format!(
                "could not connect to {url} — is the broker's WebSocket listener running \
                 and does it accept the \"mqtt\" subprotocol?"
            ))
        };
        self.closed(generation, error);
    }

    fn closed(&self, generation: u64, error: TransportError) {
        if !self.is_current(generation) {
            return;
        }
        {
            let mut inner = self.inner.borrow_mut();
            if let Some(link) = inner.link.take() {
                link.detach();
            }
            // Nothing more reaches that socket; the session knows the link ended.
            inner.outgoing.clear();
            inner.session.handle_closed(error, clock::now_ms());
        }
        self.pump(None, Sending::Now);
    }

    fn arm_timer(&self, inner: &mut Inner) {
        let Some(deadline) = inner.session.poll_timeout() else {
            inner.timer = None;
            return;
        };
        // A timer that fires no later than needed is kept: every packet sent moves the
        // keepalive's deadline later, and re-arming per packet (a clearTimeout and a
        // setTimeout) was a few microseconds of every message in a flood. Woken early, the
        // session does nothing and the timer is armed again for the real deadline.
        if matches!(inner.timer, Some((armed, _)) if armed <= deadline) {
            return;
        }
        let delay = deadline
            .saturating_sub(clock::now_ms())
            .min(u32::MAX as u64) as u32;
        let weak = Rc::downgrade(&self.inner);
        let timeout = Timeout::new(delay, move || {
            if let Some(driver) = upgrade(&weak) {
                {
                    let mut inner = driver.inner.borrow_mut();
                    inner.timer = None;
                    inner.session.handle_timeout(clock::now_ms());
                }
                driver.pump(None, Sending::Now);
            }
        });
        inner.timer = Some((deadline, timeout));
    }

    /// Sends the waiting bytes on a zero-delay timer: frames the socket received meanwhile
    /// are handled first, and what they make the session say joins the same frame.
    fn schedule_send(&self, inner: &mut Inner) {
        if inner.send_timer.is_some() {
            return;
        }
        let weak = Rc::downgrade(&self.inner);
        inner.send_timer = Some(Timeout::new(0, move || {
            if let Some(driver) = upgrade(&weak) {
                let mut inner = driver.inner.borrow_mut();
                inner.send_timer = None;
                send_outgoing(&mut inner);
            }
        }));
    }
}

/// Sends the bytes waiting for the socket, in one frame.
fn send_outgoing(inner: &mut Inner) {
    if inner.outgoing.is_empty() {
        return;
    }
    if let Some(link) = &inner.link {
        // A failed send shows up as a close event; nothing to do here.
        let _ = link.socket.send_with_u8_array(&inner.outgoing);
    }
    inner.outgoing.clear();
    // A burst's buffer is not kept for the rest of the session.
    if inner.outgoing.capacity() > FRAME_BUF_KEEP {
        inner.outgoing = Vec::new();
    }
}

fn upgrade(weak: &Weak<RefCell<Inner>>) -> Option<Driver> {
    weak.upgrade().map(|inner| Driver { inner })
}

/// Words for the WebSocket close codes a user is likely to see.
fn close_reason(code: u16, reason: &str) -> String {
    let meaning = match code {
        1000 => "closed normally by the broker",
        1001 => "the broker is going away",
        1002 => "WebSocket protocol error",
        1006 => "connection lost without a close frame (broker stopped or network dropped)",
        1009 => "message too big for the broker",
        1011 => "broker internal error",
        _ => "",
    };
    match (meaning.is_empty(), reason.is_empty()) {
        (true, _) => reason.to_string(),
        (false, true) => meaning.to_string(),
        (false, false) => format!("{meaning}: {reason}"),
    }
}

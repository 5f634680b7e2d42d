//! The only code that touches `web_sys::WebSocket` and timers.
//!
//! [`Driver`] owns the sans-IO [`Session`], one WebSocket at a time and one timer. After
//! every input it runs the polling order documented in `crate::mqtt`: link actions, then
//! events (handed to the sink), then the next deadline.

pub mod client;
pub mod clock;
pub mod worker;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::mqtt::{
    CommandError, ConnectOptions, Event, Millis, PublishId, QoS, Session, SessionConfig, Transmit,
    TransportError,
};
use crate::state::connection::validate_broker_url;

/// Receives the session's events, in order.
pub type EventSink = Box<dyn FnMut(Vec<Event>)>;

/// Owns the session and its link; cheap to clone (shared handle).
#[derive(Clone)]
pub struct Driver {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    session: Session,
    url: String,
    link: Option<Link>,
    /// Bumped for every socket so callbacks from an old one are ignored.
    generation: u64,
    timer: Option<(Millis, Timeout)>,
    sink: EventSink,
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
    pub fn new(config: SessionConfig, sink: EventSink) -> Driver {
        Driver {
            inner: Rc::new(RefCell::new(Inner {
                session: Session::new(config),
                url: String::new(),
                link: None,
                generation: 0,
                timer: None,
                sink,
            })),
        }
    }

    /// Connects to `url` with `options` (replacing any current connection).
    pub fn connect(&self, url: &str, options: ConnectOptions) -> Result<(), String> {
        validate_broker_url(url)?;
        let result = {
            let mut inner = self.inner.borrow_mut();
            inner.url = url.trim().to_string();
            inner.session.connect(options, clock::now_ms())
        };
        self.pump();
        result.map_err(|e| e.to_string())
    }

    pub fn set_outbox_expiry(&self, ms: Millis) {
        self.inner.borrow_mut().session.set_outbox_expiry(ms);
    }

    pub fn disconnect(&self) {
        self.inner.borrow_mut().session.disconnect(clock::now_ms());
        self.pump();
    }

    pub fn subscribe(&self, filter: &str, qos: QoS) -> Result<(), CommandError> {
        let result = self
            .inner
            .borrow_mut()
            .session
            .subscribe(filter, qos, clock::now_ms());
        self.pump();
        result
    }

    pub fn unsubscribe(&self, filter: &str) -> Result<(), CommandError> {
        let result = self
            .inner
            .borrow_mut()
            .session
            .unsubscribe(filter, clock::now_ms());
        self.pump();
        result
    }

    pub fn publish(
        &self,
        topic: &str,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
    ) -> Result<PublishId, CommandError> {
        let result =
            self.inner
                .borrow_mut()
                .session
                .publish(topic, payload, qos, retain, clock::now_ms());
        self.pump();
        result
    }

    /// Runs the polling order until the session is quiet, then hands events to the sink.
    fn pump(&self) {
        let mut events = Vec::new();
        {
            let mut inner = self.inner.borrow_mut();
            while let Some(transmit) = inner.session.poll_transmit() {
                match transmit {
                    Transmit::Open => self.open(&mut inner),
                    Transmit::Bytes(bytes) => {
                        if let Some(link) = &inner.link {
                            // A failed send shows up as a close event; nothing to do here.
                            let _ = link.socket.send_with_u8_array(&bytes);
                        }
                    }
                    Transmit::Close => {
                        if let Some(link) = inner.link.take() {
                            link.detach();
                        }
                    }
                }
            }
            while let Some(event) = inner.session.poll_event() {
                events.push(event);
            }
            self.arm_timer(&mut inner);
        }
        if !events.is_empty() {
            // The sink must not call back into the driver synchronously (it only queues).
            let mut inner = self.inner.borrow_mut();
            (inner.sink)(events);
        }
    }

    fn open(&self, inner: &mut Inner) {
        if let Some(old) = inner.link.take() {
            old.detach();
        }
        inner.generation += 1;
        let generation = inner.generation;
        let url = inner.url.clone();
        let socket = match WebSocket::new_with_str(&url, "mqtt") {
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
        self.pump();
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
                    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                    inner.session.handle_bytes(&bytes, now);
                }
                Err(_) => inner.session.handle_text_frame(now),
            }
        }
        self.pump();
    }

    fn socket_closed(&self, generation: u64, code: u16, reason: String) {
        if !self.is_current(generation) {
            return;
        }
        let (opened, url) = {
            let inner = self.inner.borrow();
            (
                inner.link.as_ref().is_some_and(|l| l.opened),
                inner.url.clone(),
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
            inner.session.handle_closed(error, clock::now_ms());
        }
        self.pump();
    }

    fn arm_timer(&self, inner: &mut Inner) {
        let Some(deadline) = inner.session.poll_timeout() else {
            inner.timer = None;
            return;
        };
        if matches!(inner.timer, Some((armed, _)) if armed == deadline) {
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
                driver.pump();
            }
        });
        inner.timer = Some((deadline, timeout));
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

//! The session module: runs the [`Driver`] (WebSocket, timer, session) and sends the UI one
//! batch of updates per frame at most, as a transferred byte buffer. It normally runs in a
//! dedicated Worker, off the UI thread; with `?worker=0`, or where a page may not start
//! workers, the loader runs it on the page's thread and the two talk over a MessageChannel
//! (the same `postMessage`/`onmessage` either way).
//! Timers in a dedicated worker are not throttled like a background tab's, which keeps the
//! keepalive honest (and the session tolerates late timers anyway).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, MessagePort};

use crate::bridge::{decode_batch, encode_into, Command, Update};
use crate::mqtt::SessionConfig;
use crate::params::default_broker_for;
use crate::state::profile::preconnect_url;
use crate::transport::Driver;

/// Longest a batch waits before it is posted (about one frame).
const FLUSH_MS: u32 = 16;

/// Batches updates and posts them to the UI.
#[derive(Clone)]
struct Outbox {
    /// The worker's global scope or a MessagePort: both post and receive the same way.
    scope: MessagePort,
    buffer: Rc<RefCell<Vec<u8>>>,
    scheduled: Rc<Cell<bool>>,
}

impl Outbox {
    fn push(&self, update: &Update) {
        encode_into(&mut self.buffer.borrow_mut(), update);
        if !self.scheduled.replace(true) {
            let outbox = self.clone();
            Timeout::new(FLUSH_MS, move || outbox.flush()).forget();
        }
    }

    fn flush(&self) {
        self.scheduled.set(false);
        let bytes = std::mem::take(&mut *self.buffer.borrow_mut());
        if bytes.is_empty() {
            return;
        }
        let array = js_sys::Uint8Array::from(&bytes[..]);
        let buffer = array.buffer();
        let _ = self
            .scope
            .post_message_with_transferable(&buffer, &js_sys::Array::of1(&buffer));
    }
}

/// Entry point of the worker bin: in a Worker it serves the page at once; on the page's
/// thread (no `document` there) it waits for the loader to call [`serve`] with a port.
pub fn run() {
    let global = js_sys::global();
    let in_page = js_sys::Reflect::has(&global, &"document".into()).unwrap_or(false);
    if !in_page {
        // Structurally a port: `postMessage(message, transfer)` and `onmessage`.
        serve(global.unchecked_into());
    }
}

/// Runs the session for the UI at the other end of `scope`.
pub fn serve(scope: MessagePort) {
    let outbox = Outbox {
        scope: scope.clone(),
        buffer: Rc::default(),
        scheduled: Rc::default(),
    };
    let events_outbox = outbox.clone();
    let driver = Driver::new(
        SessionConfig {
            seed: (js_sys::Math::random() * 1e15) as u64,
            ..SessionConfig::default()
        },
        Box::new(move |updates| {
            for update in updates {
                events_outbox.push(&update);
            }
        }),
    );
    if let Some(url) = preconnect_hint() {
        driver.preconnect(&url);
    }
    let command_outbox = outbox.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>() else {
            return;
        };
        let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
        match decode_batch::<Command>(&bytes) {
            Ok(commands) => commands.into_iter().for_each(|c| driver.execute(c)),
            Err(e) => command_outbox.push(&Update::WorkerFailed(format!(
                "the session worker got a command batch it cannot read: {e}"
            ))),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    outbox.push(&Update::Ready);
    outbox.flush();
}

/// The broker to open a socket to before the UI asks, from what the loader read off the page
/// (`mqttWebPreconnect`: the query string, the page's protocol and host, and the stored
/// profile's text; a worker has no `location` of the page and no localStorage). The trust
/// rules are the connect form's own: [`preconnect_url`].
fn preconnect_hint() -> Option<String> {
    let hint = js_sys::Reflect::get(&js_sys::global(), &"mqttWebPreconnect".into()).ok()?;
    let field = |name: &str| {
        js_sys::Reflect::get(&hint, &name.into())
            .ok()
            .and_then(|value| value.as_string())
    };
    let query = field("query")?;
    let default_broker = default_broker_for(
        &field("protocol").unwrap_or_default(),
        &field("host").unwrap_or_default(),
    );
    preconnect_url(field("saved").as_deref(), &query, &default_broker)
}

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
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MessageEvent, MessagePort, WebSocket};

use crate::bridge::{
    batch_delay_ms, decode_batch, Batch, Command, QuietCheck, QuietWatch, Update, QUIET_MS,
};
use crate::mqtt::Event;
use crate::mqtt::SessionConfig;
use crate::transport::{clock, Driver};

/// Batches updates and posts them to the UI: at once after a quiet frame, else once per
/// frame ([`batch_delay_ms`]), and at once when a batch is full ([`Batch::push`]) or holds a
/// change of connection status ([`Update::posts_at_once`]). Says when the messages stop
/// ([`Update::Quiet`]).
#[derive(Clone)]
struct Outbox {
    /// The worker's global scope or a MessagePort: both post and receive the same way.
    scope: MessagePort,
    batch: Rc<RefCell<Batch>>,
    scheduled: Rc<Cell<bool>>,
    /// When the last batch was posted (performance.now() ms).
    posted_at: Rc<Cell<f64>>,
    quiet: Rc<RefCell<QuietWatch>>,
}

impl Outbox {
    fn push(&self, update: &Update) {
        if matches!(update, Update::Session(Event::Message(_))) && self.quiet.borrow_mut().message()
        {
            self.watch_for_quiet();
        }
        if self.batch.borrow_mut().push(update) {
            // Full: posted now; the timer, if one is set, posts what follows.
            self.post();
            return;
        }
        if !self.scheduled.replace(true) {
            let outbox = self.clone();
            let since = clock::now_ms() as f64 - self.posted_at.get();
            // A zero timeout still lets the rest of this task's updates join the batch.
            Timeout::new(batch_delay_ms(since), move || outbox.flush()).forget();
        }
    }

    fn flush(&self) {
        self.scheduled.set(false);
        self.post();
    }

    fn watch_for_quiet(&self) {
        let outbox = self.clone();
        Timeout::new(QUIET_MS, move || {
            let check = outbox.quiet.borrow_mut().timer_fired();
            match check {
                QuietCheck::Again => outbox.watch_for_quiet(),
                QuietCheck::Quiet => {
                    outbox.push(&Update::Quiet);
                    outbox.post();
                }
            }
        })
        .forget();
    }

    fn post(&self) {
        let bytes = self.batch.borrow_mut().take();
        if bytes.is_empty() {
            return;
        }
        self.posted_at.set(clock::now_ms() as f64);
        let array = js_sys::Uint8Array::from(&bytes[..]);
        let buffer = array.buffer();
        let _ = self
            .scope
            .post_message_with_transferable(&buffer, &js_sys::Array::of1(&buffer));
    }
}

/// Entry point in the session worker: serves the page at the other end of the worker's
/// global scope. (On the page's thread the loader calls [`serve`] with a port instead.)
pub fn run() {
    // Structurally a port: `postMessage(message, transfer)` and `onmessage`.
    serve(js_sys::global().unchecked_into());
}

/// Runs the session for the UI at the other end of `scope`.
pub fn serve(scope: MessagePort) {
    let outbox = Outbox {
        scope: scope.clone(),
        batch: Rc::default(),
        scheduled: Rc::default(),
        posted_at: Rc::new(Cell::new(f64::NEG_INFINITY)),
        quiet: Rc::default(),
    };
    let events_outbox = outbox.clone();
    let driver = Driver::new(
        SessionConfig {
            seed: (js_sys::Math::random() * 1e15) as u64,
            ..SessionConfig::default()
        },
        Box::new(move |updates| {
            let mut at_once = false;
            for update in updates {
                at_once |= update.posts_at_once();
                events_outbox.push(&update);
            }
            // After the loop: the events that came with it (the CONNACK's `Connected`, the
            // resubscriptions) go in the same batch.
            if at_once {
                events_outbox.post();
            }
        }),
    );
    if let Some((url, socket)) = take_preconnected() {
        driver.adopt_preconnected(&url, socket);
    }
    let command_outbox = outbox.clone();
    let execute = move |data: JsValue| {
        let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() else {
            return;
        };
        let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
        match decode_batch::<Command>(&bytes) {
            Ok(commands) => commands.into_iter().for_each(|c| driver.execute(c)),
            Err(e) => command_outbox.push(&Update::WorkerFailed(format!(
                "the session worker got a command batch it cannot read: {e}"
            ))),
        }
    };
    outbox.push(&Update::Ready);
    // What the UI posted before this module ran, kept by the worker's boot script (a message
    // event with no listener is lost): the UI does not wait for "ready" to send its connect.
    for data in take_global_array("mqttWebCommandsEarly") {
        execute(data);
    }
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        execute(event.data());
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    outbox.flush();
}

/// The array the boot script left in the global `name` (empty if none), removed from it.
fn take_global_array(name: &str) -> Vec<JsValue> {
    let global = js_sys::global();
    let key = JsValue::from_str(name);
    let items = js_sys::Reflect::get(&global, &key)
        .ok()
        .and_then(|value| value.dyn_into::<js_sys::Array>().ok())
        .map(|array| array.iter().collect())
        .unwrap_or_default();
    let _ = js_sys::Reflect::delete_property(global.unchecked_ref::<js_sys::Object>(), &key);
    items
}

/// The socket the loader opened before this module loaded, and the broker it is for
/// (`mqttWebPreconnect`, set on this thread by scripts/inline-glue.mjs, whose rules are in
/// scripts/preconnect.mjs). Taken once: the loader closes it unused only while it is still there.
fn take_preconnected() -> Option<(String, WebSocket)> {
    let hint = js_sys::Reflect::get(&js_sys::global(), &"mqttWebPreconnect".into()).ok()?;
    let url = js_sys::Reflect::get(&hint, &"url".into())
        .ok()?
        .as_string()?;
    let socket = js_sys::Reflect::get(&hint, &"socket".into())
        .ok()?
        .dyn_into::<WebSocket>()
        .ok()?;
    js_sys::Reflect::set(&hint, &"socket".into(), &JsValue::NULL).ok()?;
    Some((url, socket))
}

//! The UI's handle to the session. The page's loader (scripts/inline-glue.mjs) starts the
//! session module in a dedicated Web Worker, or on the page's thread behind a MessageChannel
//! (`?worker=0`); the UI talks to either through the same endpoint. A page without that
//! loader (the browser tests) runs the session inside the UI binary (feature
//! `page-session`). Every way, the UI sends [`Command`]s and receives [`Update`]s in order,
//! refusals included: all end in the same `crate::bridge::execute`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, Worker};

use crate::bridge::{decode_batch, encode_batch, Command, Update};
#[cfg(feature = "page-session")]
use crate::mqtt::SessionConfig;
#[cfg(feature = "page-session")]
use crate::transport::Driver;

/// Receives updates, in order. It must not call back into the client synchronously.
pub type UpdateSink = Rc<RefCell<dyn FnMut(Vec<Update>)>>;

#[derive(Clone)]
pub struct SessionClient {
    backend: Rc<Backend>,
}

enum Backend {
    #[cfg(feature = "page-session")]
    InPage(Driver),
    Worker(WorkerLink),
    /// No session could be started; every command is answered with why.
    Missing(UpdateSink),
}

struct WorkerLink {
    /// A Worker, or the page's end of a MessageChannel to the session module. Replaced
    /// by a port when a worker fails before it is ready (see `in_worker`).
    worker: Rc<RefCell<Worker>>,
    on_page: Rc<Cell<bool>>,
    /// Commands posted before the worker said it is ready, kept until it does: a worker
    /// that fails to start gets its commands replayed on the session module on the page's
    /// thread. (They are posted at once: the worker's boot script keeps them until its wasm
    /// takes over, so the first connect does not wait for the UI to hear "ready".)
    unconfirmed: Rc<RefCell<Option<Vec<Command>>>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl SessionClient {
    /// The session runs inside this binary (a page without the loader: the browser tests).
    #[cfg(feature = "page-session")]
    pub fn in_page(config: SessionConfig, sink: UpdateSink) -> SessionClient {
        let driver = Driver::new(
            config,
            Box::new(move |updates| (sink.borrow_mut())(updates)),
        );
        SessionClient {
            backend: Rc::new(Backend::InPage(driver)),
        }
    }

    /// No session: the page was built without one and its loader started none.
    pub fn missing(sink: UpdateSink) -> SessionClient {
        SessionClient {
            backend: Rc::new(Backend::Missing(sink)),
        }
    }

    /// The session module runs behind `worker` (a Worker, or a MessagePort to it on this
    /// page's thread when `on_page`).
    pub fn in_worker(worker: Worker, on_page: bool, sink: UpdateSink) -> SessionClient {
        let unconfirmed: Rc<RefCell<Option<Vec<Command>>>> =
            Rc::new(RefCell::new(Some(Vec::new())));
        let worker = Rc::new(RefCell::new(worker));
        let on_page = Rc::new(Cell::new(on_page));
        let ready_unconfirmed = unconfirmed.clone();
        let message_sink = sink.clone();
        let handle = Rc::new(move |data: wasm_bindgen::JsValue| {
            // The loader posts a text line if the worker's wasm could not start.
            if let Some(text) = data.as_string() {
                (message_sink.borrow_mut())(vec![Update::WorkerFailed(text)]);
                return;
            }
            let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() else {
                return;
            };
            let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
            let updates = decode_batch::<Update>(&bytes).unwrap_or_else(|e| {
                vec![Update::WorkerFailed(format!(
                    "the session worker sent a batch the page cannot read: {e}"
                ))]
            });
            if updates.contains(&Update::Ready) {
                ready_unconfirmed.borrow_mut().take();
            }
            (message_sink.borrow_mut())(updates);
        });
        let on_message_handle = handle.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            on_message_handle(event.data());
        });
        let error_sink = sink.clone();
        let (error_worker, error_on_page, error_unconfirmed) =
            (worker.clone(), on_page.clone(), unconfirmed.clone());
        // The same handler goes on a port that replaces a failed worker.
        let error_on_message: js_sys::Function = on_message
            .as_ref()
            .unchecked_ref::<js_sys::Function>()
            .clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            // A worker that fails before it is ready (a Content-Security-Policy without
            // `worker-src blob:` blocks it) is replaced by the session module on this
            // page's thread, which the loader starts on request; the commands the worker
            // never ran go to it (a port keeps them until the session module listens).
            if error_unconfirmed.borrow().is_some() && !error_on_page.get() {
                if let Some(port) = start_session_on_page() {
                    port.set_onmessage(Some(&error_on_message));
                    post(
                        &port,
                        error_unconfirmed.borrow().as_deref().unwrap_or_default(),
                    );
                    *error_worker.borrow_mut() = port;
                    error_on_page.set(true);
                    return;
                }
            }
            // A load failure is a plain Event; a script error an ErrorEvent with a message.
            let message = js_sys::Reflect::get(&event, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "it could not be loaded".into());
            (error_sink.borrow_mut())(vec![Update::WorkerFailed(format!(
                "the session worker failed: {message}"
            ))]);
        });
        worker
            .borrow()
            .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker
            .borrow()
            .set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // What the worker said before this handler existed (its "ready" among it), kept by the
        // page's loader: a message event with no listener would be lost.
        let early_key = wasm_bindgen::JsValue::from_str("mqttWebWorkerEarly");
        if let Ok(early) = js_sys::Reflect::get(&js_sys::global(), &early_key) {
            if let Ok(early) = early.dyn_into::<js_sys::Array>() {
                for data in early.iter() {
                    handle(data);
                }
            }
            let _ = js_sys::Reflect::delete_property(
                js_sys::global().unchecked_ref::<js_sys::Object>(),
                &early_key,
            );
        }
        SessionClient {
            backend: Rc::new(Backend::Worker(WorkerLink {
                worker,
                on_page,
                unconfirmed,
                _on_message: on_message,
                _on_error: on_error,
            })),
        }
    }

    /// Whether the session runs in a worker.
    pub fn in_worker_thread(&self) -> bool {
        matches!(&*self.backend, Backend::Worker(link) if !link.on_page.get())
    }

    /// Hands a command to the session; its answer, if any, arrives as an [`Update`].
    pub fn send(&self, command: Command) {
        match &*self.backend {
            #[cfg(feature = "page-session")]
            Backend::InPage(driver) => driver.execute(command),
            Backend::Missing(sink) => {
                let sink = sink.clone();
                let why = "the page started no session (its loader script did not run)".into();
                // Later, not inside the caller: the sink must not run re-entrantly.
                gloo_timers::callback::Timeout::new(0, move || {
                    (sink.borrow_mut())(vec![Update::WorkerFailed(why)])
                })
                .forget();
            }
            Backend::Worker(link) => {
                post(&link.worker.borrow(), std::slice::from_ref(&command));
                if let Some(unconfirmed) = link.unconfirmed.borrow_mut().as_mut() {
                    unconfirmed.push(command);
                }
            }
        }
    }
}

/// Asks the page's loader to start the session module on this thread; its port, if it can.
fn start_session_on_page() -> Option<Worker> {
    let start = js_sys::Reflect::get(&js_sys::global(), &"mqttWebStartSessionOnPage".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let port = start.call0(&wasm_bindgen::JsValue::NULL).ok()?;
    // A MessagePort posts and receives structurally like a Worker.
    port.is_object().then(|| port.unchecked_into())
}

fn post(worker: &Worker, commands: &[Command]) {
    if commands.is_empty() {
        return;
    }
    let bytes = js_sys::Uint8Array::from(&encode_batch(commands)[..]);
    let buffer = bytes.buffer();
    let _ = worker.post_message_with_transfer(&buffer, &js_sys::Array::of1(&buffer));
}

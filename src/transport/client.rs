//! The UI's handle to the session: in a dedicated Web Worker when the page started one (the
//! release build does, see scripts/inline-glue.mjs), else in the page itself. Either way the
//! UI sends [`Command`]s and receives [`Update`]s in order, refusals included: both backends
//! end in the same `crate::bridge::execute`.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, Worker};

use crate::bridge::{decode_batch, encode_batch, Command, Update};
use crate::mqtt::SessionConfig;
use crate::transport::Driver;

/// Receives updates, in order. It must not call back into the client synchronously.
pub type UpdateSink = Rc<RefCell<dyn FnMut(Vec<Update>)>>;

#[derive(Clone)]
pub struct SessionClient {
    backend: Rc<Backend>,
}

enum Backend {
    InPage(Driver),
    Worker(WorkerLink),
}

struct WorkerLink {
    worker: Worker,
    /// Commands wait here until the worker says it is ready (a message posted before its
    /// wasm has started would be lost).
    waiting: Rc<RefCell<Option<Vec<Command>>>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::ErrorEvent)>,
}

impl SessionClient {
    /// The session runs in this page (tests, `?worker=0`, or when no worker was started).
    pub fn in_page(config: SessionConfig, sink: UpdateSink) -> SessionClient {
        let driver = Driver::new(
            config,
            Box::new(move |updates| (sink.borrow_mut())(updates)),
        );
        SessionClient {
            backend: Rc::new(Backend::InPage(driver)),
        }
    }

    /// The session runs in `worker` (started from the worker bin's glue).
    pub fn in_worker(worker: Worker, sink: UpdateSink) -> SessionClient {
        let waiting: Rc<RefCell<Option<Vec<Command>>>> = Rc::new(RefCell::new(Some(Vec::new())));
        let ready_queue = waiting.clone();
        let worker_for_flush = worker.clone();
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
                if let Some(queued) = ready_queue.borrow_mut().take() {
                    post(&worker_for_flush, &queued);
                }
            }
            (message_sink.borrow_mut())(updates);
        });
        let on_message_handle = handle.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            on_message_handle(event.data());
        });
        let error_sink = sink.clone();
        let on_error =
            Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |event: web_sys::ErrorEvent| {
                (error_sink.borrow_mut())(vec![Update::WorkerFailed(format!(
                    "the session worker failed: {}",
                    event.message()
                ))]);
            });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
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
                waiting,
                _on_message: on_message,
                _on_error: on_error,
            })),
        }
    }

    /// Whether the session runs in a worker.
    pub fn in_worker_thread(&self) -> bool {
        matches!(*self.backend, Backend::Worker(_))
    }

    /// Hands a command to the session; its answer, if any, arrives as an [`Update`].
    pub fn send(&self, command: Command) {
        match &*self.backend {
            Backend::InPage(driver) => driver.execute(command),
            Backend::Worker(link) => {
                if let Some(queue) = link.waiting.borrow_mut().as_mut() {
                    queue.push(command);
                    return;
                }
                post(&link.worker, &[command]);
            }
        }
    }
}

fn post(worker: &Worker, commands: &[Command]) {
    if commands.is_empty() {
        return;
    }
    let bytes = js_sys::Uint8Array::from(&encode_batch(commands)[..]);
    let buffer = bytes.buffer();
    let _ = worker.post_message_with_transfer(&buffer, &js_sys::Array::of1(&buffer));
}

//! The UI's handle to the session: in a dedicated Web Worker when the page started one (the
//! release build does, see scripts/inline-glue.mjs), else in the page itself. Either way the
//! UI sends commands and receives [`Update`]s in order; publishes are answered by ticket.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, Worker};

use crate::bridge::{decode_updates, encode_commands, Command, CommandKind, Update};
use crate::mqtt::{topic, ConnectOptions, QoS, SessionConfig};
use crate::state::connection::validate_broker_url;
use crate::transport::Driver;

/// Receives updates, in order. It must not call back into the client synchronously.
pub type UpdateSink = Rc<RefCell<dyn FnMut(Vec<Update>)>>;

#[derive(Clone)]
pub struct SessionClient {
    backend: Rc<Backend>,
    next_ticket: Rc<Cell<u64>>,
}

enum Backend {
    InPage { driver: Driver, sink: UpdateSink },
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
    /// The session runs in this page (tests, or when no worker could be started).
    pub fn in_page(config: SessionConfig, sink: UpdateSink) -> SessionClient {
        let events_sink = sink.clone();
        let driver = Driver::new(
            config,
            Box::new(move |events| {
                (events_sink.borrow_mut())(events.into_iter().map(Update::Session).collect())
            }),
        );
        SessionClient {
            backend: Rc::new(Backend::InPage { driver, sink }),
            next_ticket: Rc::default(),
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
                (message_sink.borrow_mut())(vec![refused_connect(text)]);
                return;
            }
            let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() else {
                return;
            };
            let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
            let updates = match decode_updates(&bytes) {
                Ok(updates) => updates,
                Err(e) => vec![refused_connect(format!(
                    "session worker sent a bad batch: {}",
                    e.0
                ))],
            };
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
                (error_sink.borrow_mut())(vec![refused_connect(format!(
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
            next_ticket: Rc::default(),
        }
    }

    /// Whether the session runs in a worker.
    pub fn in_worker_thread(&self) -> bool {
        matches!(*self.backend, Backend::Worker(_))
    }

    pub fn connect(&self, url: &str, options: ConnectOptions) -> Result<(), String> {
        validate_broker_url(url)?;
        match &*self.backend {
            Backend::InPage { driver, .. } => driver.connect(url, options),
            Backend::Worker(link) => {
                link.send(Command::Connect {
                    url: url.trim().to_string(),
                    options,
                });
                Ok(())
            }
        }
    }

    /// How long publishes made while offline may wait for the connection.
    pub fn set_outbox_expiry(&self, ms: u64) {
        match &*self.backend {
            Backend::InPage { driver, .. } => driver.set_outbox_expiry(ms),
            Backend::Worker(link) => link.send(Command::SetOutboxExpiry { ms }),
        }
    }

    pub fn disconnect(&self) {
        match &*self.backend {
            Backend::InPage { driver, .. } => driver.disconnect(),
            Backend::Worker(link) => link.send(Command::Disconnect),
        }
    }

    /// Checks the filter here (the message goes next to the field); the session answers a
    /// refusal it finds later (e.g. not connected) as an [`Update::Refused`].
    pub fn subscribe(&self, filter: &str, qos: QoS) -> Result<(), String> {
        topic::validate_filter(filter).map_err(|why| format!("invalid topic filter: {why}"))?;
        match &*self.backend {
            Backend::InPage { driver, .. } => {
                driver.subscribe(filter, qos).map_err(|e| e.to_string())
            }
            Backend::Worker(link) => {
                link.send(Command::Subscribe {
                    filter: filter.to_string(),
                    qos,
                });
                Ok(())
            }
        }
    }

    pub fn unsubscribe(&self, filter: &str) -> Result<(), String> {
        match &*self.backend {
            Backend::InPage { driver, .. } => driver.unsubscribe(filter).map_err(|e| e.to_string()),
            Backend::Worker(link) => {
                link.send(Command::Unsubscribe {
                    filter: filter.to_string(),
                });
                Ok(())
            }
        }
    }

    /// A ticket for the next publish: register it in the state before calling `publish`,
    /// whose answer may arrive at once.
    pub fn new_ticket(&self) -> u64 {
        let ticket = self.next_ticket.get() + 1;
        self.next_ticket.set(ticket);
        ticket
    }

    /// Starts a publish; `Update::Accepted` or `Update::Refused` answers its ticket, then the
    /// outcomes follow as session events.
    pub fn publish(&self, ticket: u64, topic_name: &str, payload: Vec<u8>, qos: QoS, retain: bool) {
        match &*self.backend {
            Backend::InPage { driver, sink } => {
                let answer = match driver.publish(topic_name, payload, qos, retain) {
                    Ok(id) => Update::Accepted { ticket, id },
                    Err(e) => Update::Refused {
                        kind: CommandKind::Publish,
                        ticket,
                        subject: topic_name.to_string(),
                        reason: e.to_string(),
                    },
                };
                // After the driver's own events; the state keeps early outcomes by id.
                (sink.borrow_mut())(vec![answer]);
            }
            Backend::Worker(link) => link.send(Command::Publish {
                ticket,
                topic: topic_name.to_string(),
                payload,
                qos,
                retain,
            }),
        }
    }
}

impl WorkerLink {
    fn send(&self, command: Command) {
        if let Some(queue) = self.waiting.borrow_mut().as_mut() {
            queue.push(command);
            return;
        }
        post(&self.worker, &[command]);
    }
}

fn post(worker: &Worker, commands: &[Command]) {
    if commands.is_empty() {
        return;
    }
    let bytes = js_sys::Uint8Array::from(&encode_commands(commands)[..]);
    let buffer = bytes.buffer();
    let _ = worker.post_message_with_transfer(&buffer, &js_sys::Array::of1(&buffer));
}

fn refused_connect(reason: String) -> Update {
    Update::Refused {
        kind: CommandKind::Connect,
        ticket: 0,
        subject: String::new(),
        reason,
    }
}

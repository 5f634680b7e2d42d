//! The session worker: runs the [`Driver`] (WebSocket, timer, session) off the UI thread and
//! sends the UI one batch of updates per frame at most, as a transferred byte buffer.
//! Timers in a dedicated worker are not throttled like a background tab's, which keeps the
//! keepalive honest (and the session tolerates late timers anyway).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::bridge::{decode_commands, encode_update, Command, CommandKind, Update};
use crate::mqtt::SessionConfig;
use crate::transport::Driver;

/// Longest a batch waits before it is posted (about one frame).
const FLUSH_MS: u32 = 16;

/// Batches updates and posts them to the UI.
#[derive(Clone)]
struct Outbox {
    scope: DedicatedWorkerGlobalScope,
    buffer: Rc<RefCell<Vec<u8>>>,
    scheduled: Rc<Cell<bool>>,
}

impl Outbox {
    fn push(&self, update: &Update) {
        encode_update(&mut self.buffer.borrow_mut(), update);
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
            .post_message_with_transfer(&buffer, &js_sys::Array::of1(&buffer));
    }
}

/// Entry point of the worker bin.
pub fn run() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
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
        Box::new(move |events| {
            for event in events {
                events_outbox.push(&Update::Session(event));
            }
        }),
    );
    let command_outbox = outbox.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>() else {
            return;
        };
        let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
        match decode_commands(&bytes) {
            Ok(commands) => {
                for command in commands {
                    execute(&driver, command, &command_outbox);
                }
            }
            Err(e) => command_outbox.push(&Update::Refused {
                kind: CommandKind::Connect,
                ticket: 0,
                subject: String::new(),
                reason: format!("session worker got a bad command batch: {}", e.0),
            }),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    outbox.push(&Update::Ready);
    outbox.flush();
}

fn execute(driver: &Driver, command: Command, outbox: &Outbox) {
    let refused = |kind, ticket, subject: &str, reason: String| Update::Refused {
        kind,
        ticket,
        subject: subject.to_string(),
        reason,
    };
    match command {
        Command::Connect { url, options } => {
            if let Err(why) = driver.connect(&url, options) {
                outbox.push(&refused(CommandKind::Connect, 0, &url, why));
            }
        }
        Command::Disconnect => driver.disconnect(),
        Command::SetOutboxExpiry { ms } => driver.set_outbox_expiry(ms),
        Command::Subscribe { filter, qos } => {
            if let Err(why) = driver.subscribe(&filter, qos) {
                outbox.push(&refused(
                    CommandKind::Subscribe,
                    0,
                    &filter,
                    why.to_string(),
                ));
            }
        }
        Command::Unsubscribe { filter } => {
            if let Err(why) = driver.unsubscribe(&filter) {
                outbox.push(&refused(
                    CommandKind::Unsubscribe,
                    0,
                    &filter,
                    why.to_string(),
                ));
            }
        }
        Command::Publish {
            ticket,
            topic,
            payload,
            qos,
            retain,
        } => match driver.publish(&topic, payload, qos, retain) {
            Ok(id) => outbox.push(&Update::Accepted { ticket, id }),
            Err(why) => outbox.push(&refused(
                CommandKind::Publish,
                ticket,
                &topic,
                why.to_string(),
            )),
        },
    }
}

//! Start-up: reads the URL, starts the session (in its worker or in the page), provides the
//! store and the command handle, and mounts the root view. Nothing imports this module but
//! the binaries and the browser tests.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::bridge::{Command, Update};
use crate::components::App;
#[cfg(feature = "page-session")]
use crate::mqtt::SessionConfig;
use crate::mqtt::{ConnectOptions, Event, QoS};
use crate::params::{default_broker_url, UrlParams};
use crate::store::{AppStore, Commands};
use crate::transport::client::{SessionClient, UpdateSink};
use crate::transport::clock;

/// Mounts the app from the page's URL. (The binary's `main` has set the panic hook.)
pub fn start() {
    let params = UrlParams::from_location();
    if params.bench_session {
        bench_session_only(&params);
        return;
    }
    mount_into(document().body().expect("page has a body"), params);
}

/// Mounts the app into `parent` with these settings (the browser tests mount it too).
pub fn mount_into(parent: web_sys::HtmlElement, params: UrlParams) {
    leptos::mount::mount_to(parent, move || {
        let store = AppStore::new();
        let sink: UpdateSink = Rc::new(RefCell::new(move |updates| store.absorb(updates)));
        let client = session_client(sink);
        let commands = Commands::new(client);
        if let Some(seconds) = params.outbox_expiry_s {
            commands.send(Command::SetOutboxExpiry {
                ms: seconds.saturating_mul(1000),
            });
        }
        provide_context(store);
        provide_context(commands);
        view! { <App params=params.clone() /> }
    })
    .forget();
}

/// The session as the page's loader started it: `globalThis.mqttWebWorker` is a Worker, or
/// the page's end of a MessageChannel when `mqttWebSessionThread` is "page" (`?worker=0`).
/// Without either, the session inside this binary (feature `page-session`), else none.
fn session_client(sink: UpdateSink) -> SessionClient {
    let global = js_sys::global();
    let endpoint = js_sys::Reflect::get(&global, &"mqttWebWorker".into())
        .ok()
        .filter(|e| e.is_object());
    let on_page = js_sys::Reflect::get(&global, &"mqttWebSessionThread".into())
        .ok()
        .and_then(|t| t.as_string())
        .is_some_and(|t| t == "page");
    match endpoint {
        // Both a Worker and a MessagePort post and receive structurally alike.
        Some(endpoint) => SessionClient::in_worker(endpoint.unchecked_into(), on_page, sink),
        #[cfg(feature = "page-session")]
        None => SessionClient::in_page(
            SessionConfig {
                seed: (js_sys::Math::random() * 1e15) as u64,
                ..SessionConfig::default()
            },
            sink,
        ),
        #[cfg(not(feature = "page-session"))]
        None => SessionClient::missing(sink),
    }
}

/// `?bench=session&worker=0&broker=…&sub=…`: the session alone on this page's thread (no
/// UI, no worker),
/// counting messages into `globalThis.mqttWebBench` ([count, first, last]) for the benchmark.
fn bench_session_only(params: &UrlParams) {
    // [count, first arrival ms, last arrival ms]: a typed array is cheap to update per batch.
    let counter = js_sys::Float64Array::new_with_length(3);
    let _ = js_sys::Reflect::set(&js_sys::global(), &"mqttWebBench".into(), &counter);
    let count = std::cell::Cell::new(0u64);
    let sink: UpdateSink = Rc::new(RefCell::new(move |updates: Vec<Update>| {
        let before = count.get();
        let received = updates
            .iter()
            .filter(|u| matches!(u, Update::Session(Event::Message(_))))
            .count() as u64;
        count.set(before + received);
        if received > 0 {
            let now = clock::now_ms() as f64;
            if before == 0 {
                counter.set_index(1, now);
            }
            counter.set_index(2, now);
            counter.set_index(0, count.get() as f64);
        }
    }));
    let client = session_client(sink);
    client.send(Command::Connect {
        url: params.broker.clone().unwrap_or_else(default_broker_url),
        failover: Vec::new(),
        options: ConnectOptions {
            client_id: params
                .client_id
                .clone()
                .unwrap_or_else(|| "mqtt-web-bench".into()),
            ..Default::default()
        },
    });
    for filter in &params.subs {
        client.send(Command::Subscribe {
            filter: filter.clone(),
            qos: QoS::AtLeastOnce,
        });
    }
    // Lives as long as the page.
    std::mem::forget(client);
}

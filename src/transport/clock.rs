//! Clocks, read only here: the session gets time as an argument.

use std::cell::OnceCell;

use wasm_bindgen::JsCast;

thread_local! {
    // Looked up once: the transport reads the clock for every frame it receives.
    static PERFORMANCE: OnceCell<Option<web_sys::Performance>> = const { OnceCell::new() };
}

/// Monotonic milliseconds (`performance.now()`), in a window or a worker.
pub fn now_ms() -> u64 {
    PERFORMANCE.with(|cell| {
        let performance = cell.get_or_init(|| {
            js_sys::Reflect::get(&js_sys::global(), &"performance".into())
                .ok()
                .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        });
        match performance {
            Some(p) => p.now() as u64,
            None => wall_ms(),
        }
    })
}

/// Wall-clock milliseconds since the Unix epoch (for "last seen" and message times).
pub fn wall_ms() -> u64 {
    js_sys::Date::now() as u64
}

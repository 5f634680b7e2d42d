//! Clocks, read only here: the session gets time as an argument.

use wasm_bindgen::JsCast;

/// Monotonic milliseconds (`performance.now()`), in a window or a worker.
pub fn now_ms() -> u64 {
    let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok());
    match performance {
        Some(p) => p.now() as u64,
        None => wall_ms(),
    }
}

/// Wall-clock milliseconds since the Unix epoch (for "last seen" and message times).
pub fn wall_ms() -> u64 {
    js_sys::Date::now() as u64
}

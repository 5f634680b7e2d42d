//! The app's one wasm module. The page instantiates it to mount the UI; the session worker
//! instantiates the same compiled module, which the page posts to it (scripts/inline-glue.mjs),
//! so the session and the runtime both sides share are downloaded and compiled once.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    // The worker's global scope has no `document`: there this module is the session.
    let on_page = js_sys::Reflect::has(&js_sys::global(), &"document".into()).unwrap_or(false);
    if on_page {
        mqtt_web::app::start();
    } else {
        mqtt_web::transport::worker::run();
    }
}

/// Called by the page's loader when the session runs on the page's thread (`?worker=0`, or
/// a page that may not start workers): the UI holds the other end of `port`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn serve_in_page(port: web_sys::MessagePort) {
    mqtt_web::transport::worker::serve(port);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("mqtt-web is a browser app: build it with `trunk build` (see README.md).");
}

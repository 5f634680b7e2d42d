//! The session worker bin: started by the page from Blob URLs (see scripts/inline-glue.mjs).
#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    mqtt_web::transport::worker::run();
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
    eprintln!("the session worker runs in a browser (see README.md)");
}

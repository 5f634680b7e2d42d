//! The session worker bin: started by the page from Blob URLs (see scripts/inline-glue.mjs).
#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    mqtt_web::transport::worker::run();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the session worker runs in a browser (see README.md)");
}

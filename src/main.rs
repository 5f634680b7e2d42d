#[cfg(target_arch = "wasm32")]
fn main() {
    mqtt_web::app::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("mqtt-web is a browser app: build it with `trunk build` (see README.md).");
}

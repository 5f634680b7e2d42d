//! A browser MQTT 3.1.1 client.
//!
//! The pure parts (`mqtt`, `state`, `mesh`) build and test natively; the browser parts
//! (`transport`, `components`, `app`) exist only on wasm32.

pub mod bridge;
pub mod decimal;
pub mod device_update;
pub mod json;
pub mod mesh;
pub mod mqtt;
pub mod params;
pub mod state;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod store;
#[cfg(target_arch = "wasm32")]
pub mod transport;

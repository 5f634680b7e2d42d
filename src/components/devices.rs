//! Device list built from traffic: liveness, last seen, latest readings with sparklines.

use leptos::prelude::*;

use crate::components::fields::{text_field, InputAttrs};
use crate::components::{shown_when, use_now, ScrollBox};
use crate::decimal::fixed;
use crate::mesh::format_node_id;
use crate::state::devices::{Device, DeviceFind, DeviceKind, Liveness, ReadingValue};
use crate::state::display::format_relative;
use crate::state::StateStoreFields;
use crate::store::use_store;

/// Where the device list sends a picked target (the send-to-node form listens).
#[derive(Clone, Copy)]
pub struct PickedTarget(pub RwSignal<Option<(String, DeviceKind)>>);

/// Pitch of a device row when windowed: its fixed height plus the gap (as in style/:
/// `.devices.windowed > li.device`).
const ROW_PX: f64 = 96.0;

#[component]
pub fn DevicesPanel() -> impl IntoView {
    let store = use_store();
    let now = use_now();
    let picked = expect_context::<PickedTarget>();
    // Empty: each kind's default (10 min generic, 2 h Meshtastic).
    let stale_minutes = RwSignal::new(String::new());
    let stale_override = move || {
        crate::decimal::parse(&stale_minutes.get())
            .filter(|m| *m > 0.0)
            .map(|m| (m * 60_000.0) as u64)
    };

    let devices = store.state().devices();
    let filter = RwSignal::new(String::new());
    let scroll = ScrollBox::new(ROW_PX);
    // The devices in view, cloned per change; rows are keyed by (kind, id, revision), so
    // only a device whose data moved is rebuilt. Liveness and "last seen" follow the clock
    // inside each row. Up to 2,000 devices are kept; beyond 100 only the rows in view are
    // rendered.
    let window = Memo::new(move |_| {
        let find = DeviceFind::parse(&filter.get());
        devices.with(|devices| {
            let matching: Vec<&Device> = devices
                .devices_by_last_seen()
                .into_iter()
                .filter(|d| d.matches(&find))
                .collect();
            let window = scroll.window(matching.len());
            let rows = matching[window.start..window.end]
                .iter()
                .map(|d| (*d).clone())
                .collect::<Vec<Device>>();
            (window, devices.len(), rows)
        })
    });
    let rows = move || window.with(|(_, _, rows)| rows.clone());
    // Memoised: every row reads it, and the window changes with each scroll step and each
    // device update while this flips only at 100 devices; a plain derived signal would re-run
    // every row's "show all" check on every change of the window.
    let windowed: Signal<bool> =
        Memo::new(move |_| window.with(|(w, _, _)| w.is_windowed())).into();
    let padding = move |after: bool| window.with(|(w, _, _)| w.padding_style(ROW_PX, after));
    let count = move || {
        window.with(|(w, all, _)| match (w.total, *all) {
            (_, 0) => String::new(),
            (shown, all) if shown == all => format!("{all} devices"),
            (shown, all) => format!("{shown} of {all} devices"),
        })
    };
    let stale_after = Signal::derive(stale_override);
    let empty = move || devices.with(|devices| devices.is_empty());
    view! {
        <div class="toolbar">
            {text_field("field narrow", "Stale after (min)", "", stale_minutes, InputAttrs {
                step: Some("any"),
                ..InputAttrs::NUMBER.range(0, None).placeholder("auto")
            })}
            {text_field("field grow", "Find", "device-filter", filter, InputAttrs {
                title: Some("Finds ids, names and hardware that contain the text; =id finds that device alone"),
                ..InputAttrs::SEARCH.placeholder("id, name or hardware")
            })}
            <span data-testid="device-count" class="device-count" aria-live="polite">{count}</span>
        </div>
        {shown_when(empty, move || view! {
            <p class="hint">"Devices appear from " <code>"devices/<id>/status"</code> ", " <code>"sensors/<id>/<kind>"</code>
                " and Meshtastic " <code>"msh/#"</code> " traffic: subscribe to them (or " <code>"#"</code> ")."</p>
        })}
        <ul class=move || if windowed.get() { "devices windowed" } else { "devices" }
            aria-label="Devices" on:scroll=move |ev| scroll.on_scroll(ev)>
            <li class="pad" aria-hidden="true" style=move || padding(false)></li>
            <For each=rows key=|d| (d.kind, d.id.clone(), d.revision)
                children=move |d| device_row(d, now, stale_after, picked, windowed, filter) />
            <li class="pad" aria-hidden="true" style=move || padding(true)></li>
        </ul>
    }
}

/// One device. In a windowed list (`windowed`) its row has a fixed height; "show all" then
/// puts `=<id>` in Find (`filter`): the list shrinks to this device and shows it in full.
fn device_row(
    device: Device,
    now: RwSignal<u64>,
    stale_override: Signal<Option<u64>>,
    picked: PickedTarget,
    windowed: Signal<bool>,
    filter: RwSignal<String>,
) -> impl IntoView {
    let id = device.id.clone();
    let kind = device.kind;
    let (last_seen, online) = (device.last_seen_ms, device.online);
    let liveness = move || {
        let stale = stale_override
            .get()
            .unwrap_or_else(|| kind.default_stale_after_ms());
        Liveness::of(online, last_seen, now.get(), stale)
    };
    let title = match (&device.name, &device.short_name) {
        (Some(name), Some(short)) => format!("{name} ({short})"),
        (Some(name), None) => name.clone(),
        _ => String::new(),
    };
    let readings: Vec<_> = device
        .readings
        .iter()
        .map(|(key, reading)| {
            let value = match &reading.value {
                // Coordinates need metres, not kilometres.
                ReadingValue::Number(n) if matches!(key.as_str(), "latitude" | "longitude") => {
                    fixed(*n, 5)
                }
                ReadingValue::Number(n) => format_number(*n),
                ReadingValue::Text(t) => t.clone(),
            };
            let unit = reading.unit.clone().unwrap_or_default();
            let spark = (reading.history.len() >= 2).then(|| sparkline(&reading.history));
            view! {
                <li class="reading"><span class="reading-key">{key.clone()}</span>
                    <span class="reading-value">{value} " " {unit}</span>{spark}</li>
            }
        })
        .collect_view();
    let pick_id = id.clone();
    let find_id = id.clone();
    let may_overflow = device.may_overflow_a_row();
    view! {
        <li data-testid="device" class=move || format!("device {}", liveness().as_str()) data-device-id=id.clone()
            data-online=move || liveness().is_online().to_string()>
            <div class="device-head">
                <span class=move || format!("badge {}", liveness().as_str())>{move || liveness().as_str()}</span>
                <span class="device-id">{id.clone()}</span>
                <span class="device-name">{title}</span>
                <span class="device-seen">{move || format_relative(now.get().saturating_sub(last_seen))}</span>
                <button type="button" class="small" title="Send to this device"
                    on:click=move |_| picked.0.set(Some((pick_id.clone(), kind)))>"Send…"</button>
            </div>
            {hardware_line(&device).map(|hw| view! { <div class="device-hw">{hw}</div> })}
            {device.last_text.clone().map(|text| view! { <div class="device-text">"“" {text} "”"</div> })}
            <ul class="readings">{readings}</ul>
            {move || (may_overflow && windowed.get()).then(|| {
                let find_id = find_id.clone();
                view! {
                    <button type="button" class="small show-all" title="List this device alone, in full"
                        on:click=move |_| filter.set(DeviceFind::exactly(&find_id))>"show all"</button>
                }
            })}
        </li>
    }
}

/// "RAK4631 · ROUTER · via !0000aaaa, !0000bbbb" (what is known of it).
fn hardware_line(device: &Device) -> Option<String> {
    let mut parts: Vec<String> = [&device.hardware, &device.role]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if !device.via.is_empty() {
        let via: Vec<String> = device.via.iter().map(|g| format_node_id(*g)).collect();
        parts.push(format!("via {}", via.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

fn format_number(n: f64) -> String {
    let decimals = if n.fract() == 0.0 { 0 } else { 2 };
    fixed(n, decimals)
}

/// A small inline SVG line over the recent values.
fn sparkline(values: &[f64]) -> impl IntoView {
    let (w, h) = (80.0, 18.0);
    let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let span = if max > min { max - min } else { 1.0 };
    let step = w / (values.len() - 1) as f64;
    let points = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (x, y) = (i as f64 * step, h - 1.0 - (v - min) / span * (h - 2.0));
            format!("{},{}", fixed(x, 1), fixed(y, 1))
        })
        .collect::<Vec<_>>()
        .join(" ");
    view! {
        <svg class="spark" viewBox="0 0 80 18" width="80" height="18" role="img"
            aria-label=format!("last {} values, {} to {}", values.len(), format_number(min), format_number(max))>
            <polyline points=points fill="none" stroke="currentColor" stroke-width="1.5" />
        </svg>
    }
}

//! Settings read from the page URL on load:
//! `?broker=…&client_id=…&username=…&sub=…&sub=…&connect=1&outbox_expiry=<s>`.
//! (`worker=0`, the session on the page's thread, is the loader's: scripts/inline-glue.mjs.)
//!
//! Anyone can send the user a link, so this is untrusted input: it is only parsed here, never
//! acted on; the views decide what a parameter may do. Plain Rust, tested natively.

/// What the URL asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlParams {
    pub broker: Option<String>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    /// `sub` (repeatable): topic filters to subscribe to.
    pub subs: Vec<String>,
    /// `connect=1`: connect on load.
    pub connect: bool,
    /// `outbox_expiry` (seconds): how long offline publishes wait before they are dropped.
    pub outbox_expiry_s: Option<u64>,
    /// `bench=session`: the benchmark's session-only page (no UI).
    pub bench_session: bool,
    /// `protocol=5` (or `4`): the MQTT version preselected in the connect form.
    pub protocol: Option<u8>,
}

/// At most this many `sub` parameters are taken (a link cannot flood the session).
pub const MAX_URL_SUBS: usize = 64;

impl UrlParams {
    /// Parses a query string (`location.search`, with or without the leading `?`).
    pub fn from_query(query: &str) -> UrlParams {
        let mut params = UrlParams::default();
        let query = query.strip_prefix('?').unwrap_or(query);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(key), Some(value)) = (form_decode(key), form_decode(value)) else {
                continue;
            };
            let non_empty = (!value.is_empty()).then(|| value.clone());
            match key.as_str() {
                "broker" => params.broker = non_empty,
                "client_id" => params.client_id = non_empty,
                "username" => params.username = non_empty,
                "sub" if !value.is_empty() && params.subs.len() < MAX_URL_SUBS => {
                    params.subs.push(value)
                }
                "connect" => params.connect = value == "1" || value == "true",
                "outbox_expiry" => params.outbox_expiry_s = value.parse().ok(),
                "bench" => params.bench_session = value == "session",
                "protocol" => params.protocol = value.parse().ok().filter(|v| *v == 4 || *v == 5),
                _ => {}
            }
        }
        params
    }

    /// The page's own URL parameters.
    #[cfg(target_arch = "wasm32")]
    pub fn from_location() -> UrlParams {
        let search = leptos::prelude::window()
            .location()
            .search()
            .unwrap_or_default();
        UrlParams::from_query(&search)
    }
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space, `%XX` a byte); `None` for
/// a malformed escape or bytes that are not UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                let hex = std::str::from_utf8(&hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// The broker used when the URL names none: the build's setting under `trunk serve` (see
/// README), else the page's own origin at `/mqtt`.
#[cfg(target_arch = "wasm32")]
pub fn default_broker_url() -> String {
    let location = leptos::prelude::window().location();
    default_broker_for(
        &location.protocol().unwrap_or_default(),
        &location.host().unwrap_or_default(),
    )
}

/// [`default_broker_url`] for a page at `protocol` (`http:`, `https:`) and `host`
/// (`name:port`). The loader's preconnect computes the same in JS (scripts/preconnect.mjs).
pub fn default_broker_for(protocol: &str, host: &str) -> String {
    if let Some(url) = option_env!("MQTT_WEB_DEFAULT_BROKER").filter(|u| !u.is_empty()) {
        return url.to_string();
    }
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    if host.is_empty() {
        "ws://127.0.0.1:9001/mqtt".to_string()
    } else {
        format!("{scheme}://{host}/mqtt")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_is_read_and_decoded() {
        let p = UrlParams::from_query(
            "?broker=ws%3A%2F%2F127.0.0.1%3A19001%2Fmqtt&client_id=a+b&username=%C3%A9&sub=devices%2F%23&sub=x/%2B&connect=1&worker=0&outbox_expiry=3&protocol=5",
        );
        assert_eq!(
            p,
            UrlParams {
                broker: Some("ws://127.0.0.1:19001/mqtt".into()),
                client_id: Some("a b".into()),
                username: Some("é".into()),
                subs: vec!["devices/#".into(), "x/+".into()],
                connect: true,
                outbox_expiry_s: Some(3),
                bench_session: false,
                protocol: Some(5),
            }
        );
    }

    #[test]
    fn empty_unknown_and_malformed_parameters_are_ignored() {
        let p = UrlParams::from_query(
            "broker=&sub=&connect=yes&x=1&client_id=%zz&username=%FF&outbox_expiry=-1&protocol=6&&=",
        );
        assert_eq!(p, UrlParams::default());
    }

    #[test]
    fn a_link_cannot_ask_for_unbounded_subscriptions() {
        let query: String = (0..1000).map(|i| format!("sub=t/{i}&")).collect();
        assert_eq!(UrlParams::from_query(&query).subs.len(), MAX_URL_SUBS);
    }

    #[test]
    fn the_default_broker_is_the_pages_origin_at_mqtt() {
        if option_env!("MQTT_WEB_DEFAULT_BROKER").is_some_and(|u| !u.is_empty()) {
            return; // a development build points at its local broker instead
        }
        assert_eq!(
            default_broker_for("http:", "host:8080"),
            "ws://host:8080/mqtt"
        );
        assert_eq!(default_broker_for("https:", "host"), "wss://host/mqtt");
        assert_eq!(default_broker_for("file:", ""), "ws://127.0.0.1:9001/mqtt");
    }

    #[test]
    fn the_benchmark_page_is_recognised() {
        assert!(UrlParams::from_query("?bench=session&broker=ws://h/mqtt").bench_session);
    }

    proptest::proptest! {
        /// Any query string (a link is untrusted): no panic, the caps hold, and a broker
        /// parameter is taken only as text, never acted on here.
        #[test]
        fn any_query_parses_without_panic_within_the_caps(query in "[?&=%+a-z0-9_/#.:\\-é\u{0}]{0,300}") {
            let params = UrlParams::from_query(&query);
            proptest::prop_assert!(params.subs.len() <= MAX_URL_SUBS);
            proptest::prop_assert!(params.subs.iter().all(|s| !s.is_empty()));
        }
    }

    #[test]
    fn a_flood_of_subs_is_capped_and_bad_escapes_are_skipped() {
        let query: String = (0..10_000).map(|i| format!("sub=t/{i}&")).collect();
        let params = UrlParams::from_query(&query);
        assert_eq!(params.subs.len(), MAX_URL_SUBS);
        assert_eq!(params.subs[0], "t/0");
        let params = UrlParams::from_query("broker=%ZZ&client_id=%E9&username=ok");
        assert_eq!((params.broker, params.client_id), (None, None));
        assert_eq!(params.username.as_deref(), Some("ok"));
    }
}

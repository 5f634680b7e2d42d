//! `fault-proxy`: a test-only WebSocket proxy that sits between a browser MQTT client and a
//! local mosquitto and injects transport faults on command, so the end-to-end tests can check
//! how the client copes with dropped connections, stalls, missing PINGRESPs, odd WebSocket
//! framing of MQTT packets and malformed input.
//!
//! ```text
//! fault-proxy --listen 127.0.0.1:<port|0> --upstream 127.0.0.1:<broker ws port> --control 127.0.0.1:<port|0>
//! ```
//!
//! It prints one line, `listening ws=<port> control=<port>`, once both ports accept
//! connections. Every address must be loopback (127.0.0.0/8 or ::1). It exits when its standard
//! input reaches end of file (so a dying test harness takes it along: spawn it with a stdin
//! pipe, not /dev/null), or on `quit`.
//!
//! Each client WebSocket (the `mqtt` subprotocol is echoed when offered) gets its own
//! WebSocket to `ws://<upstream>/mqtt`; frames are pumped both ways and a close on either side
//! closes the other the same way (close frame for close frame, bare TCP close for bare TCP
//! close). Client→broker frames pass unchanged. Broker→client bytes are split into MQTT packets
//! (fixed header + remaining length) so PINGRESPs can be withheld and the stream re-chunked.
//!
//! The control port speaks lines (see [`control::HELP`]); answers are `ok ...` or
//! `error ...`, one per line. Modes apply to every open connection and to later ones:
//! - `drop`: TCP-shutdown every client connection and its broker connection, no close frames.
//! - `stall on|off`: stop forwarding both ways (reading goes on, into buffers; closes are held
//!   too) / resume and flush.
//! - `pingresp withhold|pass`: swallow PINGRESP (`d0 00`) from the broker, or not.
//! - `chunk none|one|random <seed>|coalesce`: broker→client frames as they come / one byte per
//!   frame / 1..=64-byte frames from a seeded xorshift / complete packets held up to 20 ms and
//!   sent together.
//! - `inject <hex>`: one binary frame with these bytes to every client (bypasses stall and
//!   chunking).
//! - `text <string>`: one text frame to every client.
//! - `stats`: `ok connections=<accepted> open=<now> c2s_bytes=.. s2c_bytes=..
//!   pingresp_withheld=.. frames_to_client=..`.
//! - `quit`: exit.
//!
//! Unit tests: `cargo test --example fault-proxy`. End-to-end self-check against mosquitto with
//! MQTT.js: `node tests/fault_proxy/selfcheck.mjs target/debug/examples/fault-proxy`.
// Native only (tungstenite is a native dev-dependency).
#![cfg(not(target_arch = "wasm32"))]
// Under the test harness (`cargo test --example fault-proxy`, or as an auto-discovered
// tests/*/main.rs integration test) `main` and what only it uses are unused.
#![cfg_attr(test, allow(dead_code))]

mod control;
mod framing;
mod pump;
mod state;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use state::Shared;

const USAGE: &str = "usage: fault-proxy --listen 127.0.0.1:<port|0> --upstream 127.0.0.1:<port> \
--control 127.0.0.1:<port|0>";

#[derive(Debug, PartialEq)]
struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
    control: SocketAddr,
}

fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("fault-proxy: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let bind = |addr: SocketAddr, what: &str| {
        TcpListener::bind(addr).unwrap_or_else(|e| {
            eprintln!("fault-proxy: cannot listen for {what} on {addr}: {e}");
            std::process::exit(1);
        })
    };
    let ws = bind(args.listen, "WebSocket clients");
    let control = bind(args.control, "control");
    let port = |l: &TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0);
    let (ws_port, control_port) = (port(&ws), port(&control));

    exit_on_stdin_eof();
    let shared = Arc::new(Shared::new(args.upstream));
    {
        let shared = shared.clone();
        start_thread("control", move || control::serve(shared, control));
    }

    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening ws={ws_port} control={control_port}");
    let _ = stdout.flush();

    for stream in ws.incoming() {
        match stream {
            Ok(stream) => {
                let shared = shared.clone();
                // Out of threads: the connection is dropped, the proxy goes on.
                let _ = thread::Builder::new().spawn(move || pump::serve(shared, stream));
            }
            // E.g. out of file descriptors: back off instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Exits the process once standard input is closed.
fn exit_on_stdin_eof() {
    start_thread("stdin", || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        std::process::exit(0);
    });
}

/// Starts one of the proxy's own threads; without it the proxy cannot work, so it exits.
fn start_thread(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = thread::Builder::new().name(name.to_string()).spawn(f) {
        eprintln!("fault-proxy: cannot start the {name} thread: {e}");
        std::process::exit(1);
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut listen, mut upstream, mut control) = (None, None, None);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        let slot = match flag.as_str() {
            "--listen" => &mut listen,
            "--upstream" => &mut upstream,
            "--control" => &mut control,
            "-h" | "--help" => return Err("help requested".to_string()),
            _ => return Err(format!("unknown argument {flag:?}")),
        };
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("{flag} needs an address"))?,
        };
        *slot = Some(loopback(&flag, &value)?);
    }
    let need = |v: Option<SocketAddr>, flag: &str| v.ok_or_else(|| format!("{flag} is required"));
    let args = Args {
        listen: need(listen, "--listen")?,
        upstream: need(upstream, "--upstream")?,
        control: need(control, "--control")?,
    };
    if args.upstream.port() == 0 {
        return Err("--upstream needs a real port".to_string());
    }
    Ok(args)
}

/// Parses `ip:port` (or `localhost:port`) and refuses anything but a loopback address.
fn loopback(flag: &str, value: &str) -> Result<SocketAddr, String> {
    let bad = || format!("{flag} {value:?} is not an ip:port address");
    let addr = match value.strip_prefix("localhost:") {
        Some(port) => SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port.parse().map_err(|_| bad())?,
        ),
        None => value.parse().map_err(|_| bad())?,
    };
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{flag} {value}: only loopback addresses (127.0.0.0/8, ::1) are allowed"
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn accepts_loopback_only() {
        let ok = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream=127.0.0.2:9001",
            "--control",
            "[::1]:0",
        ])
        .unwrap();
        assert_eq!(ok.upstream, "127.0.0.2:9001".parse().unwrap());
        assert_eq!(ok.control, "[::1]:0".parse().unwrap());
        assert!(parse(&[
            "--listen",
            "localhost:0",
            "--upstream",
            "127.0.0.1:1",
            "--control",
            "127.0.0.1:0"
        ])
        .is_ok());
        for bad in [
            "0.0.0.0:0",
            "10.0.0.1:1883",
            "[::]:0",
            "[::ffff:127.0.0.1]:1",
            "example.com:80",
            "127.0.0.1",
        ] {
            let err = parse(&[
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                bad,
                "--control",
                "127.0.0.1:0",
            ]);
            assert!(err.is_err(), "{bad} accepted");
        }
        assert!(parse(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0"
        ])
        .is_err());
        assert!(parse(&["--listen", "127.0.0.1:0"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}

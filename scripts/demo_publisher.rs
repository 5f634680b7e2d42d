//! Demo publisher: feeds a local MQTT broker with simulated devices so the browser app has live
//! data to show during development (`scripts/start.sh` runs it next to the local mosquitto).
//!
//! It drives the app's own sans-IO session (`mqtt_web::mqtt::Session`) over a blocking
//! `std::net::TcpStream`, as the browser's `transport::Driver` does over a WebSocket: one loop
//! opens and closes the stream when the session asks, writes its packets, feeds it what it
//! reads, and waits in `read` until the session's timer or the next round is due. Keepalive,
//! acknowledgements and reconnecting (with backoff) are the session's.
//!
//! While connected it publishes, every `--interval-ms`:
//! - generic devices `greenhouse-1`, `boiler-room`, `demo-gateway`: retained QoS 1
//!   `devices/<id>/status` (on connect and every 10 rounds) and QoS 0
//!   `sensors/<id>/{temperature,humidity[,pressure]}` following a daily cycle (UTC time of day)
//!   plus noise;
//! - three Meshtastic nodes as JSON uplinks on `msh/US/2/json/LongFast/!da5ad56c` (nodeinfo,
//!   telemetry, position, the odd text); every telemetry packet is published again as heard by
//!   a second gateway `!c0ffee01` with the same packet id, to exercise de-duplication.
//!
//! Its last will sets `devices/demo-gateway/status` to `{"status":"offline"}` (retained), so
//! killing the process (no signal handler on purpose) shows the gateway going offline. With
//! `--count N` it publishes N rounds, waits for the broker to acknowledge the QoS 1 ones, sends
//! DISCONNECT and exits. It connects only to the host given with `--host` (default 127.0.0.1).

use mqtt_web::mqtt::{
    ConnectOptions, DisconnectReason, Event, LastWill, Millis, PublishId, PublishOutcome, QoS,
    Session, SessionConfig, Transmit, TransportError,
};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str =
    "usage: demo-publisher [--host HOST] [--port PORT] [--interval-ms MS] [--count N] [--verbose]
  --host HOST        broker host (default 127.0.0.1)
  --port PORT        broker MQTT/TCP port (default 1883)
  --interval-ms MS   time between publishing rounds (default 2000)
  --count N          publish N rounds, then DISCONNECT and exit (default: run until killed)
  --verbose          print a summary line per round
  --help             show this help";

const KEEP_ALIVE_SECS: u16 = 30;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// With `--count`, how long to wait for the last acknowledgements before giving up.
const DRAIN_MS: Millis = 10_000;
const WILL_TOPIC: &str = "devices/demo-gateway/status";
const WILL_PAYLOAD: &str = r#"{"status":"offline"}"#;
const GATEWAY: u32 = 0xda5a_d56c;
const SECOND_GATEWAY: u32 = 0xc0ff_ee01;
const BROADCAST: u32 = 0xffff_ffff;

#[derive(Debug, PartialEq)]
struct Options {
    host: String,
    port: u16,
    interval_ms: Millis,
    count: Option<u64>,
    verbose: bool,
}

/// Returns `Ok(None)` for `--help`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        host: "127.0.0.1".into(),
        port: 1883,
        interval_ms: 2000,
        count: None,
        verbose: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        if flag == "--verbose" {
            opts.verbose = true;
            continue;
        }
        if !["--host", "--port", "--interval-ms", "--count"].contains(&flag.as_str()) {
            return Err(format!("unknown option {flag}"));
        }
        let Some(value) = inline.or_else(|| args.next()) else {
            return Err(format!("{flag} needs a value"));
        };
        let bad = |what: &str| format!("invalid {flag} value {value:?}: expected {what}");
        match flag.as_str() {
            "--host" if !value.is_empty() => opts.host = value,
            "--port" => opts.port = value.parse().map_err(|_| bad("a port number"))?,
            "--interval-ms" => match value.parse::<u64>() {
                Ok(ms) if ms > 0 => opts.interval_ms = ms,
                _ => return Err(bad("a positive number of milliseconds")),
            },
            "--count" => opts.count = Some(value.parse().map_err(|_| bad("a number"))?),
            _ => return Err(bad("a host name or address")),
        }
    }
    Ok(Some(opts))
}

fn connect_options() -> ConnectOptions {
    ConnectOptions {
        client_id: format!("demo-publisher-{}", std::process::id()),
        keepalive_secs: KEEP_ALIVE_SECS,
        clean_session: true,
        last_will: Some(LastWill {
            topic: WILL_TOPIC.into(),
            payload: WILL_PAYLOAD.into(),
            qos: QoS::AtLeastOnce,
            retain: true,
        }),
        ..ConnectOptions::default()
    }
}

fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last_err = io::Error::other(format!("{host} resolved to no address"));
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
                return Ok(stream);
            }
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

/// The session's link over TCP, plus what the demo needs to know about its progress.
struct Driver {
    session: Session,
    epoch: Instant,
    host: String,
    port: u16,
    stream: Option<TcpStream>,
    /// QoS 1 publishes the broker has not acknowledged yet.
    unacked: HashSet<PublishId>,
    connected: bool,
    last_failure: String,
    verbose: bool,
}

impl Driver {
    fn new(opts: &Options, seed: u64) -> Driver {
        let config = SessionConfig {
            connack_timeout_ms: 5_000,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 5_000,
            seed,
            ..SessionConfig::default()
        };
        Driver {
            session: Session::new(config),
            epoch: Instant::now(),
            host: opts.host.clone(),
            port: opts.port,
            stream: None,
            unacked: HashSet::new(),
            connected: false,
            last_failure: String::new(),
            verbose: opts.verbose,
        }
    }

    fn now(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }

    /// Carries out the link actions, then returns the events (after noting them).
    fn pump(&mut self) -> Vec<Event> {
        while let Some(transmit) = self.session.poll_transmit() {
            match transmit {
                Transmit::Open => {
                    self.close();
                    match connect_tcp(&self.host, self.port) {
                        Ok(stream) => {
                            self.stream = Some(stream);
                            self.session.handle_open(self.now());
                        }
                        Err(e) => {
                            let error = TransportError::OpenFailed(e.to_string());
                            self.session.handle_closed(error, self.now());
                        }
                    }
                }
                Transmit::Bytes(bytes) => {
                    // No stream: its link already failed and the session knows.
                    let written = self.stream.as_mut().map(|s| s.write_all(&bytes));
                    if let Some(Err(e)) = written {
                        self.lost(e.to_string());
                    }
                }
                Transmit::Close => self.close(),
            }
        }
        let events: Vec<Event> = std::iter::from_fn(|| self.session.poll_event()).collect();
        events.iter().for_each(|e| self.note(e));
        events
    }

    fn close(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn lost(&mut self, why: String) {
        self.close();
        self.session
            .handle_closed(TransportError::Other(why), self.now());
    }

    fn note(&mut self, event: &Event) {
        let target = format!("{}:{}", self.host, self.port);
        match event {
            Event::Connected { .. } => {
                let id = connect_options().client_id;
                eprintln!("demo-publisher: connected to {target} as {id}");
                self.connected = true;
                self.last_failure.clear();
            }
            Event::ConnectionLost(DisconnectReason::User) => self.connected = false,
            Event::ConnectionLost(why) if self.connected => {
                eprintln!("demo-publisher: connection to {target} lost: {why}; reconnecting");
                self.connected = false;
            }
            Event::ConnectionLost(why) => {
                let why = why.to_string();
                if why != self.last_failure {
                    eprintln!("demo-publisher: cannot connect to {target}: {why} (retrying)");
                    self.last_failure = why;
                }
            }
            Event::ReconnectScheduled { attempt, delay_ms } if self.verbose => {
                eprintln!("demo-publisher: reconnect attempt {attempt} in {delay_ms} ms");
            }
            Event::Publish { id, outcome } => match outcome {
                PublishOutcome::Acked => {
                    self.unacked.remove(id);
                }
                PublishOutcome::Failed(why) => {
                    self.unacked.remove(id);
                    eprintln!("demo-publisher: a publish failed: {why}");
                }
                PublishOutcome::Sent | PublishOutcome::Queued => {}
            },
            _ => {}
        }
    }

    /// Every publish goes through here (the one call of `Session::publish`).
    fn publish(&mut self, msg: Msg) {
        let payload = msg.payload.to_string().into_bytes();
        let now = self.now();
        match self
            .session
            .publish(&msg.topic, payload, msg.qos, msg.retain, now)
        {
            Ok(id) if msg.qos != QoS::AtMostOnce => {
                self.unacked.insert(id);
            }
            Ok(_) => {}
            Err(e) => eprintln!("demo-publisher: cannot publish on {}: {e}", msg.topic),
        }
    }

    /// Reads from the broker until `until` or the session's timer, whichever is first, then
    /// runs the timer if it is due.
    fn wait(&mut self, until: Option<Millis>) {
        let until = [until, self.session.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let now = self.now();
        let timeout = until.map(|t| Duration::from_millis(t.saturating_sub(now).max(1)));
        let mut buf = [0u8; 4096];
        let read = match self.stream.as_mut() {
            Some(stream) => stream
                .set_read_timeout(timeout)
                .and_then(|_| stream.read(&mut buf)),
            None => {
                std::thread::sleep(timeout.unwrap_or(Duration::from_secs(1)));
                Err(io::ErrorKind::WouldBlock.into())
            }
        };
        match read {
            Ok(0) => self.lost("connection closed by the broker".into()),
            Ok(n) => self.session.handle_bytes(&buf[..n], self.now()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => self.lost(e.to_string()),
        }
        if self.session.poll_timeout().is_some_and(|t| self.now() >= t) {
            self.session.handle_timeout(self.now());
        }
    }
}

/// Connects and publishes rounds until killed, or until `--count` rounds are out and
/// acknowledged (then disconnects and returns).
fn run(opts: &Options, sim: &mut Sim, seed: u64) -> Result<(), String> {
    let mut driver = Driver::new(opts, seed);
    let now = driver.now();
    driver
        .session
        .connect(connect_options(), now)
        .map_err(|e| e.to_string())?;
    // When the next round is due; `None` while not connected (nothing is queued offline).
    let mut next_round: Option<Millis> = None;
    let mut drain_until: Option<Millis> = None;
    loop {
        for event in driver.pump() {
            match event {
                Event::Connected { .. } => {
                    sim.announce();
                    next_round = Some(driver.now());
                }
                Event::ConnectionLost(_) => next_round = None,
                _ => {}
            }
        }
        let now = driver.now();
        if opts.count.is_some_and(|n| sim.round >= n) {
            let until = *drain_until.get_or_insert(now + DRAIN_MS);
            if driver.unacked.is_empty() || now >= until {
                let unacked = driver.unacked.len();
                driver.session.disconnect(now);
                driver.pump();
                if unacked > 0 {
                    return Err(format!("{unacked} QoS 1 publish(es) never acknowledged"));
                }
                return Ok(());
            }
            driver.wait(Some(until));
        } else if let Some(due) = next_round {
            if now < due {
                driver.wait(Some(due));
                continue;
            }
            let messages = sim.next_round(unix_now());
            if opts.verbose {
                let (round, n) = (sim.round, messages.len());
                eprintln!("demo-publisher: round {round}: {n} messages");
            }
            messages.into_iter().for_each(|m| driver.publish(m));
            next_round = Some(now + opts.interval_ms);
        } else {
            driver.wait(None);
        }
    }
}

fn main() {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("demo-publisher: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let mut rng = Rng::seeded();
    let seed = rng.next_u64();
    let mut sim = Sim::new(rng);
    match run(&opts, &mut sim, seed) {
        Ok(()) => eprintln!(
            "demo-publisher: published {} round(s), disconnected",
            sim.round
        ),
        Err(e) => {
            eprintln!("demo-publisher: {e}");
            std::process::exit(1);
        }
    }
}

// ----- the simulated content -----

/// xorshift64: plenty for simulated noise and packet ids.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-amp, amp].
    fn noise(&mut self, amp: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (unit * 2.0 - 1.0) * amp
    }
    fn packet_id(&mut self) -> u32 {
        ((self.next_u64() >> 32) as u32).max(1)
    }
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (x * m).round() / m
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One message of a round.
#[derive(Debug)]
struct Msg {
    topic: String,
    payload: Value,
    qos: QoS,
    retain: bool,
}

/// (name, unit, daily mean, daily amplitude (peak at 15:00 UTC), noise, decimals, min, max)
type Sensor = (&'static str, &'static str, f64, f64, f64, i32, f64, f64);

#[derive(Clone)]
struct Device {
    id: &'static str,
    sensors: &'static [Sensor],
    battery: f64,
    drain: f64,
    signal: f64,
    uptime_base: u64,
}

#[rustfmt::skip]
const DEVICES: [Device; 3] = [
    Device { id: "greenhouse-1", battery: 87.0, drain: 0.02, signal: -67.0, uptime_base: 3 * 86_400 + 4_211, sensors: &[
        ("temperature", "°C", 24.0, 6.0, 0.3, 1, -40.0, 80.0),
        ("humidity", "%", 68.0, -12.0, 1.5, 1, 0.0, 100.0),
    ] },
    Device { id: "boiler-room", battery: 64.0, drain: 0.05, signal: -78.0, uptime_base: 17 * 86_400 + 921, sensors: &[
        ("temperature", "°C", 38.0, 3.0, 0.4, 1, -40.0, 120.0),
        ("humidity", "%", 32.0, 4.0, 1.0, 1, 0.0, 100.0),
        ("pressure", "bar", 1.8, 0.12, 0.03, 2, 0.0, 6.0),
    ] },
    Device { id: "demo-gateway", battery: 100.0, drain: 0.0, signal: -52.0, uptime_base: 52_000, sensors: &[
        ("temperature", "°C", 21.5, 1.5, 0.2, 1, -40.0, 80.0),
        ("humidity", "%", 45.0, -5.0, 1.0, 1, 0.0, 100.0),
    ] },
];

#[derive(Clone)]
struct Node {
    num: u32,
    long: &'static str,
    short: &'static str,
    hardware: &'static str,
    text: &'static str,
    lat: f64,
    lon: f64,
    altitude: i64,
    rssi: f64,
    snr: f64,
    battery: f64,
}

#[rustfmt::skip]
const NODES: [Node; 3] = [
    Node { num: 0xa1b2_c3d4, long: "Hilltop Relay", short: "HILL", hardware: "RAK4631",
        text: "hello from the hill", lat: 47.3977, lon: 8.5423, altitude: 312, rssi: -95.0, snr: 6.25, battery: 87.0 },
    Node { num: 0x0bad_cafe, long: "Kayak", short: "KYK", hardware: "TBEAM",
        text: "paddling back, ETA 20 min", lat: 47.3512, lon: 8.5601, altitude: 406, rssi: -108.0, snr: -2.5, battery: 71.0 },
    Node { num: 0x1234_5678, long: "Base Camp", short: "BASE", hardware: "HELTEC_V3",
        text: "dinner at 7 at base camp", lat: 47.4203, lon: 8.5012, altitude: 455, rssi: -82.0, snr: 9.5, battery: 96.0 },
];

struct Sim {
    rng: Rng,
    started: Instant,
    /// Rounds published so far.
    round: u64,
    status_due: u64,
    nodeinfo_due: u64,
    devices: Vec<Device>,
    nodes: Vec<Node>,
}

impl Sim {
    fn new(rng: Rng) -> Sim {
        Sim {
            rng,
            started: Instant::now(),
            round: 0,
            status_due: 0,
            nodeinfo_due: 0,
            devices: DEVICES.to_vec(),
            nodes: NODES.to_vec(),
        }
    }

    /// Announce everything afresh (statuses, node infos) in the next round: on every connection.
    fn announce(&mut self) {
        self.status_due = self.round;
        self.nodeinfo_due = self.round;
    }

    /// Daily sinusoid over the UTC time of day (peak at 15:00) plus noise, clamped.
    fn reading(&mut self, s: &Sensor, now: u64) -> f64 {
        let &(_, _, mean, amplitude, noise, decimals, min, max) = s;
        let phase = ((now % 86_400) as f64 - 9.0 * 3600.0) / 86_400.0 * std::f64::consts::TAU;
        let v = mean + amplitude * phase.sin() + self.rng.noise(noise);
        round_to(v.clamp(min, max), decimals)
    }

    /// One uplink of `node` as heard by `gateway`.
    fn uplink(
        &mut self,
        gateway: u32,
        node: usize,
        id: u32,
        kind: &str,
        payload: Value,
        now: u64,
    ) -> Msg {
        let n = &self.nodes[node];
        let weaker = if gateway == GATEWAY { 0.0 } else { 9.0 };
        let rssi = (n.rssi - weaker + self.rng.noise(3.0)).round() as i64;
        let snr = ((n.snr - weaker / 2.0 + self.rng.noise(1.5)) * 4.0).round() / 4.0;
        Msg {
            topic: format!("msh/US/2/json/LongFast/!{gateway:08x}"),
            payload: json!({
                "channel": 0,
                "from": n.num,
                "hops_away": 0,
                "id": id,
                "payload": payload,
                "rssi": rssi,
                "sender": format!("!{gateway:08x}"),
                "snr": snr,
                "timestamp": now,
                "to": BROADCAST,
                "type": kind,
            }),
            qos: QoS::AtMostOnce,
            retain: false,
        }
    }

    /// The messages of the next round (at `now`, Unix seconds).
    fn next_round(&mut self, now: u64) -> Vec<Msg> {
        let round = self.round;
        let mut out = Vec::new();
        let status = round >= self.status_due;
        for d in 0..self.devices.len() {
            let signal_noise = self.rng.noise(1.0);
            let dev = &mut self.devices[d];
            dev.battery = (dev.battery - dev.drain).max(5.0);
            dev.signal = (dev.signal + signal_noise).clamp(-95.0, -40.0);
            let (id, sensors) = (dev.id, dev.sensors);
            if status {
                out.push(Msg {
                    topic: format!("devices/{id}/status"),
                    payload: json!({
                        "status": "online",
                        "battery_level": dev.battery.round() as i64,
                        "signal_strength": dev.signal.round() as i64,
                        "uptime": dev.uptime_base + self.started.elapsed().as_secs(),
                        "firmware_version": "1.4.2",
                    }),
                    qos: QoS::AtLeastOnce,
                    retain: true,
                });
            }
            for s in sensors {
                out.push(Msg {
                    topic: format!("sensors/{id}/{}", s.0),
                    payload: json!({ "value": self.reading(s, now), "unit": s.1, "timestamp": now }),
                    qos: QoS::AtMostOnce,
                    retain: false,
                });
            }
        }
        if status {
            self.status_due = round + 10;
        }
        let nodeinfo = round >= self.nodeinfo_due;
        for i in 0..self.nodes.len() {
            let offset = i as u64;
            if nodeinfo {
                let n = &self.nodes[i];
                let payload = json!({
                    "hardware": n.hardware,
                    "id": format!("!{:08x}", n.num),
                    "longname": n.long,
                    "shortname": n.short,
                });
                let id = self.rng.packet_id();
                out.push(self.uplink(GATEWAY, i, id, "nodeinfo", payload, now));
            }
            if (round + offset).is_multiple_of(3) {
                let (air, util) = (self.rng.noise(0.8), self.rng.noise(2.5));
                let n = &mut self.nodes[i];
                n.battery = (n.battery - 0.05).max(5.0);
                let payload = json!({
                    "air_util_tx": round_to(1.2 + air, 2),
                    "battery_level": n.battery.round() as i64,
                    "channel_utilization": round_to(5.4 + util, 2),
                    "voltage": round_to(3.3 + n.battery / 100.0 * 0.9, 2),
                });
                let id = self.rng.packet_id();
                for gw in [GATEWAY, SECOND_GATEWAY] {
                    out.push(self.uplink(gw, i, id, "telemetry", payload.clone(), now));
                }
            }
            if (round + offset).is_multiple_of(5) {
                if self.nodes[i].hardware == "TBEAM" {
                    // The kayak drifts about.
                    let (dlat, dlon) = (self.rng.noise(0.0004), self.rng.noise(0.0004));
                    let n = &mut self.nodes[i];
                    n.lat = (n.lat + dlat).clamp(47.33, 47.37);
                    n.lon = (n.lon + dlon).clamp(8.54, 8.58);
                }
                let n = &self.nodes[i];
                let payload = json!({
                    "altitude": n.altitude,
                    "latitude_i": (n.lat * 1e7).round() as i64,
                    "longitude_i": (n.lon * 1e7).round() as i64,
                    "time": now,
                });
                let id = self.rng.packet_id();
                out.push(self.uplink(GATEWAY, i, id, "position", payload, now));
            }
        }
        if nodeinfo {
            self.nodeinfo_due = round + 30;
        }
        if round % 7 == 3 {
            let i = (round / 7) as usize % self.nodes.len();
            let payload = json!({ "text": self.nodes[i].text });
            let id = self.rng.packet_id();
            out.push(self.uplink(GATEWAY, i, id, "text", payload, now));
        }
        self.round += 1;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use mqttbytes::v4::{read, ConnAck, ConnectReturnCode, Packet, PingResp, PubAck};
    use std::net::TcpListener;

    fn args(list: &[&str]) -> Result<Option<Options>, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_the_options() {
        let all = ["--host", "localhost", "--port=1884", "--interval-ms", "50"];
        let o = args(&[&all[..], &["--count", "3", "--verbose"]].concat());
        let expected = Options {
            host: "localhost".into(),
            port: 1884,
            interval_ms: 50,
            count: Some(3),
            verbose: true,
        };
        assert_eq!(o, Ok(Some(expected)));
        let defaults = args(&[]).unwrap().unwrap();
        assert_eq!((defaults.host.as_str(), defaults.port), ("127.0.0.1", 1883));
        assert_eq!((defaults.interval_ms, defaults.count), (2000, None));
        assert_eq!(args(&["--port", "1", "--help"]), Ok(None));
        let bad: [&[&str]; 5] = [
            &["--interval-ms", "0"],
            &["--port", "x"],
            &["--count"],
            &["--host="],
            &["--nope"],
        ];
        for list in bad {
            assert!(args(list).is_err(), "{list:?}");
        }
    }

    fn count(msgs: &[Msg], prefix: &str) -> usize {
        msgs.iter().filter(|m| m.topic.starts_with(prefix)).count()
    }

    #[test]
    fn rounds_announce_on_connect_then_follow_their_cadence() {
        let mut sim = Sim::new(Rng(42));
        let first = sim.next_round(1_700_000_000);
        let statuses: Vec<_> = first
            .iter()
            .filter(|m| m.topic.starts_with("devices/"))
            .collect();
        assert_eq!(statuses.len(), 3);
        assert!(statuses
            .iter()
            .all(|m| m.retain && m.qos == QoS::AtLeastOnce));
        assert_eq!(count(&first, "sensors/"), 7);
        assert!(first
            .iter()
            .filter(|m| !m.topic.starts_with("devices/"))
            .all(|m| m.qos == QoS::AtMostOnce && !m.retain));
        // Node 0's telemetry is heard by both gateways, with one packet id.
        let telemetry: Vec<_> = first
            .iter()
            .filter(|m| m.payload["type"] == "telemetry")
            .collect();
        assert_eq!(telemetry.len(), 2);
        assert_eq!(telemetry[0].topic, "msh/US/2/json/LongFast/!da5ad56c");
        assert_eq!(telemetry[1].topic, "msh/US/2/json/LongFast/!c0ffee01");
        assert_eq!(telemetry[0].payload["id"], telemetry[1].payload["id"]);
        assert_eq!(
            first
                .iter()
                .filter(|m| m.payload["type"] == "nodeinfo")
                .count(),
            3
        );

        let second = sim.next_round(1_700_000_002);
        assert_eq!(count(&second, "devices/"), 0);
        assert_eq!(
            second
                .iter()
                .filter(|m| m.payload["type"] == "nodeinfo")
                .count(),
            0
        );
        sim.announce(); // a reconnection
        let third = sim.next_round(1_700_000_004);
        assert_eq!(count(&third, "devices/"), 3);
        assert_eq!(
            third
                .iter()
                .filter(|m| m.payload["type"] == "nodeinfo")
                .count(),
            3
        );
        assert_eq!(sim.round, 3);
    }

    fn next_packet(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Packet> {
        loop {
            match read(buf, 1 << 20) {
                Ok(packet) => return Some(packet),
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => panic!("demo publisher sent garbage: {e:?}"),
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Just enough broker: drops the first connection right after its CONNECT, then answers
    /// CONNECT, QoS 1 PUBLISH and PINGREQ on the second until DISCONNECT or EOF.
    fn fake_broker(listener: TcpListener) -> Vec<Packet> {
        let (mut first, _) = listener.accept().unwrap();
        first
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let packet = next_packet(&mut first, &mut BytesMut::new());
        assert!(matches!(packet, Some(Packet::Connect(_))), "{packet:?}");
        drop(first);
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (mut buf, mut seen) = (BytesMut::new(), Vec::new());
        while let Some(packet) = next_packet(&mut stream, &mut buf) {
            let mut out = BytesMut::new();
            match &packet {
                Packet::Connect(_) => {
                    ConnAck::new(ConnectReturnCode::Success, false).write(&mut out)
                }
                Packet::Publish(p) if p.pkid != 0 => PubAck::new(p.pkid).write(&mut out),
                Packet::PingReq => PingResp.write(&mut out),
                _ => Ok(0),
            }
            .unwrap();
            stream.write_all(&out).unwrap();
            let end = packet == Packet::Disconnect;
            seen.push(packet);
            if end {
                break;
            }
        }
        seen
    }

    #[test]
    fn drives_the_session_over_tcp_reconnects_and_ends_cleanly() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let broker = std::thread::spawn(move || fake_broker(listener));
        let opts = Options {
            host: "127.0.0.1".into(),
            port,
            interval_ms: 20,
            count: Some(2),
            verbose: false,
        };
        let mut sim = Sim::new(Rng(7));
        assert_eq!(run(&opts, &mut sim, 1), Ok(()));
        assert_eq!(sim.round, 2);
        let seen = broker.join().unwrap();
        let Some(Packet::Connect(connect)) = seen.first() else {
            panic!("{seen:?}");
        };
        let will = connect.last_will.as_ref().unwrap();
        assert_eq!(
            (will.topic.as_str(), &will.message[..]),
            (WILL_TOPIC, WILL_PAYLOAD.as_bytes())
        );
        assert!(will.retain && connect.clean_session && connect.keep_alive == KEEP_ALIVE_SECS);
        assert_eq!(seen.last(), Some(&Packet::Disconnect));
        let topics: Vec<(&str, bool)> = seen
            .iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => Some((p.topic.as_str(), p.retain)),
                _ => None,
            })
            .collect();
        assert!(topics.contains(&("devices/demo-gateway/status", true)));
        assert!(topics.contains(&("sensors/boiler-room/pressure", false)));
        assert!(topics.contains(&("msh/US/2/json/LongFast/!c0ffee01", false)));
        assert_eq!(
            topics
                .iter()
                .filter(|t| t.0.starts_with("sensors/"))
                .count(),
            14
        );
    }
}

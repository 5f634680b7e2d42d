//! Demo publisher: feeds a local MQTT broker with simulated devices so the browser app has live
//! data to show during development (`scripts/start.sh` runs it next to the local mosquitto).
//!
//! It drives the app's own sans-IO `mqtt_web::mqtt::Session` over a blocking `TcpStream`, as
//! `transport::Driver` does over a WebSocket: one loop opens and closes the stream when the
//! session asks, writes its packets, feeds it what it reads and waits in `read` until the
//! session's timer or the next round is due. Keepalive, acks and reconnecting (with backoff)
//! are the session's.
//!
//! While connected it publishes, every `--interval-ms`:
//! - for `greenhouse-1`, `boiler-room` and `demo-gateway`: retained QoS 1 `devices/<id>/status`
//!   (on connect and every 10 rounds) and QoS 0 `sensors/<id>/{temperature,humidity[,pressure]}`
//!   following a daily cycle (UTC time of day) plus noise;
//! - three Meshtastic nodes as JSON uplinks on `msh/US/2/json/LongFast/!da5ad56c` (nodeinfo,
//!   telemetry, position, the odd text); every telemetry packet is published again as heard by
//!   a second gateway `!c0ffee01` with the same packet id, to exercise de-duplication;
//! - three more Meshtastic nodes the way current firmware uplinks them: encrypted protobuf
//!   `ServiceEnvelope`s on `msh/EU_868/2/e/LongFast/!<gateway>` (channel LongFast, default key
//!   `AQ==`, built with `mqtt_web::mesh::envelope::build_uplink_envelope`): `Lakeside Weather`
//!   (`!e2e0b101`, SEEED_SOLAR_NODE, SENSOR; device and environment telemetry), `Harbour
//!   Master` (`!e2e0b102`, STATION_G2, ROUTER) and `Trail Runner` (`!e2e0b103`,
//!   TRACKER_T1000_E, TRACKER; moves about). They send NODEINFO, POSITION, TELEMETRY and the
//!   odd broadcast TEXT_MESSAGE_APP on the JSON nodes' cadence, and every packet is
//!   published by both gateways `!e2e0a001` (hop_limit 3 of 3, zero hops) and `!e2e0a002`
//!   (hop_limit 2, one hop away, weaker SNR/RSSI) with one packet id, for de-duplication.
//!
//! Its last will sets `devices/demo-gateway/status` to `{"status":"offline"}` (retained), so
//! killing the process (no signal handler on purpose) shows the gateway going offline. With
//! `--count N` it publishes N rounds, waits (bounded) for the QoS 1 acks, disconnects and exits.
//! It connects only to the host given with `--host` (default 127.0.0.1).

use mqtt_web::mesh::envelope::{build_uplink_envelope, UplinkBody, UplinkPacket};
use mqtt_web::mesh::{ChannelConfig, BROADCAST};
use mqtt_web::mqtt::{
    ConnectOptions, DisconnectReason, Event, LastWill, Millis, PublishId, PublishOutcome, QoS,
    Session, SessionConfig, Transmit, TransportError,
};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{self, ErrorKind, Read, Write};
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
/// With `--count`, how long to wait for the last acknowledgements.
const DRAIN_MS: Millis = 10_000;
const WILL_TOPIC: &str = "devices/demo-gateway/status";
const WILL_PAYLOAD: &str = r#"{"status":"offline"}"#;
const GATEWAY: u32 = 0xda5a_d56c;
const SECOND_GATEWAY: u32 = 0xc0ff_ee01;
/// The protobuf nodes' topic root and their two gateways.
const MESH_REGION: &str = "EU_868";
const MESH_GATEWAY: u32 = 0xe2e0_a001;
const MESH_SECOND_GATEWAY: u32 = 0xe2e0_a002;

#[derive(Debug, Clone, PartialEq)]
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
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--verbose" => opts.verbose = true,
            "--host" | "--port" | "--interval-ms" | "--count" => {
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
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(Some(opts))
}

/// The session's link over TCP, and what the demo needs to know of its progress.
struct Driver {
    session: Session,
    epoch: Instant,
    opts: Options,
    client_id: String,
    stream: Option<TcpStream>,
    /// QoS 1 publishes the broker has not acknowledged yet.
    unacked: HashSet<PublishId>,
    /// The id for the next publish (the session echoes it in `Event::Publish`).
    next_publish_id: u64,
    connected: bool,
    last_failure: String,
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
            opts: opts.clone(),
            client_id: format!("demo-publisher-{}", std::process::id()),
            stream: None,
            unacked: HashSet::new(),
            next_publish_id: 0,
            connected: false,
            last_failure: String::new(),
        }
    }

    fn now(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }

    fn connect(&mut self) -> Result<(), String> {
        let will = LastWill {
            topic: WILL_TOPIC.into(),
            payload: WILL_PAYLOAD.into(),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Default::default(),
        };
        let options = ConnectOptions {
            client_id: self.client_id.clone(),
            keepalive_secs: KEEP_ALIVE_SECS,
            clean_session: true,
            last_will: Some(will),
            ..ConnectOptions::default()
        };
        let now = self.now();
        self.session
            .connect(options, now)
            .map_err(|e| e.to_string())
    }

    /// Carries out the session's link actions, then returns its events (after noting them).
    fn pump(&mut self) -> Vec<Event> {
        while let Some(transmit) = self.session.poll_transmit() {
            match transmit {
                Transmit::Open => match self.open() {
                    Ok(stream) => {
                        self.stream = Some(stream);
                        self.session.handle_open(self.now());
                    }
                    Err(e) => {
                        let error = TransportError::OpenFailed(e.to_string());
                        self.session.handle_closed(error, self.now());
                    }
                },
                // Without a stream the link already failed, and the session knows.
                Transmit::Bytes(bytes) => {
                    if let Some(Err(e)) = self.stream.as_mut().map(|s| s.write_all(&bytes)) {
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

    fn open(&mut self) -> io::Result<TcpStream> {
        self.close();
        let (host, port) = (self.opts.host.as_str(), self.opts.port);
        let mut last_err = io::Error::other(format!("{host} resolved to no address"));
        for addr in (host, port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
                    return Ok(stream);
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    fn close(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn lost(&mut self, why: String) {
        self.close();
        let now = self.now();
        self.session.handle_closed(TransportError::Other(why), now);
    }

    fn note(&mut self, event: &Event) {
        let target = format!("{}:{}", self.opts.host, self.opts.port);
        match event {
            Event::Connected { .. } => {
                eprintln!(
                    "demo-publisher: connected to {target} as {}",
                    self.client_id
                );
                self.connected = true;
                self.last_failure.clear();
            }
            Event::ConnectionLost(why) if self.connected => {
                if *why != DisconnectReason::User {
                    eprintln!("demo-publisher: connection to {target} lost: {why}; reconnecting");
                }
                self.connected = false;
            }
            Event::ConnectionLost(why) if why.to_string() != self.last_failure => {
                self.last_failure = why.to_string();
                eprintln!("demo-publisher: cannot connect to {target}: {why} (retrying)");
            }
            Event::ReconnectScheduled { attempt, delay_ms } if self.opts.verbose => {
                eprintln!("demo-publisher: reconnect attempt {attempt} in {delay_ms} ms");
            }
            Event::Publish { id, outcome } => {
                if let PublishOutcome::Failed(why) = outcome {
                    eprintln!("demo-publisher: a publish failed: {why}");
                }
                if matches!(outcome, PublishOutcome::Acked | PublishOutcome::Failed(_)) {
                    self.unacked.remove(id);
                }
            }
            _ => {}
        }
    }

    /// Every publish goes through here (the one call of `Session::publish`).
    fn publish(&mut self, msg: Msg) {
        let (payload, now) = (msg.payload.into_bytes(), self.now());
        self.next_publish_id += 1;
        let id = PublishId(self.next_publish_id);
        match self
            .session
            .publish(id, &msg.topic, payload, msg.qos, msg.retain, now)
        {
            Ok(()) if msg.qos != QoS::AtMostOnce => _ = self.unacked.insert(id),
            Ok(()) => {}
            Err(e) => eprintln!("demo-publisher: cannot publish on {}: {e}", msg.topic),
        }
    }

    /// Reads from the broker until `until` or the session's timer, whichever comes first, then
    /// runs the timer if it is due.
    fn wait(&mut self, until: Option<Millis>) {
        let until = until.into_iter().chain(self.session.poll_timeout()).min();
        let now = self.now();
        let timeout = until.map(|t| Duration::from_millis(t.saturating_sub(now).max(1)));
        let mut buf = [0u8; 4096];
        let read = match self.stream.as_mut() {
            Some(s) => s.set_read_timeout(timeout).and_then(|_| s.read(&mut buf)),
            None => {
                std::thread::sleep(timeout.unwrap_or(Duration::from_secs(1)));
                Err(ErrorKind::WouldBlock.into())
            }
        };
        match read {
            Ok(0) => self.lost("connection closed by the broker".into()),
            Ok(n) => self.session.handle_bytes(&buf[..n], self.now()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => self.lost(e.to_string()),
        }
        if self.session.poll_timeout().is_some_and(|t| self.now() >= t) {
            self.session.handle_timeout(self.now());
        }
    }
}

/// Publishes rounds until killed, or until `--count` rounds are out and acknowledged (then
/// disconnects and returns).
fn run(opts: &Options, sim: &mut Sim, seed: u64) -> Result<(), String> {
    let mut driver = Driver::new(opts, seed);
    driver.connect()?;
    // When the next round is due; `None` while not connected (nothing is queued offline).
    let mut next_round = None;
    let mut drain_until = None;
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
                return match unacked {
                    0 => Ok(()),
                    n => Err(format!("{n} QoS 1 publish(es) not acknowledged in time")),
                };
            }
            driver.wait(Some(until));
        } else if next_round.is_some_and(|due| now >= due) {
            let messages = sim.next_round(unix_now());
            if opts.verbose {
                let (round, n) = (sim.round, messages.len());
                eprintln!("demo-publisher: round {round}: {n} messages");
            }
            messages.into_iter().for_each(|m| driver.publish(m));
            next_round = Some(now + opts.interval_ms);
        } else {
            driver.wait(next_round);
        }
    }
}

fn main() {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => return println!("{USAGE}"),
        Err(e) => {
            eprintln!("demo-publisher: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let mut rng = Rng::seeded();
    let seed = rng.next_u64();
    let mut sim = Sim::new(rng);
    if let Err(e) = run(&opts, &mut sim, seed) {
        eprintln!("demo-publisher: {e}");
        std::process::exit(1);
    }
    eprintln!(
        "demo-publisher: published {} round(s), disconnected",
        sim.round
    );
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

/// Daily sinusoid over the UTC time of day (peak at 15:00) plus noise, clamped.
fn sensor_reading(rng: &mut Rng, s: &Sensor, now: u64) -> f64 {
    let &(_, _, mean, amplitude, noise, decimals, min, max) = s;
    let phase = ((now % 86_400) as f64 - 9.0 * 3600.0) / 86_400.0 * std::f64::consts::TAU;
    let v = mean + amplitude * phase.sin() + rng.noise(noise);
    round_to(v.clamp(min, max), decimals)
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
    payload: Payload,
    qos: QoS,
    retain: bool,
}

/// What a message carries.
#[derive(Debug)]
enum Payload {
    /// Published as its compact JSON text.
    Json(Value),
    /// Published as is (a protobuf envelope).
    Binary(Vec<u8>),
}

impl Payload {
    fn into_bytes(self) -> Vec<u8> {
        match self {
            Payload::Json(value) => value.to_string().into_bytes(),
            Payload::Binary(bytes) => bytes,
        }
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Payload {
        Payload::Json(value)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Payload {
        Payload::Binary(bytes)
    }
}

fn qos0(topic: String, payload: impl Into<Payload>) -> Msg {
    let (qos, retain) = (QoS::AtMostOnce, false);
    Msg {
        topic,
        payload: payload.into(),
        qos,
        retain,
    }
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

/// A Meshtastic node; `rssi` and `snr` are as the first gateway hears it.
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
    Node { num: 0xa1b2_c3d4, long: "Hilltop Relay", short: "HILL", hardware: "RAK4631", text: "hello from the hill",
        lat: 47.3977, lon: 8.5423, altitude: 312, rssi: -95.0, snr: 6.25, battery: 87.0 },
    Node { num: 0x0bad_cafe, long: "Kayak", short: "KYK", hardware: "TBEAM", text: "paddling back, ETA 20 min",
        lat: 47.3512, lon: 8.5601, altitude: 406, rssi: -108.0, snr: -2.5, battery: 71.0 },
    Node { num: 0x1234_5678, long: "Base Camp", short: "BASE", hardware: "HELTEC_V3", text: "dinner at 7 at base camp",
        lat: 47.4203, lon: 8.5012, altitude: 455, rssi: -82.0, snr: 9.5, battery: 96.0 },
];

/// A Meshtastic node uplinked as protobuf; `rssi` and `snr` are as the first gateway hears it.
#[derive(Clone)]
struct MeshNode {
    num: u32,
    long: &'static str,
    short: &'static str,
    /// `HardwareModel` and `Config.DeviceConfig.Role` numbers.
    hw_model: u32,
    role: u32,
    text: &'static str,
    lat: f64,
    lon: f64,
    altitude: i32,
    rssi: f64,
    snr: f64,
    battery: f64,
    drain: f64,
    uptime_base: u32,
    /// Sends environment telemetry from these sensors (°C, %, hPa), after its device metrics.
    environment: &'static [Sensor],
    /// Wanders about (its position drifts).
    moves: bool,
}

#[rustfmt::skip]
const MESH_NODES: [MeshNode; 3] = [
    MeshNode { num: 0xe2e0_b101, long: "Lakeside Weather", short: "LWX", hw_model: 95, role: 6,
        text: "gusts up to 40 km/h on the lake", lat: 47.3489, lon: 8.5562, altitude: 409,
        rssi: -91.0, snr: 7.25, battery: 100.0, drain: 0.01, uptime_base: 9 * 86_400 + 1_234,
        environment: &[
            ("temperature", "°C", 14.0, 5.0, 0.3, 1, -40.0, 60.0),
            ("relative_humidity", "%", 70.0, -15.0, 1.5, 1, 0.0, 100.0),
            ("barometric_pressure", "hPa", 1013.0, 2.5, 0.4, 1, 900.0, 1100.0),
        ], moves: false },
    MeshNode { num: 0xe2e0_b102, long: "Harbour Master", short: "HRBR", hw_model: 31, role: 2,
        text: "harbour closed until 14:00", lat: 47.3663, lon: 8.5410, altitude: 408,
        rssi: -79.0, snr: 10.5, battery: 100.0, drain: 0.0, uptime_base: 41 * 86_400 + 777,
        environment: &[], moves: false },
    MeshNode { num: 0xe2e0_b103, long: "Trail Runner", short: "TRL", hw_model: 71, role: 5,
        text: "on the ridge, 5 km to go", lat: 47.3490, lon: 8.4918, altitude: 815,
        rssi: -112.0, snr: -4.0, battery: 58.0, drain: 0.08, uptime_base: 6_120,
        environment: &[], moves: true },
];

struct Sim {
    rng: Rng,
    /// The protobuf nodes' own noise and packet ids, so the JSON messages are what they would
    /// be without them.
    mesh_rng: Rng,
    started: Instant,
    /// Rounds published so far.
    round: u64,
    /// Unix seconds at the start of the current round.
    now: u64,
    status_due: u64,
    nodeinfo_due: u64,
    devices: Vec<Device>,
    nodes: Vec<Node>,
    mesh_nodes: Vec<MeshNode>,
}

impl Sim {
    fn new(rng: Rng) -> Sim {
        let mesh_rng = Rng((rng.0.rotate_left(29) ^ 0x6d65_7368_7461_7374) | 1);
        Sim {
            rng,
            mesh_rng,
            started: Instant::now(),
            round: 0,
            now: 0,
            status_due: 0,
            nodeinfo_due: 0,
            devices: DEVICES.to_vec(),
            nodes: NODES.to_vec(),
            mesh_nodes: MESH_NODES.to_vec(),
        }
    }

    /// Announce everything afresh (statuses, node infos) in the next round: on every connection.
    fn announce(&mut self) {
        self.status_due = self.round;
        self.nodeinfo_due = self.round;
    }

    /// Daily sinusoid over the UTC time of day (peak at 15:00) plus noise, clamped.
    fn reading(&mut self, s: &Sensor, now: u64) -> f64 {
        sensor_reading(&mut self.rng, s, now)
    }

    /// One packet of protobuf node `node`, as both mesh gateways uplink it: one packet id; the
    /// second gateway hears it one hop further away and weaker.
    fn mesh_uplinks(&mut self, node: usize, body: UplinkBody) -> [Msg; 2] {
        let packet_id = self.mesh_rng.packet_id();
        let n = &self.mesh_nodes[node];
        let (from, rssi, snr) = (n.num, n.rssi, n.snr);
        let rx_time = u32::try_from(self.now).unwrap_or(u32::MAX);
        [(MESH_GATEWAY, 3, 0.0), (MESH_SECOND_GATEWAY, 2, 9.0)].map(
            |(gateway, hop_limit, weaker)| {
                let rx_rssi = (rssi - weaker + self.mesh_rng.noise(3.0)).round() as i32;
                // The radio reports SNR in quarter dB.
                let rx_snr =
                    ((snr - weaker / 2.0 + self.mesh_rng.noise(1.5)) * 4.0).round() as f32 / 4.0;
                let packet = UplinkPacket {
                    region: MESH_REGION.into(),
                    channel: ChannelConfig::default_channel(),
                    gateway,
                    from,
                    to: BROADCAST,
                    packet_id,
                    hop_start: 3,
                    hop_limit,
                    rx_time,
                    rx_snr,
                    rx_rssi,
                    body: body.clone(),
                };
                let (topic, envelope) =
                    build_uplink_envelope(&packet).expect("the demo's mesh packets are valid");
                qos0(topic, envelope)
            },
        )
    }

    /// The protobuf nodes' messages of this round (`now` in Unix seconds).
    fn mesh_round(&mut self, round: u64, nodeinfo: bool, now: u64, out: &mut Vec<Msg>) {
        let uptime = self.started.elapsed().as_secs();
        for i in 0..self.mesh_nodes.len() {
            let offset = i as u64;
            if nodeinfo {
                let n = &self.mesh_nodes[i];
                let body = UplinkBody::NodeInfo {
                    long_name: n.long.into(),
                    short_name: n.short.into(),
                    hw_model: n.hw_model,
                    role: n.role,
                };
                out.extend(self.mesh_uplinks(i, body));
            }
            if (round + offset).is_multiple_of(3) {
                let (air, util) = (self.mesh_rng.noise(0.8), self.mesh_rng.noise(2.5));
                let n = &mut self.mesh_nodes[i];
                n.battery = (n.battery - n.drain).max(5.0);
                let body = UplinkBody::DeviceTelemetry {
                    battery_level: n.battery.round() as u32,
                    voltage: round_to(3.3 + n.battery / 100.0 * 0.9, 2) as f32,
                    channel_utilization: round_to(6.1 + util, 2) as f32,
                    air_util_tx: round_to(1.5 + air, 2) as f32,
                    uptime_seconds: n.uptime_base.saturating_add(uptime as u32),
                };
                let sensors = n.environment;
                out.extend(self.mesh_uplinks(i, body));
                if let [temperature, humidity, pressure] = sensors {
                    let body = UplinkBody::EnvironmentTelemetry {
                        temperature: sensor_reading(&mut self.mesh_rng, temperature, now) as f32,
                        relative_humidity: sensor_reading(&mut self.mesh_rng, humidity, now) as f32,
                        barometric_pressure: sensor_reading(&mut self.mesh_rng, pressure, now)
                            as f32,
                    };
                    out.extend(self.mesh_uplinks(i, body));
                }
            }
            if (round + offset).is_multiple_of(5) {
                if self.mesh_nodes[i].moves {
                    let (dlat, dlon) = (self.mesh_rng.noise(0.0006), self.mesh_rng.noise(0.0006));
                    let n = &mut self.mesh_nodes[i];
                    n.lat = (n.lat + dlat).clamp(47.33, 47.37);
                    n.lon = (n.lon + dlon).clamp(8.47, 8.51);
                }
                let n = &self.mesh_nodes[i];
                let body = UplinkBody::Position {
                    latitude: n.lat,
                    longitude: n.lon,
                    altitude: n.altitude,
                    time: u32::try_from(now).unwrap_or(u32::MAX),
                };
                out.extend(self.mesh_uplinks(i, body));
            }
        }
        if round % 7 == 5 {
            let i = (round / 7) as usize % self.mesh_nodes.len();
            let text = self.mesh_nodes[i].text;
            out.extend(self.mesh_uplinks(i, UplinkBody::Text(text.into())));
        }
    }

    /// A fresh packet of `node` as heard by `gateway` (the second one hears it weaker).
    fn uplink(&mut self, gateway: u32, node: usize, id: u32, kind: &str, payload: Value) -> Msg {
        let n = &self.nodes[node];
        let (num, rssi, snr, now) = (n.num, n.rssi, n.snr, self.now);
        let weaker = if gateway == GATEWAY { 0.0 } else { 9.0 };
        let rssi = (rssi - weaker + self.rng.noise(3.0)).round() as i64;
        let snr = ((snr - weaker / 2.0 + self.rng.noise(1.5)) * 4.0).round() / 4.0;
        let topic = format!("msh/US/2/json/LongFast/!{gateway:08x}");
        qos0(
            topic,
            json!({
                "channel": 0, "from": num, "hops_away": 0, "id": id, "payload": payload, "rssi": rssi,
                "sender": format!("!{gateway:08x}"), "snr": snr, "timestamp": now,
                "to": 0xffff_ffffu32, "type": kind,
            }),
        )
    }

    /// The messages of the next round (`now` in Unix seconds).
    fn next_round(&mut self, now: u64) -> Vec<Msg> {
        let (round, mut out) = (self.round, Vec::new());
        self.now = now;
        let status = round >= self.status_due;
        for d in 0..self.devices.len() {
            let signal_noise = self.rng.noise(1.0);
            let dev = &mut self.devices[d];
            dev.battery = (dev.battery - dev.drain).max(5.0);
            dev.signal = (dev.signal + signal_noise).clamp(-95.0, -40.0);
            let (id, sensors) = (dev.id, dev.sensors);
            if status {
                let payload = json!({
                    "status": "online", "battery_level": dev.battery.round() as i64,
                    "signal_strength": dev.signal.round() as i64, "firmware_version": "1.4.2",
                    "uptime": dev.uptime_base + self.started.elapsed().as_secs(),
                });
                let (topic, qos) = (format!("devices/{id}/status"), QoS::AtLeastOnce);
                out.push(Msg {
                    topic,
                    payload: payload.into(),
                    qos,
                    retain: true,
                });
            }
            for s in sensors {
                let value = self.reading(s, now);
                let payload = json!({ "value": value, "unit": s.1, "timestamp": now });
                out.push(qos0(format!("sensors/{id}/{}", s.0), payload));
            }
        }
        if status {
            self.status_due = round + 10;
        }
        let nodeinfo = round >= self.nodeinfo_due;
        for i in 0..self.nodes.len() {
            let offset = i as u64;
            if nodeinfo {
                let (id, n) = (self.rng.packet_id(), &self.nodes[i]);
                let payload = json!({
                    "hardware": n.hardware, "id": format!("!{:08x}", n.num), "longname": n.long,
                    "shortname": n.short,
                });
                out.push(self.uplink(GATEWAY, i, id, "nodeinfo", payload));
            }
            if (round + offset).is_multiple_of(3) {
                let (air, util) = (self.rng.noise(0.8), self.rng.noise(2.5));
                let id = self.rng.packet_id();
                let n = &mut self.nodes[i];
                n.battery = (n.battery - 0.05).max(5.0);
                let payload = json!({
                    "air_util_tx": round_to(1.2 + air, 2), "battery_level": n.battery.round() as i64,
                    "channel_utilization": round_to(5.4 + util, 2),
                    "voltage": round_to(3.3 + n.battery / 100.0 * 0.9, 2),
                });
                for gw in [GATEWAY, SECOND_GATEWAY] {
                    out.push(self.uplink(gw, i, id, "telemetry", payload.clone()));
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
                    "altitude": n.altitude, "latitude_i": (n.lat * 1e7).round() as i64,
                    "longitude_i": (n.lon * 1e7).round() as i64, "time": now,
                });
                let id = self.rng.packet_id();
                out.push(self.uplink(GATEWAY, i, id, "position", payload));
            }
        }
        if nodeinfo {
            self.nodeinfo_due = round + 30;
        }
        if round % 7 == 3 {
            let i = (round / 7) as usize % self.nodes.len();
            let (id, text) = (self.rng.packet_id(), self.nodes[i].text);
            out.push(self.uplink(GATEWAY, i, id, "text", json!({ "text": text })));
        }
        self.mesh_round(round, nodeinfo, now, &mut out);
        self.round += 1;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use mqtt_web::mesh::{MeshBody, MeshDecoder, MeshPacketSeen, MeshUpdate};
    use mqttbytes::v4::{read, ConnAck, ConnectReturnCode, Packet, PingResp, PubAck};
    use std::net::TcpListener;

    fn args(list: &[&str]) -> Result<Option<Options>, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_the_options() {
        let o = args(&[
            "--host",
            "::1",
            "--port=1884",
            "--interval-ms",
            "50",
            "--count",
            "3",
        ]);
        let o = o.unwrap().unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, o.interval_ms, o.count),
            ("::1", 1884, 50, Some(3))
        );
        let o = args(&["--verbose"]).unwrap().unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, o.interval_ms, o.count),
            ("127.0.0.1", 1883, 2000, None)
        );
        assert!(o.verbose);
        assert_eq!(args(&["--port", "1", "--help"]), Ok(None));
        for bad in [
            &["--interval-ms", "0"][..],
            &["--port", "x"],
            &["--count"],
            &["--host="],
            &["-x"],
        ] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
    }

    /// A JSON message's payload (null for a binary one).
    fn json(m: &Msg) -> &Value {
        static NULL: Value = Value::Null;
        match &m.payload {
            Payload::Json(value) => value,
            Payload::Binary(_) => &NULL,
        }
    }

    fn kinds(msgs: &[Msg], kind: &str) -> usize {
        let topic = |m: &&Msg| m.topic.split('/').next() == Some(kind);
        msgs.iter()
            .filter(|m| topic(m) || json(m)["type"] == kind)
            .count()
    }

    const MESH_TOPIC: &str = "msh/EU_868/2/e/LongFast/!e2e0a001";
    const MESH_SECOND_TOPIC: &str = "msh/EU_868/2/e/LongFast/!e2e0a002";

    /// The protobuf envelopes among `msgs`, decoded with the default channel, in order.
    fn mesh_packets(msgs: &[Msg]) -> Vec<(&str, MeshPacketSeen)> {
        let decoder = MeshDecoder::default();
        msgs.iter()
            .filter(|m| m.topic.starts_with("msh/EU_868/"))
            .map(|m| {
                let Payload::Binary(bytes) = &m.payload else {
                    panic!("{m:?} is not binary");
                };
                assert_eq!((m.qos, m.retain), (QoS::AtMostOnce, false), "{m:?}");
                match decoder.decode(&m.topic, bytes) {
                    Some(MeshUpdate::Packet(p)) => (m.topic.as_str(), p),
                    other => panic!("{} did not decode: {other:?}", m.topic),
                }
            })
            .collect()
    }

    /// Each packet comes twice, from the first then the second gateway, with one id: returns
    /// the first gateway's copies.
    fn heard_by_both_gateways(packets: &[(&str, MeshPacketSeen)], now: u32) -> Vec<MeshPacketSeen> {
        assert!(packets.len().is_multiple_of(2), "{packets:?}");
        packets
            .chunks(2)
            .map(|pair| {
                let [(t1, a), (t2, b)] = pair else {
                    unreachable!()
                };
                assert_eq!((*t1, *t2), (MESH_TOPIC, MESH_SECOND_TOPIC));
                assert_eq!((a.from, a.id, &a.body), (b.from, b.id, &b.body));
                assert_eq!(
                    (a.gateway, b.gateway),
                    (Some(0xe2e0_a001), Some(0xe2e0_a002))
                );
                assert_eq!((a.hops_away, b.hops_away), (Some(0), Some(1)));
                assert_eq!((a.rx_time, b.rx_time), (Some(now), Some(now)));
                assert!(a.rx_rssi.unwrap() > b.rx_rssi.unwrap(), "{a:?} {b:?}");
                assert!(a.rx_snr.unwrap() > b.rx_snr.unwrap(), "{a:?} {b:?}");
                assert_eq!((a.channel.as_str(), a.to), ("LongFast", BROADCAST));
                a.clone()
            })
            .collect()
    }

    fn node_info(long: &str, short: &str, hardware: &str, role: &str) -> MeshBody {
        MeshBody::NodeInfo {
            long_name: Some(long.into()),
            short_name: Some(short.into()),
            hardware: Some(hardware.into()),
            role: Some(role.into()),
        }
    }

    fn telemetry_names(body: &MeshBody) -> Vec<&str> {
        let MeshBody::Telemetry(fields) = body else {
            panic!("{body:?} is not telemetry");
        };
        fields.iter().map(|(name, _)| name.as_str()).collect()
    }

    #[test]
    fn rounds_announce_on_connect_then_follow_their_cadence() {
        let mut sim = Sim::new(Rng(42));
        let first = sim.next_round(1_700_000_000);
        assert_eq!(
            (kinds(&first, "devices"), kinds(&first, "nodeinfo")),
            (3, 3)
        );
        assert_eq!(kinds(&first, "sensors"), 7);
        for m in &first {
            let status = m.topic.starts_with("devices/");
            assert_eq!(
                (m.qos == QoS::AtLeastOnce, m.retain),
                (status, status),
                "{m:?}"
            );
        }
        // Node 0's telemetry is heard by both gateways, with one packet id.
        let telemetry: Vec<_> = first
            .iter()
            .filter(|m| json(m)["type"] == "telemetry")
            .collect();
        let topics: Vec<_> = telemetry.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(
            topics,
            [
                "msh/US/2/json/LongFast/!da5ad56c",
                "msh/US/2/json/LongFast/!c0ffee01"
            ]
        );
        assert_eq!(json(telemetry[0])["id"], json(telemetry[1])["id"]);

        // The protobuf nodes announce themselves too, and node 0 (the weather station) sends
        // its device and environment telemetry and its position; all through both gateways.
        let mesh = heard_by_both_gateways(&mesh_packets(&first), 1_700_000_000);
        let seen: Vec<_> = mesh.iter().map(|p| (p.from, &p.body)).collect();
        let from: Vec<_> = seen.iter().map(|(from, _)| *from).collect();
        let weather = 0xe2e0_b101;
        assert_eq!(
            from,
            [weather, weather, weather, weather, 0xe2e0_b102, 0xe2e0_b103]
        );
        assert_eq!(
            [seen[0].1, seen[4].1, seen[5].1],
            [
                &node_info("Lakeside Weather", "LWX", "SEEED_SOLAR_NODE", "SENSOR"),
                &node_info("Harbour Master", "HRBR", "STATION_G2", "ROUTER"),
                &node_info("Trail Runner", "TRL", "TRACKER_T1000_E", "TRACKER"),
            ]
        );
        assert_eq!(
            telemetry_names(seen[1].1),
            [
                "battery_level",
                "voltage",
                "channel_utilization",
                "air_util_tx",
                "uptime_seconds"
            ]
        );
        assert_eq!(
            telemetry_names(seen[2].1),
            ["temperature", "relative_humidity", "barometric_pressure"]
        );
        let MeshBody::Position {
            latitude: Some(lat),
            longitude: Some(lon),
            altitude: Some(altitude),
        } = *seen[3].1
        else {
            panic!("{:?} is not a position", seen[3]);
        };
        assert_eq!(
            ((lat * 1e4).round(), (lon * 1e4).round(), altitude),
            (473489.0, 85562.0, 409.0)
        );
        let ids: HashSet<_> = mesh.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), mesh.len(), "a fresh packet id per packet");

        let second = sim.next_round(1_700_000_002);
        assert_eq!(
            (kinds(&second, "devices"), kinds(&second, "nodeinfo")),
            (0, 0)
        );
        // Round 1: only the trail runner's telemetry is due (its offset is 2).
        let mesh = heard_by_both_gateways(&mesh_packets(&second), 1_700_000_002);
        assert_eq!(mesh.len(), 1, "{mesh:?}");
        assert_eq!(mesh[0].from, 0xe2e0_b103);
        assert_eq!(telemetry_names(&mesh[0].body).len(), 5);
        sim.announce(); // as on a reconnection
        let third = sim.next_round(1_700_000_004);
        assert_eq!(
            (kinds(&third, "devices"), kinds(&third, "nodeinfo")),
            (3, 3)
        );
        let mesh = heard_by_both_gateways(&mesh_packets(&third), 1_700_000_004);
        let infos = mesh
            .iter()
            .filter(|p| matches!(p.body, MeshBody::NodeInfo { .. }))
            .count();
        assert_eq!(infos, 3);
        assert_eq!(sim.round, 3);
    }

    #[test]
    fn the_protobuf_nodes_keep_their_cadence_and_send_the_odd_text() {
        let mut sim = Sim::new(Rng(9));
        let (mut texts, mut positions, mut telemetry) = (Vec::new(), 0, 0);
        for round in 0..30u32 {
            let now = 1_700_000_000 + 2 * round;
            let msgs = sim.next_round(u64::from(now));
            let mesh = heard_by_both_gateways(&mesh_packets(&msgs), now);
            for p in mesh {
                match p.body {
                    MeshBody::Text { text, .. } => texts.push((round, p.from, text)),
                    MeshBody::Position { .. } => positions += 1,
                    MeshBody::Telemetry(_) => telemetry += 1,
                    MeshBody::NodeInfo { .. } => assert_eq!(round, 0),
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(
            texts,
            [
                (5, 0xe2e0_b101, "gusts up to 40 km/h on the lake".into()),
                (12, 0xe2e0_b102, "harbour closed until 14:00".into()),
                (19, 0xe2e0_b103, "on the ridge, 5 km to go".into()),
                (26, 0xe2e0_b101, "gusts up to 40 km/h on the lake".into()),
            ]
        );
        // Every 5 rounds per node; every 3 rounds per node, plus the weather station's
        // environment telemetry.
        assert_eq!(positions, 3 * 6);
        assert_eq!(telemetry, 3 * 10 + 10);
    }

    fn next_packet(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Packet> {
        loop {
            match read(buf, 1 << 20) {
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                packet => return Some(packet.expect("a well-formed packet")),
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
        let mut seen = Vec::new();
        for attempt in 0..2 {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut buf = BytesMut::new();
            while let Some(packet) = next_packet(&mut stream, &mut buf) {
                let mut out = BytesMut::new();
                match &packet {
                    Packet::Connect(_) if attempt == 0 => break,
                    Packet::Connect(_) => {
                        ConnAck::new(ConnectReturnCode::Success, false).write(&mut out)
                    }
                    Packet::Publish(p) if p.pkid != 0 => PubAck::new(p.pkid).write(&mut out),
                    Packet::PingReq => PingResp.write(&mut out),
                    _ => Ok(0),
                }
                .unwrap();
                stream.write_all(&out).unwrap();
                seen.push(packet);
            }
        }
        seen
    }

    #[test]
    fn drives_the_session_over_tcp_reconnects_and_ends_cleanly() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let broker = std::thread::spawn(move || fake_broker(listener));
        let mut opts = args(&["--interval-ms", "20", "--count", "2"])
            .unwrap()
            .unwrap();
        opts.port = port;
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
        let publishes: Vec<_> = seen
            .iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => Some((p.topic.as_str(), p.retain)),
                _ => None,
            })
            .collect();
        assert!(publishes.contains(&("devices/demo-gateway/status", true)));
        assert!(publishes.contains(&("msh/US/2/json/LongFast/!c0ffee01", false)));
        assert!(publishes.contains(&(MESH_SECOND_TOPIC, false)));
        assert_eq!(
            publishes
                .iter()
                .filter(|t| t.0.starts_with("sensors/"))
                .count(),
            14
        );
    }
}

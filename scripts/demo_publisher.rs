//! Demo publisher: feeds a local MQTT broker with simulated devices so the browser app has live
//! data to show during development (`scripts/start.sh` runs it next to the local mosquitto).
//!
//! It is a small blocking MQTT 3.1.1 client over `std::net::TcpStream` (packets encoded and
//! decoded with `mqttbytes`) that publishes, every `--interval-ms`:
//! - generic devices `greenhouse-1`, `boiler-room`, `demo-gateway`: retained QoS 1
//!   `devices/<id>/status` (on connect and every 10 rounds) and QoS 0
//!   `sensors/<id>/{temperature,humidity[,pressure]}` following a daily cycle (UTC time of day)
//!   plus noise;
//! - three Meshtastic nodes as JSON uplinks on `msh/US/2/json/LongFast/!da5ad56c` (nodeinfo,
//!   telemetry, position, the odd text); every telemetry packet is published again as heard by
//!   a second gateway `!c0ffee01` with the same packet id, to exercise de-duplication.
//!
//! Its last will sets `devices/demo-gateway/status` to `{"status":"offline"}` (retained), so
//! killing the process (no signal handler on purpose) shows the gateway going offline. On any
//! I/O or protocol error it reconnects after 1 s, backing off to 5 s. It connects only to the
//! host given with `--host` (default 127.0.0.1).

use bytes::BytesMut;
use mqttbytes::v4::{read, ConnAck, Connect, ConnectReturnCode, Disconnect, LastWill, Packet};
use mqttbytes::v4::{PingReq, Publish};
use mqttbytes::QoS;
use serde_json::{json, Value};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str =
    "usage: demo-publisher [--host HOST] [--port PORT] [--interval-ms MS] [--count N] [--verbose]
  --host HOST        broker host (default 127.0.0.1)
  --port PORT        broker MQTT/TCP port (default 1883)
  --interval-ms MS   time between publishing rounds (default 2000)
  --count N          publish N rounds, then DISCONNECT and exit (default: run until killed)
  --verbose          print a summary line per round
  --help             show this help";

const KEEP_ALIVE: u16 = 30;
const MAX_PACKET: usize = 1 << 20;
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
const WILL_TOPIC: &str = "devices/demo-gateway/status";
const WILL_PAYLOAD: &str = r#"{"status":"offline"}"#;
const GATEWAY: u32 = 0xda5a_d56c;
const SECOND_GATEWAY: u32 = 0xc0ff_ee01;
const BROADCAST: u32 = 0xffff_ffff;

struct Options {
    host: String,
    port: u16,
    interval: Duration,
    count: Option<u64>,
    verbose: bool,
}

/// Returns `Ok(None)` for `--help`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        host: "127.0.0.1".into(),
        port: 1883,
        interval: Duration::from_millis(2000),
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
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{flag} needs a value")),
        };
        let bad = |what: &str| format!("invalid {flag} value {value:?}: expected {what}");
        match flag.as_str() {
            "--host" if !value.is_empty() => opts.host = value,
            "--port" => opts.port = value.parse().map_err(|_| bad("a port number"))?,
            "--interval-ms" => match value.parse::<u64>() {
                Ok(ms) if ms > 0 => opts.interval = Duration::from_millis(ms),
                _ => return Err(bad("a positive number of milliseconds")),
            },
            "--count" => opts.count = Some(value.parse().map_err(|_| bad("a number"))?),
            _ => return Err(bad("a host name or address")),
        }
    }
    Ok(Some(opts))
}

fn other(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// A blocking MQTT 3.1.1 connection: QoS 0 and QoS 1 publishing, keepalive pings.
struct Client {
    stream: TcpStream,
    buf: BytesMut,
    last_sent: Instant,
    ping_sent: Option<Instant>,
    next_pkid: u16,
}

impl Client {
    fn connect(opts: &Options) -> io::Result<Client> {
        let mut last_err = other(format!("{} resolved to no address", opts.host));
        let mut stream = None;
        for addr in (opts.host.as_str(), opts.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_err = e,
            }
        }
        let stream = stream.ok_or(last_err)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(ACK_TIMEOUT))?;
        let mut client = Client {
            stream,
            buf: BytesMut::with_capacity(4096),
            last_sent: Instant::now(),
            ping_sent: None,
            next_pkid: 1,
        };
        let mut connect = Connect::new(format!("demo-publisher-{}", std::process::id()));
        connect.keep_alive = KEEP_ALIVE;
        connect.clean_session = true;
        let will = LastWill::new(WILL_TOPIC, WILL_PAYLOAD, QoS::AtLeastOnce, true);
        connect.last_will = Some(will);
        let mut out = BytesMut::new();
        connect
            .write(&mut out)
            .map_err(|e| other(format!("encoding CONNECT: {e:?}")))?;
        client.send(&out)?;
        match client.next_packet(Instant::now() + Duration::from_secs(5))? {
            Some(Packet::ConnAck(ConnAck {
                code: ConnectReturnCode::Success,
                ..
            })) => Ok(client),
            Some(Packet::ConnAck(ack)) => Err(other(format!("broker refused: {:?}", ack.code))),
            Some(p) => Err(other(format!("expected CONNACK, got {p:?}"))),
            None => Err(other("no CONNACK within 5 s")),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.last_sent = Instant::now();
        Ok(())
    }

    /// Reads until a whole packet is buffered; `Ok(None)` once `deadline` has passed.
    fn next_packet(&mut self, deadline: Instant) -> io::Result<Option<Packet>> {
        let mut chunk = [0u8; 4096];
        loop {
            match read(&mut self.buf, MAX_PACKET) {
                Ok(packet) => return Ok(Some(packet)),
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => return Err(other(format!("malformed packet from broker: {e:?}"))),
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(deadline - now))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(other("connection closed by broker")),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Handles a packet nobody is specifically waiting for.
    fn handle(&mut self, packet: Packet) {
        if packet == Packet::PingResp {
            self.ping_sent = None;
        }
    }

    fn publish(&mut self, topic: &str, payload: &Value, qos: QoS, retain: bool) -> io::Result<()> {
        let mut publish = Publish::new(topic, qos, payload.to_string());
        publish.retain = retain;
        if qos != QoS::AtMostOnce {
            publish.pkid = self.next_pkid;
            self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
        }
        let mut out = BytesMut::new();
        publish
            .write(&mut out)
            .map_err(|e| other(format!("encoding PUBLISH: {e:?}")))?;
        self.send(&out)?;
        if qos == QoS::AtMostOnce {
            return Ok(());
        }
        let deadline = Instant::now() + ACK_TIMEOUT;
        loop {
            match self.next_packet(deadline)? {
                Some(Packet::PubAck(ack)) if ack.pkid == publish.pkid => return Ok(()),
                Some(p) => self.handle(p),
                None => return Err(other(format!("no PUBACK for {topic}"))),
            }
        }
    }

    /// Idles until `deadline`, reading whatever the broker sends and pinging as needed.
    fn wait_until(&mut self, deadline: Instant) -> io::Result<()> {
        let keep_alive = Duration::from_secs(KEEP_ALIVE.into());
        loop {
            match self.ping_sent {
                Some(at) if at.elapsed() > keep_alive => return Err(other("no PINGRESP")),
                None if self.last_sent.elapsed() >= keep_alive / 2 => {
                    let mut out = BytesMut::new();
                    PingReq
                        .write(&mut out)
                        .map_err(|e| other(format!("{e:?}")))?;
                    self.send(&out)?;
                    self.ping_sent = Some(Instant::now());
                }
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            if let Some(p) = self.next_packet(deadline.min(now + Duration::from_secs(1)))? {
                self.handle(p);
            }
        }
    }

    fn disconnect(mut self) {
        let mut out = BytesMut::new();
        if Disconnect.write(&mut out).is_ok() {
            let _ = self.send(&out);
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

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

/// (name, unit, daily mean, daily amplitude (peak at 15:00 UTC), noise, decimals, min, max)
type Sensor = (&'static str, &'static str, f64, f64, f64, i32, f64, f64);

struct Device {
    id: &'static str,
    sensors: &'static [Sensor],
    battery: f64,
    drain: f64,
    signal: f64,
    uptime_base: u64,
}

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

struct Sim {
    rng: Rng,
    started: Instant,
    round: u64,
    status_due: u64,
    nodeinfo_due: u64,
    devices: Vec<Device>,
    nodes: Vec<Node>,
}

fn gateway_topic(gateway: u32) -> String {
    format!("msh/US/2/json/LongFast/!{gateway:08x}")
}

impl Sim {
    fn new() -> Sim {
        let device = |id, sensors, battery, drain, signal, uptime_base| Device {
            id,
            sensors,
            battery,
            drain,
            signal,
            uptime_base,
        };
        let node =
            |num, long, short, hardware, text, lat, lon, altitude, rssi, snr, battery| Node {
                num,
                long,
                short,
                hardware,
                text,
                lat,
                lon,
                altitude,
                rssi,
                snr,
                battery,
            };
        Sim {
            rng: Rng::seeded(),
            started: Instant::now(),
            round: 0,
            status_due: 0,
            nodeinfo_due: 0,
            devices: vec![
                device(
                    "greenhouse-1",
                    &[
                        ("temperature", "°C", 24.0, 6.0, 0.3, 1, -40.0, 80.0),
                        ("humidity", "%", 68.0, -12.0, 1.5, 1, 0.0, 100.0),
                    ],
                    87.0,
                    0.02,
                    -67.0,
                    3 * 86_400 + 4_211,
                ),
                device(
                    "boiler-room",
                    &[
                        ("temperature", "°C", 38.0, 3.0, 0.4, 1, -40.0, 120.0),
                        ("humidity", "%", 32.0, 4.0, 1.0, 1, 0.0, 100.0),
                        ("pressure", "bar", 1.8, 0.12, 0.03, 2, 0.0, 6.0),
                    ],
                    64.0,
                    0.05,
                    -78.0,
                    17 * 86_400 + 921,
                ),
                device(
                    "demo-gateway",
                    &[
                        ("temperature", "°C", 21.5, 1.5, 0.2, 1, -40.0, 80.0),
                        ("humidity", "%", 45.0, -5.0, 1.0, 1, 0.0, 100.0),
                    ],
                    100.0,
                    0.0,
                    -52.0,
                    52_000,
                ),
            ],
            nodes: vec![
                node(
                    0xa1b2_c3d4,
                    "Hilltop Relay",
                    "HILL",
                    "RAK4631",
                    "hello from the hill",
                    47.3977,
                    8.5423,
                    312,
                    -95.0,
                    6.25,
                    87.0,
                ),
                node(
                    0x0bad_cafe,
                    "Kayak",
                    "KYK",
                    "TBEAM",
                    "paddling back, ETA 20 min",
                    47.3512,
                    8.5601,
                    406,
                    -108.0,
                    -2.5,
                    71.0,
                ),
                node(
                    0x1234_5678,
                    "Base Camp",
                    "BASE",
                    "HELTEC_V3",
                    "dinner at 7 at base camp",
                    47.4203,
                    8.5012,
                    455,
                    -82.0,
                    9.5,
                    96.0,
                ),
            ],
        }
    }

    /// Daily sinusoid over the UTC time of day (peak at 15:00) plus noise, clamped.
    fn reading(&mut self, s: &Sensor, now: u64) -> f64 {
        let &(_, _, mean, amplitude, noise, decimals, min, max) = s;
        let phase = ((now % 86_400) as f64 - 9.0 * 3600.0) / 86_400.0 * std::f64::consts::TAU;
        let v = mean + amplitude * phase.sin() + self.rng.noise(noise);
        round_to(v.clamp(min, max), decimals)
    }

    /// Sends one uplink as heard by `gateway`; returns the number of messages published.
    #[allow(clippy::too_many_arguments)]
    fn uplink(
        &mut self,
        client: &mut Client,
        gateway: u32,
        node: usize,
        id: u32,
        kind: &str,
        payload: Value,
        now: u64,
    ) -> io::Result<usize> {
        let n = &self.nodes[node];
        let weaker = if gateway == GATEWAY { 0.0 } else { 9.0 };
        let rssi = (n.rssi - weaker + self.rng.noise(3.0)).round() as i64;
        let snr = ((n.snr - weaker / 2.0 + self.rng.noise(1.5)) * 4.0).round() / 4.0;
        let message = json!({
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
        });
        client.publish(&gateway_topic(gateway), &message, QoS::AtMostOnce, false)?;
        Ok(1)
    }

    /// Publishes one round; returns the number of messages sent.
    fn publish_round(&mut self, client: &mut Client) -> io::Result<usize> {
        let now = unix_now();
        let round = self.round;
        let mut sent = 0;
        for d in 0..self.devices.len() {
            let dev = &mut self.devices[d];
            dev.battery = (dev.battery - dev.drain).max(5.0);
            dev.signal = (dev.signal + self.rng.noise(1.0)).clamp(-95.0, -40.0);
            let (id, sensors) = (dev.id, dev.sensors);
            if round >= self.status_due {
                let dev = &self.devices[d];
                let status = json!({
                    "status": "online",
                    "battery_level": dev.battery.round() as i64,
                    "signal_strength": dev.signal.round() as i64,
                    "uptime": dev.uptime_base + self.started.elapsed().as_secs(),
                    "firmware_version": "1.4.2",
                });
                client.publish(
                    &format!("devices/{id}/status"),
                    &status,
                    QoS::AtLeastOnce,
                    true,
                )?;
                sent += 1;
            }
            for s in sensors {
                let value = json!({ "value": self.reading(s, now), "unit": s.1, "timestamp": now });
                client.publish(
                    &format!("sensors/{id}/{}", s.0),
                    &value,
                    QoS::AtMostOnce,
                    false,
                )?;
                sent += 1;
            }
        }
        if round >= self.status_due {
            self.status_due = round + 10;
        }
        for i in 0..self.nodes.len() {
            let offset = i as u64;
            if round >= self.nodeinfo_due {
                let n = &self.nodes[i];
                let payload = json!({
                    "hardware": n.hardware,
                    "id": format!("!{:08x}", n.num),
                    "longname": n.long,
                    "shortname": n.short,
                });
                let id = self.rng.packet_id();
                sent += self.uplink(client, GATEWAY, i, id, "nodeinfo", payload, now)?;
            }
            if (round + offset).is_multiple_of(3) {
                let n = &mut self.nodes[i];
                n.battery = (n.battery - 0.05).max(5.0);
                let payload = json!({
                    "air_util_tx": round_to(1.2 + self.rng.noise(0.8), 2),
                    "battery_level": n.battery.round() as i64,
                    "channel_utilization": round_to(5.4 + self.rng.noise(2.5), 2),
                    "voltage": round_to(3.3 + n.battery / 100.0 * 0.9, 2),
                });
                let id = self.rng.packet_id();
                for gw in [GATEWAY, SECOND_GATEWAY] {
                    sent += self.uplink(client, gw, i, id, "telemetry", payload.clone(), now)?;
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
                sent += self.uplink(client, GATEWAY, i, id, "position", payload, now)?;
            }
        }
        if round >= self.nodeinfo_due {
            self.nodeinfo_due = round + 30;
        }
        if round % 7 == 3 {
            let i = (round / 7) as usize % self.nodes.len();
            let payload = json!({ "text": self.nodes[i].text });
            let id = self.rng.packet_id();
            sent += self.uplink(client, GATEWAY, i, id, "text", payload, now)?;
        }
        Ok(sent)
    }

    /// Publishes rounds on this connection until `--count` is reached (Ok) or an error.
    fn run(&mut self, client: &mut Client, opts: &Options) -> io::Result<()> {
        // Announce everything afresh on every (re)connection.
        self.status_due = self.round;
        self.nodeinfo_due = self.round;
        loop {
            if opts.count.is_some_and(|n| self.round >= n) {
                return Ok(());
            }
            let started = Instant::now();
            let sent = self.publish_round(client)?;
            if opts.verbose {
                eprintln!("demo-publisher: round {}: {sent} messages", self.round + 1);
            }
            self.round += 1;
            if opts.count.is_some_and(|n| self.round >= n) {
                return Ok(());
            }
            client.wait_until(started + opts.interval)?;
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
    let target = format!("{}:{}", opts.host, opts.port);
    let mut sim = Sim::new();
    let mut delay = Duration::from_secs(1);
    let mut last_failure = String::new();
    loop {
        let mut client = match Client::connect(&opts) {
            Ok(client) => client,
            Err(e) => {
                let msg = e.to_string();
                if msg != last_failure {
                    eprintln!("demo-publisher: cannot connect to {target}: {msg} (retrying)");
                    last_failure = msg;
                }
                sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        eprintln!(
            "demo-publisher: connected to {target} as demo-publisher-{}",
            std::process::id()
        );
        last_failure.clear();
        delay = Duration::from_secs(1);
        match sim.run(&mut client, &opts) {
            Ok(()) => {
                client.disconnect();
                eprintln!(
                    "demo-publisher: published {} round(s), disconnected",
                    sim.round
                );
                return;
            }
            Err(e) => {
                eprintln!("demo-publisher: connection to {target} lost: {e}; reconnecting");
                drop(client);
                sleep(delay);
            }
        }
    }
}

//! Native benchmark: decode throughput of the session's framing over a recorded byte stream
//! (a CONNACK and then PUBLISH packets as mosquitto sends them), fed one packet per call
//! (as WebSocket frames arrive) and in 64 KiB chunks; beside a bare `mqttbytes::v4::read`
//! loop over the same bytes. Prints figures and ratios; asserts nothing.
//! Run: `cargo run --release --example bench-framing`.

use std::time::Instant;

use bytes::BytesMut;
use mqtt_web::mqtt::{ConnectOptions, Event, QoS as SessionQoS, Session, SessionConfig, Transmit};
use mqttbytes::v4::{ConnAck, ConnectReturnCode, Publish};

fn record(
    count: usize,
    payload_size: usize,
    qos: mqttbytes::QoS,
) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let mut stream = BytesMut::new();
    ConnAck::new(ConnectReturnCode::Success, false)
        .write(&mut stream)
        .unwrap();
    let mut packets = Vec::with_capacity(count + 1);
    packets.push(0..stream.len());
    let payload = vec![b'x'; payload_size];
    for i in 0..count {
        let start = stream.len();
        let mut publish = Publish::new("bench/flood", qos, payload.clone());
        if qos != mqttbytes::QoS::AtMostOnce {
            publish.pkid = (i % 65_535 + 1) as u16;
        }
        publish.write(&mut stream).unwrap();
        packets.push(start..stream.len());
    }
    (stream.to_vec(), packets)
}

fn connected_session() -> Session {
    let mut session = Session::new(SessionConfig::default());
    session
        .connect(
            ConnectOptions {
                client_id: "bench".into(),
                ..Default::default()
            },
            0,
        )
        .unwrap();
    session
        .subscribe("bench/#", SessionQoS::AtLeastOnce, 0)
        .unwrap();
    session.handle_open(0);
    while session.poll_transmit().is_some() {}
    session
}

/// Feeds `chunks` of the stream and drains outputs as the transport would; returns messages.
fn run_session(stream: &[u8], chunks: impl Iterator<Item = std::ops::Range<usize>>) -> usize {
    let mut session = connected_session();
    let mut messages = 0;
    for range in chunks {
        session.handle_bytes(&stream[range], 1);
        while let Some(t) = session.poll_transmit() {
            if let Transmit::Close = t {
                panic!("the session closed the link on a valid stream");
            }
        }
        while let Some(event) = session.poll_event() {
            if let Event::Message(_) = event {
                messages += 1;
            }
        }
    }
    messages
}

fn run_mqttbytes(stream: &[u8]) -> usize {
    let mut buffer = BytesMut::from(stream);
    let mut messages = 0;
    while !buffer.is_empty() {
        match mqttbytes::v4::read(&mut buffer, 2 * 1024 * 1024) {
            Ok(mqttbytes::v4::Packet::Publish(_)) => messages += 1,
            Ok(_) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    messages
}

fn best_of<F: FnMut() -> usize>(runs: usize, mut f: F) -> (usize, f64) {
    let mut best = f64::MAX;
    let mut count = 0;
    for _ in 0..runs {
        let start = Instant::now();
        count = f();
        best = best.min(start.elapsed().as_secs_f64());
    }
    (count, best)
}

fn main() {
    for (name, count, size, qos) in [
        ("64 B QoS 0", 200_000, 64, mqttbytes::QoS::AtMostOnce),
        ("4 KiB QoS 0", 20_000, 4096, mqttbytes::QoS::AtMostOnce),
        ("64 B QoS 1", 200_000, 64, mqttbytes::QoS::AtLeastOnce),
    ] {
        let (stream, packets) = record(count, size, qos);
        let mb = stream.len() as f64 / 1e6;
        let (n1, per_packet) = best_of(5, || run_session(&stream, packets.iter().cloned()));
        let chunks = (0..stream.len())
            .step_by(65_536)
            .map(|s| s..(s + 65_536).min(stream.len()));
        let chunk_list: Vec<_> = chunks.collect();
        let (n2, chunked) = best_of(5, || run_session(&stream, chunk_list.iter().cloned()));
        let (n3, bare) = best_of(5, || run_mqttbytes(&stream));
        assert!(
            n1 == count && n2 == count && n3 == count,
            "{n1} {n2} {n3} of {count}"
        );
        println!(
            "{count} × {name} ({mb:.1} MB): session, one packet per call {:>10.0} msg/s {:>7.1} MB/s | \
             session, 64 KiB chunks {:>10.0} msg/s | bare mqttbytes::v4::read {:>10.0} msg/s | \
             session speed / bare speed {:.2}",
            count as f64 / per_packet,
            mb / per_packet,
            count as f64 / chunked,
            count as f64 / bare,
            bare / per_packet,
        );
    }
}

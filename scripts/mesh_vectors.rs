//! Prints our `build_envelope` output for a fixed set of packets, one line each, in the
//! format `tests/mesh/independent.py check` reads:
//!
//! `name topic psk_base64 expected_to want_ack(0|1) port text_hex envelope_hex`
//!
//! Run: `cargo run -q --example mesh-vectors | <venv>/bin/python tests/mesh/independent.py check`
//! (scripts/mesh-venv.sh makes the venv).

use std::error::Error;
use std::fmt::Write as _;

use mqtt_web::mesh::{build_envelope, ChannelConfig, OutgoingBody, OutgoingPacket, BROADCAST};

/// Our virtual node in these vectors.
const OUR_NODE: u32 = 0x4d51_5454;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn channel(name: &str, psk: &str) -> ChannelConfig {
    ChannelConfig {
        name: name.into(),
        psk: psk.into(),
    }
}

fn text(text: &str) -> OutgoingBody {
    OutgoingBody::Text {
        text: text.into(),
        reply_id: None,
        emoji: false,
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let long_fast = ChannelConfig::default_channel();
    // 25 × "ü€😀" (2 + 3 + 4 bytes) + "😀😀" (8) = 233 bytes, the limit.
    let multibyte = format!("{}😀😀", "ü€😀".repeat(25));
    let aes256 = channel("Private", "4dAqAzQaUAyKDnLUGyhdbTnVhaBq++lTyCn2pkpus8M=");
    let cases = [
        (
            "broadcast_text",
            "EU_868",
            long_fast.clone(),
            BROADCAST,
            false,
            text("hello from mqtt-web"),
        ),
        (
            "direct_text",
            "US/bayarea",
            long_fast.clone(),
            0xa1b2_c3d4,
            true,
            text("direct: are you there?"),
        ),
        (
            "multibyte_233",
            "EU_868",
            long_fast.clone(),
            BROADCAST,
            false,
            text(&multibyte),
        ),
        (
            "nodeinfo",
            "EU_868",
            long_fast.clone(),
            BROADCAST,
            false,
            OutgoingBody::NodeInfo {
                long_name: "mqtt-web browser".into(),
                short_name: "MQW".into(),
            },
        ),
        (
            "aes256",
            "EU_868",
            aes256,
            BROADCAST,
            false,
            text("over AES-256"),
        ),
        (
            "aes128",
            "ANZ",
            channel("Team", "EREREREREREREREREREREQ=="),
            0x0bad_cafe,
            true,
            text("team only"),
        ),
        (
            "default_key_2",
            "EU_868",
            channel("LongSlow", "Ag=="),
            BROADCAST,
            false,
            text("PSK index 2"),
        ),
        (
            "unencrypted",
            "EU_868",
            channel("Open", "AA=="),
            BROADCAST,
            false,
            text("in the clear"),
        ),
        (
            "reaction",
            "EU_868",
            long_fast,
            0xa1b2_c3d4,
            false,
            OutgoingBody::Text {
                text: "👍".into(),
                reply_id: Some(0x1000_0005),
                emoji: true,
            },
        ),
    ];
    for (i, (name, region, channel, to, want_ack, body)) in cases.into_iter().enumerate() {
        let (port, expected_text) = match &body {
            OutgoingBody::Text { text, .. } => ("TEXT_MESSAGE_APP", text.clone()),
            OutgoingBody::NodeInfo { long_name, .. } => ("NODEINFO_APP", long_name.clone()),
        };
        let packet = OutgoingPacket {
            region: region.into(),
            channel: channel.clone(),
            from: OUR_NODE,
            to,
            packet_id: 0x7000_0001 + i as u32,
            want_ack,
            body,
        };
        let (topic, envelope) = build_envelope(&packet).map_err(|e| format!("{name}: {e}"))?;
        println!(
            "{name} {topic} {} {to} {} {port} {} {}",
            channel.psk,
            u8::from(want_ack),
            hex(expected_text.as_bytes()),
            hex(&envelope)
        );
    }
    Ok(())
}

//! A minimal protobuf codec and the few Meshtastic messages the app reads and writes,
//! written by hand from the wire format (protobuf.dev "Encoding") and the field numbers.
//!
//! The reader never panics and does bounded work: every length is checked against the bytes
//! left, varints stop at 10 bytes, and groups (wire types 3 and 4, unused by Meshtastic) are
//! an error. Message parsers skip unknown fields and, like nanopb in the firmware, refuse a
//! known field sent with the wrong wire type: random bytes (a wrong key) rarely pass.

use std::fmt;

/// One field value as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireValue<'a> {
    Varint(u64),
    Fixed64(u64),
    LengthDelimited(&'a [u8]),
    Fixed32(u32),
}

/// Why bytes are not a protobuf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// A field, length or varint runs past the end of the bytes.
    Truncated,
    /// A wire type that is not varint, fixed64, length-delimited or fixed32.
    BadWireType(u8),
    /// A varint longer than 10 bytes.
    VarintTooLong,
    /// Field number 0 or above 2^29 - 1.
    BadFieldNumber,
    /// A known field with the wrong wire type.
    WrongWireType { field: u32 },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("protobuf ends in the middle of a field"),
            WireError::BadWireType(t) => write!(f, "protobuf wire type {t} is not supported"),
            WireError::VarintTooLong => f.write_str("protobuf varint longer than 10 bytes"),
            WireError::BadFieldNumber => f.write_str("protobuf field number out of range"),
            WireError::WrongWireType { field } => {
                write!(f, "protobuf field {field} has the wrong wire type")
            }
        }
    }
}

impl std::error::Error for WireError {}

const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// The fields of one message, in wire order: `(field number, value)`. Stops after the first
/// error (which it yields).
#[derive(Debug, Clone)]
pub struct WireReader<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> WireReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        WireReader {
            rest: bytes,
            failed: false,
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        if len > self.rest.len() {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for (i, &byte) in self.rest.iter().enumerate() {
            if i == 10 {
                return Err(WireError::VarintTooLong);
            }
            // Bits beyond 64 (only possible in the 10th byte) are dropped, as other decoders do.
            value |= u64::from(byte & 0x7f)
                .checked_shl(7 * i as u32)
                .unwrap_or(0);
            if byte & 0x80 == 0 {
                self.rest = self.rest.get(i + 1..).unwrap_or_default();
                return Ok(value);
            }
        }
        if self.rest.len() >= 10 {
            Err(WireError::VarintTooLong)
        } else {
            Err(WireError::Truncated)
        }
    }

    fn field(&mut self) -> Result<(u32, WireValue<'a>), WireError> {
        let tag = self.varint()?;
        let number = tag >> 3;
        if number == 0 || number > MAX_FIELD_NUMBER {
            return Err(WireError::BadFieldNumber);
        }
        // In range by the check above.
        let number = number as u32;
        let value = match tag & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                WireValue::Fixed64(u64::from_le_bytes(b.try_into().unwrap_or_default()))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                WireValue::LengthDelimited(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                WireValue::Fixed32(u32::from_le_bytes(b.try_into().unwrap_or_default()))
            }
            other => return Err(WireError::BadWireType(other as u8)),
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for WireReader<'a> {
    type Item = Result<(u32, WireValue<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            self.failed = true;
        }
        Some(field)
    }
}

/// Typed reads of a field; `Err(WrongWireType)` when the wire type does not fit.
struct Field<'a> {
    number: u32,
    value: WireValue<'a>,
}

impl<'a> Field<'a> {
    fn wrong(&self) -> WireError {
        WireError::WrongWireType { field: self.number }
    }

    fn varint(&self) -> Result<u64, WireError> {
        match self.value {
            WireValue::Varint(v) => Ok(v),
            _ => Err(self.wrong()),
        }
    }

    /// `uint32` and enums: the low 32 bits, as protobuf does.
    fn uint32(&self) -> Result<u32, WireError> {
        self.varint().map(|v| v as u32)
    }

    /// `int32`: negative values arrive sign-extended to 64 bits.
    fn int32(&self) -> Result<i32, WireError> {
        self.varint().map(|v| v as i32)
    }

    fn bool(&self) -> Result<bool, WireError> {
        self.varint().map(|v| v != 0)
    }

    fn fixed32(&self) -> Result<u32, WireError> {
        match self.value {
            WireValue::Fixed32(v) => Ok(v),
            _ => Err(self.wrong()),
        }
    }

    fn sfixed32(&self) -> Result<i32, WireError> {
        self.fixed32().map(|v| v as i32)
    }

    fn float(&self) -> Result<f32, WireError> {
        self.fixed32().map(f32::from_bits)
    }

    fn bytes(&self) -> Result<&'a [u8], WireError> {
        match self.value {
            WireValue::LengthDelimited(b) => Ok(b),
            _ => Err(self.wrong()),
        }
    }

    /// Strings are read lossily: a bad byte should not hide the rest of a packet.
    fn string(&self) -> Result<String, WireError> {
        self.bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// Calls `on_field` for each field of `bytes`; the first error (wire or typed) stops it.
fn for_each_field<'a>(
    bytes: &'a [u8],
    mut on_field: impl FnMut(Field<'a>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    for field in WireReader::new(bytes) {
        let (number, value) = field?;
        on_field(Field { number, value })?;
    }
    Ok(())
}

/// Builds a message. Fields are written as asked; callers leave out proto3 defaults.
#[derive(Debug, Clone, Default)]
pub struct WireWriter {
    buf: Vec<u8>,
}

impl WireWriter {
    pub fn new() -> Self {
        WireWriter::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn raw_varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    fn tag(&mut self, field: u32, wire_type: u8) {
        self.raw_varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    pub fn varint(&mut self, field: u32, value: u64) -> &mut Self {
        self.tag(field, 0);
        self.raw_varint(value);
        self
    }

    pub fn uint32(&mut self, field: u32, value: u32) -> &mut Self {
        self.varint(field, u64::from(value))
    }

    /// Negative values take 10 bytes: they are sign-extended to 64 bits, as protobuf says.
    pub fn int32(&mut self, field: u32, value: i32) -> &mut Self {
        self.varint(field, i64::from(value) as u64)
    }

    pub fn bool(&mut self, field: u32, value: bool) -> &mut Self {
        self.varint(field, u64::from(value))
    }

    pub fn fixed32(&mut self, field: u32, value: u32) -> &mut Self {
        self.tag(field, 5);
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn sfixed32(&mut self, field: u32, value: i32) -> &mut Self {
        self.fixed32(field, value as u32)
    }

    pub fn float(&mut self, field: u32, value: f32) -> &mut Self {
        self.fixed32(field, value.to_bits())
    }

    pub fn bytes(&mut self, field: u32, value: &[u8]) -> &mut Self {
        self.tag(field, 2);
        self.raw_varint(value.len() as u64);
        self.buf.extend_from_slice(value);
        self
    }

    pub fn string(&mut self, field: u32, value: &str) -> &mut Self {
        self.bytes(field, value.as_bytes())
    }

    /// A nested message, length-prefixed.
    pub fn message(&mut self, field: u32, message: &WireWriter) -> &mut Self {
        self.bytes(field, &message.buf)
    }
}

// Meshtastic messages (field numbers from the Meshtastic protobuf documentation). Only the
// fields the app uses; the rest are skipped when reading.

/// `mqtt.proto` `ServiceEnvelope`: what a gateway publishes on `msh/…/2/e/…`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceEnvelope {
    pub packet: Option<MeshPacket>,
    pub channel_id: String,
    pub gateway_id: String,
}

impl ServiceEnvelope {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut e = ServiceEnvelope::default();
        for_each_field(bytes, |f| {
            match f.number {
                1 => e.packet = Some(MeshPacket::parse(f.bytes()?)?),
                2 => e.channel_id = f.string()?,
                3 => e.gateway_id = f.string()?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(e)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = WireWriter::new();
        if let Some(packet) = &self.packet {
            w.bytes(1, &packet.encode());
        }
        if !self.channel_id.is_empty() {
            w.string(2, &self.channel_id);
        }
        if !self.gateway_id.is_empty() {
            w.string(3, &self.gateway_id);
        }
        w.into_bytes()
    }
}

/// The `MeshPacket` payload oneof.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum PacketPayload {
    #[default]
    Absent,
    Decoded(Data),
    Encrypted(Vec<u8>),
}

/// `mesh.proto` `MeshPacket`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeshPacket {
    pub from: u32,
    pub to: u32,
    /// The channel hash when encrypted (the channel index when decoded on the device).
    pub channel: u32,
    pub payload: PacketPayload,
    pub id: u32,
    pub rx_time: u32,
    pub rx_snr: f32,
    pub hop_limit: u32,
    pub want_ack: bool,
    pub priority: u32,
    pub rx_rssi: i32,
    pub via_mqtt: bool,
    pub hop_start: u32,
    pub public_key: Vec<u8>,
    pub pki_encrypted: bool,
    pub next_hop: u32,
    pub relay_node: u32,
}

impl MeshPacket {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut p = MeshPacket::default();
        for_each_field(bytes, |f| {
            match f.number {
                1 => p.from = f.fixed32()?,
                2 => p.to = f.fixed32()?,
                3 => p.channel = f.uint32()?,
                4 => p.payload = PacketPayload::Decoded(Data::parse(f.bytes()?)?),
                5 => p.payload = PacketPayload::Encrypted(f.bytes()?.to_vec()),
                6 => p.id = f.fixed32()?,
                7 => p.rx_time = f.fixed32()?,
                8 => p.rx_snr = f.float()?,
                9 => p.hop_limit = f.uint32()?,
                10 => p.want_ack = f.bool()?,
                11 => p.priority = f.uint32()?,
                12 => p.rx_rssi = f.int32()?,
                14 => p.via_mqtt = f.bool()?,
                15 => p.hop_start = f.uint32()?,
                16 => p.public_key = f.bytes()?.to_vec(),
                17 => p.pki_encrypted = f.bool()?,
                18 => p.next_hop = f.uint32()?,
                19 => p.relay_node = f.uint32()?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(p)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = WireWriter::new();
        if self.from != 0 {
            w.fixed32(1, self.from);
        }
        if self.to != 0 {
            w.fixed32(2, self.to);
        }
        if self.channel != 0 {
            w.uint32(3, self.channel);
        }
        match &self.payload {
            PacketPayload::Absent => {}
            PacketPayload::Decoded(data) => {
                w.bytes(4, &data.encode());
            }
            PacketPayload::Encrypted(bytes) => {
                w.bytes(5, bytes);
            }
        }
        if self.id != 0 {
            w.fixed32(6, self.id);
        }
        if self.rx_time != 0 {
            w.fixed32(7, self.rx_time);
        }
        if self.rx_snr != 0.0 {
            w.float(8, self.rx_snr);
        }
        if self.hop_limit != 0 {
            w.uint32(9, self.hop_limit);
        }
        if self.want_ack {
            w.bool(10, true);
        }
        if self.priority != 0 {
            w.uint32(11, self.priority);
        }
        if self.rx_rssi != 0 {
            w.int32(12, self.rx_rssi);
        }
        if self.via_mqtt {
            w.bool(14, true);
        }
        if self.hop_start != 0 {
            w.uint32(15, self.hop_start);
        }
        if !self.public_key.is_empty() {
            w.bytes(16, &self.public_key);
        }
        if self.pki_encrypted {
            w.bool(17, true);
        }
        if self.next_hop != 0 {
            w.uint32(18, self.next_hop);
        }
        if self.relay_node != 0 {
            w.uint32(19, self.relay_node);
        }
        w.into_bytes()
    }
}

/// `mesh.proto` `Data`: what an encrypted packet decrypts to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Data {
    pub portnum: u32,
    pub payload: Vec<u8>,
    pub want_response: bool,
    pub dest: u32,
    pub source: u32,
    pub request_id: u32,
    pub reply_id: u32,
    pub emoji: u32,
    pub bitfield: u32,
}

impl Data {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut d = Data::default();
        for_each_field(bytes, |f| {
            match f.number {
                1 => d.portnum = f.uint32()?,
                2 => d.payload = f.bytes()?.to_vec(),
                3 => d.want_response = f.bool()?,
                4 => d.dest = f.fixed32()?,
                5 => d.source = f.fixed32()?,
                6 => d.request_id = f.fixed32()?,
                7 => d.reply_id = f.fixed32()?,
                8 => d.emoji = f.fixed32()?,
                9 => d.bitfield = f.uint32()?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(d)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = WireWriter::new();
        if self.portnum != 0 {
            w.uint32(1, self.portnum);
        }
        if !self.payload.is_empty() {
            w.bytes(2, &self.payload);
        }
        if self.want_response {
            w.bool(3, true);
        }
        for (field, value) in [
            (4, self.dest),
            (5, self.source),
            (6, self.request_id),
            (7, self.reply_id),
            (8, self.emoji),
        ] {
            if value != 0 {
                w.fixed32(field, value);
            }
        }
        if self.bitfield != 0 {
            w.uint32(9, self.bitfield);
        }
        w.into_bytes()
    }
}

/// `portnums.proto` `PortNum` values the app knows.
pub mod port {
    pub const TEXT_MESSAGE_APP: u32 = 1;
    pub const POSITION_APP: u32 = 3;
    pub const NODEINFO_APP: u32 = 4;
    pub const ROUTING_APP: u32 = 5;
    pub const WAYPOINT_APP: u32 = 8;
    pub const TELEMETRY_APP: u32 = 67;
    pub const TRACEROUTE_APP: u32 = 70;
    pub const NEIGHBORINFO_APP: u32 = 71;
    pub const MAP_REPORT_APP: u32 = 73;
}

/// `mesh.proto` `User` (NODEINFO_APP). Enums are `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub long_name: String,
    pub short_name: String,
    pub macaddr: Vec<u8>,
    pub hw_model: Option<u32>,
    pub is_licensed: bool,
    pub role: Option<u32>,
    pub public_key: Vec<u8>,
}

impl User {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut u = User::default();
        for_each_field(bytes, |f| {
            match f.number {
                1 => u.id = f.string()?,
                2 => u.long_name = f.string()?,
                3 => u.short_name = f.string()?,
                4 => u.macaddr = f.bytes()?.to_vec(),
                5 => u.hw_model = Some(f.uint32()?),
                6 => u.is_licensed = f.bool()?,
                7 => u.role = Some(f.uint32()?),
                8 => u.public_key = f.bytes()?.to_vec(),
                _ => {}
            }
            Ok(())
        })?;
        Ok(u)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = WireWriter::new();
        for (field, value) in [(1, &self.id), (2, &self.long_name), (3, &self.short_name)] {
            if !value.is_empty() {
                w.string(field, value);
            }
        }
        if !self.macaddr.is_empty() {
            w.bytes(4, &self.macaddr);
        }
        if let Some(model) = self.hw_model.filter(|&m| m != 0) {
            w.uint32(5, model);
        }
        if self.is_licensed {
            w.bool(6, true);
        }
        if let Some(role) = self.role.filter(|&r| r != 0) {
            w.uint32(7, role);
        }
        if !self.public_key.is_empty() {
            w.bytes(8, &self.public_key);
        }
        w.into_bytes()
    }
}

/// `mesh.proto` `Position` (POSITION_APP): the fields the app shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// Degrees × 1e7.
    pub latitude_i: Option<i32>,
    pub longitude_i: Option<i32>,
    /// Metres.
    pub altitude: Option<i32>,
    pub time: u32,
}

impl Position {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut p = Position::default();
        for_each_field(bytes, |f| {
            match f.number {
                1 => p.latitude_i = Some(f.sfixed32()?),
                2 => p.longitude_i = Some(f.sfixed32()?),
                3 => p.altitude = Some(f.int32()?),
                4 => p.time = f.fixed32()?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(p)
    }
}

/// `telemetry.proto` `DeviceMetrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceMetrics {
    pub battery_level: Option<u32>,
    pub voltage: Option<f32>,
    pub channel_utilization: Option<f32>,
    pub air_util_tx: Option<f32>,
    pub uptime_seconds: Option<u32>,
}

/// `telemetry.proto` `EnvironmentMetrics`: the first six fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvironmentMetrics {
    pub temperature: Option<f32>,
    pub relative_humidity: Option<f32>,
    pub barometric_pressure: Option<f32>,
    pub gas_resistance: Option<f32>,
    pub voltage: Option<f32>,
    pub current: Option<f32>,
}

/// `telemetry.proto` `Telemetry` (TELEMETRY_APP): device and environment variants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Telemetry {
    pub time: u32,
    pub device_metrics: Option<DeviceMetrics>,
    pub environment_metrics: Option<EnvironmentMetrics>,
}

impl Telemetry {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut t = Telemetry::default();
        for_each_field(bytes, |f| {
            match f.number {
                1 => t.time = f.fixed32()?,
                2 => {
                    let mut m = DeviceMetrics::default();
                    for_each_field(f.bytes()?, |f| {
                        match f.number {
                            1 => m.battery_level = Some(f.uint32()?),
                            2 => m.voltage = Some(f.float()?),
                            3 => m.channel_utilization = Some(f.float()?),
                            4 => m.air_util_tx = Some(f.float()?),
                            5 => m.uptime_seconds = Some(f.uint32()?),
                            _ => {}
                        }
                        Ok(())
                    })?;
                    t.device_metrics = Some(m);
                }
                3 => {
                    let mut m = EnvironmentMetrics::default();
                    for_each_field(f.bytes()?, |f| {
                        match f.number {
                            1 => m.temperature = Some(f.float()?),
                            2 => m.relative_humidity = Some(f.float()?),
                            3 => m.barometric_pressure = Some(f.float()?),
                            4 => m.gas_resistance = Some(f.float()?),
                            5 => m.voltage = Some(f.float()?),
                            6 => m.current = Some(f.float()?),
                            _ => {}
                        }
                        Ok(())
                    })?;
                    t.environment_metrics = Some(m);
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(t)
    }
}

/// `mesh.proto` `Routing` (ROUTING_APP): only the error reason is read; a route request or
/// reply leaves it `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    pub error_reason: Option<u32>,
}

impl Routing {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Routing::default();
        for_each_field(bytes, |f| {
            match f.number {
                1 | 2 => {
                    f.bytes()?;
                    r.error_reason = None;
                }
                3 => r.error_reason = Some(f.uint32()?),
                _ => {}
            }
            Ok(())
        })?;
        Ok(r)
    }
}

/// `mqtt.proto` `MapReport` (MAP_REPORT_APP, on `…/2/map/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapReport {
    pub long_name: String,
    pub short_name: String,
    pub role: Option<u32>,
    pub hw_model: Option<u32>,
    pub firmware_version: String,
    pub region: u32,
    pub modem_preset: u32,
    pub has_default_channel: bool,
    pub latitude_i: Option<i32>,
    pub longitude_i: Option<i32>,
    pub altitude: Option<i32>,
}

impl MapReport {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut m = MapReport::default();
        for_each_field(bytes, |f| {
            match f.number {
                1 => m.long_name = f.string()?,
                2 => m.short_name = f.string()?,
                3 => m.role = Some(f.uint32()?),
                4 => m.hw_model = Some(f.uint32()?),
                5 => m.firmware_version = f.string()?,
                6 => m.region = f.uint32()?,
                7 => m.modem_preset = f.uint32()?,
                8 => m.has_default_channel = f.bool()?,
                9 => m.latitude_i = Some(f.sfixed32()?),
                10 => m.longitude_i = Some(f.sfixed32()?),
                11 => m.altitude = Some(f.int32()?),
                _ => {}
            }
            Ok(())
        })?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(bytes: &[u8]) -> Vec<Result<(u32, WireValue<'_>), WireError>> {
        WireReader::new(bytes).collect()
    }

    #[test]
    fn the_reader_yields_each_wire_type_with_its_field_number() {
        let mut w = WireWriter::new();
        w.varint(1, 300)
            .fixed32(2, 0xdeadbeef)
            .bytes(3, b"hi")
            .int32(4, -1);
        let mut bytes = w.into_bytes();
        bytes.extend_from_slice(&[0x29, 1, 2, 3, 4, 5, 6, 7, 8]); // field 5, fixed64
        assert_eq!(
            fields(&bytes),
            vec![
                Ok((1, WireValue::Varint(300))),
                Ok((2, WireValue::Fixed32(0xdeadbeef))),
                Ok((3, WireValue::LengthDelimited(b"hi"))),
                Ok((4, WireValue::Varint(u64::MAX))),
                Ok((5, WireValue::Fixed64(0x0807060504030201))),
            ]
        );
    }

    #[test]
    fn a_negative_int32_is_written_as_a_ten_byte_varint() {
        let mut w = WireWriter::new();
        w.int32(12, -97);
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), 1 + 10);
        assert_eq!(
            bytes,
            [0x60, 0x9f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        let p = MeshPacket {
            rx_rssi: -97,
            ..MeshPacket::default()
        };
        assert_eq!(MeshPacket::parse(&p.encode()).map(|p| p.rx_rssi), Ok(-97));
    }

    #[test]
    fn a_field_running_past_the_end_is_truncated() {
        assert_eq!(fields(&[0x0a, 0x05, b'a']), vec![Err(WireError::Truncated)]);
        assert_eq!(fields(&[0x0d, 1, 2]), vec![Err(WireError::Truncated)]);
        assert_eq!(fields(&[0x08]), vec![Err(WireError::Truncated)]);
        assert_eq!(fields(&[0x08, 0x80]), vec![Err(WireError::Truncated)]);
    }

    #[test]
    fn a_varint_longer_than_ten_bytes_is_refused() {
        let mut bytes = vec![0x08];
        bytes.extend_from_slice(&[0xff; 10]);
        bytes.push(0x01);
        assert_eq!(fields(&bytes), vec![Err(WireError::VarintTooLong)]);
        assert_eq!(fields(&[0xff; 12]), vec![Err(WireError::VarintTooLong)]);
    }

    #[test]
    fn groups_and_unknown_wire_types_are_refused_and_the_reader_stops() {
        assert_eq!(
            fields(&[0x0b, 0x08, 0x01]),
            vec![Err(WireError::BadWireType(3))]
        );
        assert_eq!(fields(&[0x0e]), vec![Err(WireError::BadWireType(6))]);
        assert_eq!(fields(&[0x00, 0x01]), vec![Err(WireError::BadFieldNumber)]);
    }

    #[test]
    fn unknown_fields_are_skipped_and_known_ones_with_the_wrong_wire_type_refused() {
        let mut w = WireWriter::new();
        w.uint32(1, 1).string(99, "future").bytes(2, b"hello");
        let data = Data::parse(&w.into_bytes()).unwrap();
        assert_eq!(data.portnum, 1);
        assert_eq!(data.payload, b"hello");

        let mut w = WireWriter::new();
        w.fixed32(1, 1);
        assert_eq!(
            Data::parse(&w.into_bytes()),
            Err(WireError::WrongWireType { field: 1 })
        );
    }

    #[test]
    fn a_mesh_packet_and_its_data_round_trip_through_the_writer() {
        let packet = MeshPacket {
            from: 0xa1b2c3d4,
            to: u32::MAX,
            channel: 8,
            payload: PacketPayload::Decoded(Data {
                portnum: 1,
                payload: b"hi".to_vec(),
                reply_id: 7,
                emoji: 1,
                bitfield: 1,
                ..Data::default()
            }),
            id: 42,
            rx_time: 1_700_000_000,
            rx_snr: -7.5,
            hop_limit: 3,
            want_ack: true,
            rx_rssi: -120,
            via_mqtt: true,
            hop_start: 7,
            public_key: vec![1; 32],
            pki_encrypted: true,
            next_hop: 4,
            relay_node: 5,
            priority: 120,
        };
        let envelope = ServiceEnvelope {
            packet: Some(packet),
            channel_id: "LongFast".into(),
            gateway_id: "!a1b2c3d4".into(),
        };
        assert_eq!(ServiceEnvelope::parse(&envelope.encode()), Ok(envelope));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_wire_reader(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let fields: Vec<_> = WireReader::new(&bytes).collect();
            // At most one error, and only as the last item.
            prop_assert!(fields.iter().rev().skip(1).all(Result::is_ok));
            let _ = ServiceEnvelope::parse(&bytes);
            let _ = Data::parse(&bytes);
            let _ = User::parse(&bytes);
            let _ = Position::parse(&bytes);
            let _ = Telemetry::parse(&bytes);
            let _ = Routing::parse(&bytes);
            let _ = MapReport::parse(&bytes);
        }

        #[test]
        fn any_varint_written_reads_back(value in any::<u64>(), field in 1u32..=536_870_911) {
            let mut w = WireWriter::new();
            w.varint(field, value);
            let bytes = w.into_bytes();
            prop_assert_eq!(fields(&bytes), vec![Ok((field, WireValue::Varint(value)))]);
        }
    }
}

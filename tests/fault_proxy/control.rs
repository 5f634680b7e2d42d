//! The control port: a plain-text TCP line protocol, one command per line, one answer line
//! (`ok ...` or `error ...`) per command line. Commands that act on connections return once
//! every current connection has carried them out (or 2 s have passed).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::framing::Chunk;
use crate::state::{OrderKind, Shared};

/// Longest accepted command line (an `inject` of 512 KiB of hex fits).
const MAX_LINE: u64 = 1 << 20;

pub const HELP: &str = "commands: drop | stall on|off | pingresp withhold|pass | \
chunk none|one|random <seed>|coalesce | inject <hex> | text <string> | stats | help | quit";

pub fn serve(shared: Arc<Shared>, listener: TcpListener) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let shared = shared.clone();
                // Out of threads: the connection is dropped, the proxy goes on.
                let _ = thread::Builder::new().spawn(move || session(&shared, stream));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn session(shared: &Shared, stream: TcpStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let mut line = Vec::new();
        match reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.last() != Some(&b'\n') && line.len() as u64 == MAX_LINE {
            let _ = writeln!(writer, "error line longer than {MAX_LINE} bytes");
            return;
        }
        let text = String::from_utf8_lossy(&line);
        let (answer, quit) = execute(shared, text.trim_end_matches(['\n', '\r']));
        if writeln!(writer, "{answer}")
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
        if quit {
            std::process::exit(0);
        }
    }
}

/// Runs one command line; returns the answer line and whether to exit afterwards.
pub fn execute(shared: &Shared, line: &str) -> (String, bool) {
    let line = line.trim_start();
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    let arg = rest.trim();
    let answer = match (cmd, arg) {
        ("drop", "") => Ok(format!("ok dropped {}", shared.drop_all())),
        ("stall", "on" | "off") => {
            let on = arg == "on";
            let n = shared.set_modes(|m| m.stall = on, false);
            Ok(format!("ok stall {arg} connections={n}"))
        }
        ("pingresp", "withhold" | "pass") => {
            let withhold = arg == "withhold";
            let n = shared.set_modes(|m| m.withhold_pingresp = withhold, false);
            Ok(format!("ok pingresp {arg} connections={n}"))
        }
        ("chunk", _) => parse_chunk(arg).map(|chunk| {
            let n = shared.set_modes(|m| m.chunk = chunk, true);
            format!("ok chunk {chunk} connections={n}")
        }),
        ("inject", _) => parse_hex(arg).map(|bytes| {
            let len = bytes.len();
            let n = shared.order_all(|| OrderKind::Inject(bytes.clone()));
            format!("ok inject bytes={len} connections={n}")
        }),
        // The text is everything after `text `, spaces included.
        ("text", _) => {
            let text = rest.to_string();
            let n = shared.order_all(|| OrderKind::Text(text.clone()));
            Ok(format!("ok text bytes={} connections={n}", text.len()))
        }
        ("stats", "") => Ok(stats(shared)),
        ("help", "") => Ok(format!("ok {HELP}")),
        ("quit", "") => return ("ok bye".to_string(), true),
        ("", _) => Err("empty command".to_string()),
        ("drop" | "stats" | "help" | "quit", _) => Err(format!("{cmd} takes no argument")),
        ("stall", _) => Err("usage: stall on|off".to_string()),
        ("pingresp", _) => Err("usage: pingresp withhold|pass".to_string()),
        _ => {
            let shown: String = cmd.chars().take(40).collect();
            Err(format!("unknown command {shown:?}; {HELP}"))
        }
    };
    match answer {
        Ok(ok) => (ok, false),
        Err(e) => (format!("error {e}"), false),
    }
}

fn stats(shared: &Shared) -> String {
    let s = &shared.stats;
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    format!(
        "ok connections={} open={} c2s_bytes={} s2c_bytes={} pingresp_withheld={} frames_to_client={}",
        get(&s.accepted),
        shared.open(),
        get(&s.c2s_bytes),
        get(&s.s2c_bytes),
        get(&s.pingresp_withheld),
        get(&s.frames_to_client),
    )
}

fn parse_chunk(arg: &str) -> Result<Chunk, String> {
    let usage = "usage: chunk none|one|random <seed>|coalesce";
    let words: Vec<&str> = arg.split_whitespace().collect();
    match words.as_slice() {
        ["none"] => Ok(Chunk::None),
        ["one"] => Ok(Chunk::One),
        ["coalesce"] => Ok(Chunk::Coalesce),
        ["random", seed] => seed
            .parse()
            .map(Chunk::Random)
            .map_err(|_| format!("seed {seed:?} is not a u64; {usage}")),
        _ => Err(usage.to_string()),
    }
}

/// Hex digits, case-insensitive; whitespace between them is ignored.
fn parse_hex(arg: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = arg.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.is_empty() {
        return Err("usage: inject <hex>".to_string());
    }
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_string());
    }
    let nibble = |d: u8| {
        (d as char)
            .to_digit(16)
            .ok_or_else(|| format!("{:?} is not a hex digit", d as char))
    };
    digits
        .chunks(2)
        .map(|pair| Ok((nibble(pair[0])? * 16 + nibble(pair[1])?) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared::new("127.0.0.1:1".parse().unwrap())
    }

    #[test]
    fn parses_hex_and_chunk() {
        assert_eq!(parse_hex("3f020000"), Ok(vec![0x3f, 0x02, 0x00, 0x00]));
        assert_eq!(parse_hex("3F 02 ff"), Ok(vec![0x3f, 0x02, 0xff]));
        assert!(parse_hex("3").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex("").is_err());
        assert_eq!(parse_chunk("random 42"), Ok(Chunk::Random(42)));
        assert!(parse_chunk("random").is_err());
        assert!(parse_chunk("random -1").is_err());
        assert!(parse_chunk("sideways").is_err());
    }

    #[test]
    fn answers_every_line() {
        let s = shared();
        for (line, start) in [
            ("stats", "ok connections=0 open=0 c2s_bytes=0"),
            ("stall on", "ok stall on connections=0"),
            ("stall maybe", "error "),
            ("chunk random 9", "ok chunk random 9 connections=0"),
            ("inject 3f020000", "ok inject bytes=4 connections=0"),
            ("inject xyz", "error "),
            ("text  two  spaces", "ok text bytes=12 connections=0"),
            ("", "error "),
            ("frobnicate", "error "),
            ("drop", "ok dropped 0"),
            ("drop now", "error "),
        ] {
            let (answer, quit) = execute(&s, line);
            assert!(answer.starts_with(start), "{line:?} -> {answer:?}");
            assert!(!quit);
        }
        assert_eq!(execute(&s, "quit"), ("ok bye".to_string(), true));
        let modes = s.registry().modes.clone();
        assert!(modes.stall);
        assert_eq!(modes.chunk, Chunk::Random(9));
    }
}

// Self-check of the fault-proxy against a real mosquitto, with MQTT.js and a raw `ws` client.
//
//   node tests/fault_proxy/selfcheck.mjs target/debug/examples/fault-proxy
//
// Starts its own mosquitto (TCP + WebSocket listeners on free loopback ports) and the proxy
// binary given as argv[2], runs every check, prints `N passed, N failed`, exits non-zero on any
// failure, and stops what it started by pid. Needs `mosquitto` and `mosquitto_pub` on PATH and
// tests/e2e/node_modules (mqtt, ws) installed.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';
import { freePort, sleep, waitForPort } from '../e2e/lib.mjs';

const require = createRequire(new URL('../e2e/package.json', import.meta.url));
const mqtt = require('mqtt');
const WebSocket = require('ws');

const BIN = process.argv[2] && resolve(process.argv[2]);
if (!BIN) {
  console.error('usage: node selfcheck.mjs <path to fault-proxy binary>');
  process.exit(2);
}

const children = new Set(); // every process started here, stopped by pid at the end
// Whatever way this script ends, nothing it started outlives it.
process.on('exit', () => {
  for (const c of children) if (c.pid !== undefined) try { process.kill(c.pid, 'SIGTERM'); } catch { /* gone */ }
  if (broker?.dir) rmSync(broker.dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => process.exit(1));

function start(cmd, args, stdio = ['ignore', 'pipe', 'pipe']) {
  const proc = spawn(cmd, args, { stdio });
  children.add(proc);
  proc.out = '';
  proc.err = '';
  proc.stdout?.on('data', (d) => { proc.out += d; });
  proc.stderr?.on('data', (d) => { proc.err += d; });
  proc.exited = new Promise((r) => {
    const done = (result) => { children.delete(proc); r(result); };
    proc.once('exit', (code, signal) => done({ code, signal }));
    // E.g. ENOENT: there is no process, and no 'exit' will come.
    proc.once('error', (error) => { if (proc.pid === undefined) done({ code: null, error }); });
  });
  return proc;
}

function stop(proc) {
  if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
    try { process.kill(proc.pid, 'SIGTERM'); } catch { /* already gone */ }
  }
  return proc.exited;
}

function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, fail) => { timer = setTimeout(() => fail(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

async function startMosquitto() {
  const dir = mkdtempSync(join(tmpdir(), 'fault-proxy-selfcheck-'));
  const tcpPort = await freePort();
  const wsPort = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [
    'per_listener_settings false', 'allow_anonymous true',
    `listener ${tcpPort} 127.0.0.1`, 'protocol mqtt',
    `listener ${wsPort} 127.0.0.1`, 'protocol websockets', '',
  ].join('\n'));
  const proc = start('mosquitto', ['-c', conf]);
  await waitForPort(tcpPort);
  await waitForPort(wsPort);
  return { proc, tcpPort, wsPort, dir };
}

/** Starts the proxy with a stdin pipe (it exits when that closes) and reads its ports. */
async function startProxy(upstreamPort) {
  const proc = start(BIN, ['--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamPort}`, '--control', '127.0.0.1:0'],
    ['pipe', 'pipe', 'pipe']);
  const line = await within(new Promise((ok, fail) => {
    const look = () => { const i = proc.out.indexOf('\n'); if (i >= 0) ok(proc.out.slice(0, i)); };
    proc.stdout.on('data', look);
    proc.exited.then(({ code, error }) => fail(new Error(`proxy exited (${error ?? code}): ${proc.err}`)));
  }), 10000, 'proxy start line');
  const m = /^listening ws=(\d+) control=(\d+)$/.exec(line);
  if (!m) throw new Error(`unexpected start line ${JSON.stringify(line)}`);
  const control = await Control.connect(Number(m[2]));
  return { proc, wsPort: Number(m[1]), controlPort: Number(m[2]), control, url: `ws://127.0.0.1:${m[1]}/mqtt` };
}

class Control {
  static connect(port) {
    return new Promise((ok, fail) => {
      const sock = net.connect(port, '127.0.0.1', () => ok(new Control(sock)));
      sock.once('error', fail);
    });
  }
  constructor(sock) {
    this.sock = sock;
    this.buf = '';
    this.waiting = [];
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        this.waiting.shift()?.(line);
      }
    });
    sock.on('error', () => {});
  }
  /** Sends one command line; resolves with its answer line. */
  send(line) {
    const answer = new Promise((r) => this.waiting.push(r));
    this.sock.write(line + '\n');
    return within(answer, 5000, `control answer to ${JSON.stringify(line)}`);
  }
  async ok(line) {
    const answer = await this.send(line);
    if (!answer.startsWith('ok')) throw new Error(`${line} -> ${answer}`);
    return answer;
  }
  async stats() {
    const answer = await this.ok('stats');
    return Object.fromEntries([...answer.matchAll(/(\w+)=(\d+)/g)].map(([, k, v]) => [k, Number(v)]));
  }
  close() { this.sock.destroy(); }
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }
function assertEq(a, b, msg) {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${msg}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
}

let broker;
let proxy;
const leftovers = new Set(); // clients to force-close after each check

/** Publishes lines (one message each) with mosquitto_pub over TCP. */
async function publishLines(topic, lines) {
  const pub = start('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.tcpPort), '-t', topic, '-l'], ['pipe', 'ignore', 'pipe']);
  pub.stdin.end(lines.join('\n') + '\n');
  const { code } = await within(pub.exited, 10000, 'mosquitto_pub');
  assertEq(code, 0, `mosquitto_pub failed: ${pub.err}`);
}

async function publish(topic, message) {
  const pub = start('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.tcpPort), '-t', topic, '-m', message]);
  const { code } = await within(pub.exited, 10000, 'mosquitto_pub');
  assertEq(code, 0, `mosquitto_pub failed: ${pub.err}`);
}

/** An MQTT.js client straight to the broker's TCP port, subscribed (SUBACK seen) to `topic`. */
async function observe(topic) {
  const obs = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0, connectTimeout: 5000 });
  leftovers.add(() => obs.end(true));
  obs.payloads = [];
  obs.on('message', (_t, payload) => obs.payloads.push(payload.toString()));
  obs.on('error', () => {});
  await obs.subscribeAsync(topic, { qos: 1 });
  return obs;
}

let clientSeq = 0; // client ids
let connectionsMade = 0; // WebSockets opened through the main proxy
/** An MQTT.js client through the proxy, connected (or rejected). */
async function mqttClient(opts = {}) {
  connectionsMade += 1;
  const client = mqtt.connect(proxy.url, {
    clientId: `fp-selfcheck-${process.pid}-${++clientSeq}`, reconnectPeriod: 0, connectTimeout: 5000, keepalive: 60, ...opts,
  });
  leftovers.add(() => client.end(true));
  client.seen = { close: 0, errors: [], messages: [] };
  client.on('close', () => { client.seen.close += 1; });
  client.on('error', (e) => { client.seen.errors.push(String(e.message ?? e)); });
  client.on('message', (topic, payload) => client.seen.messages.push({ topic, payload: payload.toString() }));
  await within(new Promise((ok, fail) => {
    client.once('connect', ok);
    client.once('error', fail);
    client.once('close', () => fail(new Error('closed before CONNACK')));
  }), 8000, 'MQTT.js connect through the proxy');
  return client;
}

async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return;
    await sleep(20);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

// ---- raw MQTT over a raw WebSocket, to see the proxy's frames exactly -----------------------

function varint(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
const str = (s) => { const b = Buffer.from(s); return [b.length >> 8, b.length & 0xff, ...b]; };
const packet = (first, body) => Buffer.from([first, ...varint(body.length), ...body]);
const connectPacket = (id) => packet(0x10, [...str('MQTT'), 4, 0x02, 0, 60, ...str(id)]);
const subscribePacket = (topic) => packet(0x82, [0, 1, ...str(topic), 0]);

/** Splits an MQTT byte stream into packets (fixed header + remaining length). */
function splitPackets(buf) {
  const packets = [];
  let i = 0;
  while (i < buf.length) {
    let len = 0; let mult = 1; let j = i + 1;
    for (;;) {
      if (j >= buf.length) return { packets, rest: buf.subarray(i) };
      const b = buf[j++];
      len += (b & 0x7f) * mult;
      mult *= 128;
      if (!(b & 0x80)) break;
    }
    if (j + len > buf.length) return { packets, rest: buf.subarray(i) };
    packets.push(buf.subarray(i, j + len));
    i = j + len;
  }
  return { packets, rest: buf.subarray(i) };
}

async function rawClient() {
  connectionsMade += 1;
  const ws = new WebSocket(proxy.url, 'mqtt');
  leftovers.add(() => ws.terminate());
  ws.frames = []; // { binary, data }
  ws.on('message', (data, isBinary) => ws.frames.push({ binary: isBinary, data: Buffer.from(data) }));
  ws.closed = new Promise((r) => ws.once('close', (code) => r(code)));
  ws.on('error', () => {});
  await within(new Promise((ok, fail) => { ws.once('open', ok); ws.once('error', fail); }), 5000, 'raw ws open');
  assertEq(ws.protocol, 'mqtt', 'negotiated subprotocol');
  return ws;
}
const rawBytes = (ws) => Buffer.concat(ws.frames.filter((f) => f.binary).map((f) => f.data));

/**
 * A raw session in the current chunk mode: CONNECT, SUBSCRIBE, then `lines` published over TCP
 * and one big message. Returns the frame sizes and the packets that arrived.
 */
async function rawSession(topic, lines, big) {
  const ws = await rawClient();
  ws.send(connectPacket(`fp-raw-${process.pid}-${++clientSeq}`));
  ws.send(subscribePacket(topic));
  await until(() => splitPackets(rawBytes(ws)).packets.length >= 2, 5000, 'CONNACK + SUBACK');
  await publishLines(topic, lines);
  await publish(topic, big);
  await until(() => splitPackets(rawBytes(ws)).packets.length >= 3 + lines.length, 5000, 'all PUBLISH packets');
  await sleep(100); // anything extra would show up now
  ws.close();
  await ws.closed;
  const { packets, rest } = splitPackets(rawBytes(ws));
  return { sizes: ws.frames.map((f) => f.data.length), packets, rest };
}

function splitHeaderLen(p) { // remaining length of a complete packet
  let len = 0; let mult = 1; let j = 1;
  for (;;) { const b = p[j++]; len += (b & 0x7f) * mult; mult *= 128; if (!(b & 0x80)) return len; }
}
function payloadOf(p) {
  const headerLen = 1 + varint(splitHeaderLen(p)).length;
  const topicLen = (p[headerLen] << 8) | p[headerLen + 1];
  return p.subarray(headerLen + 2 + topicLen).toString();
}

// ---- the checks -----------------------------------------------------------------------------

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check('refuses non-loopback addresses before touching the network', async () => {
  for (const [flag, addr] of [['--upstream', '10.0.0.1:1883'], ['--listen', '0.0.0.0:0'], ['--control', '[::]:0']]) {
    const args = { '--listen': '127.0.0.1:0', '--upstream': '127.0.0.1:1883', '--control': '127.0.0.1:0', [flag]: addr };
    const p = start(BIN, Object.entries(args).flat(), ['pipe', 'pipe', 'pipe']);
    const { code } = await within(p.exited, 5000, 'proxy refusing');
    assert(code !== 0, `${flag} ${addr} accepted`);
    assert(/loopback/.test(p.err), `no loopback error for ${flag} ${addr}: ${p.err}`);
    assertEq(p.out, '', 'stdout of a refused start');
  }
});

check('starts, prints its ports, answers stats', async () => {
  const s = await proxy.control.stats();
  assertEq([s.connections, s.open], [0, 0], 'fresh stats');
});

check('control answers every line, errors included', async () => {
  for (const bad of ['bogus', '', 'chunk random x', 'chunk sideways', 'inject 3', 'inject zz', 'stall maybe', 'drop now']) {
    const answer = await proxy.control.send(bad);
    assert(answer.startsWith('error '), `${JSON.stringify(bad)} -> ${answer}`);
  }
  assert((await proxy.control.send('help')).startsWith('ok commands:'), 'help');
});

const LINES = Array.from({ length: 10 }, (_, i) => `line-${i}-${'y'.repeat(i * 7)}`);
const BIG = 'B'.repeat(3000) + '-end'; // two-byte remaining length, > 64 bytes

for (const mode of ['none', 'one', 'random 7', 'coalesce']) {
  check(`chunk ${mode}: MQTT.js gets every message intact`, async () => {
    await proxy.control.ok(`chunk ${mode}`);
    const topic = `fp/mqttjs/${mode.replace(' ', '-')}`;
    const client = await mqttClient();
    await client.subscribeAsync(topic, { qos: 1 });
    await publishLines(topic, LINES);
    await publish(topic, BIG);
    await until(() => client.seen.messages.length >= LINES.length + 1, 5000, 'all messages');
    assertEq(client.seen.messages.map((m) => m.payload), [...LINES, BIG], 'payloads in order');
    assertEq(client.seen.errors, [], 'MQTT.js errors');
    await client.endAsync();
  });

  check(`chunk ${mode}: frames on the wire have the promised shape`, async () => {
    await proxy.control.ok(`chunk ${mode}`);
    const before = await proxy.control.stats();
    const topic = `fp/raw/${mode.replace(' ', '-')}`;
    const { sizes, packets, rest } = await rawSession(topic, LINES, BIG);
    const after = await proxy.control.stats();
    assertEq(rest.length, 0, 'trailing partial packet');
    assertEq(packets.map((p) => p[0]), [0x20, 0x90, ...LINES.map(() => 0x30), 0x30], 'packet types');
    assertEq(packets.slice(2).map(payloadOf), [...LINES, BIG], 'payloads');
    const bytes = sizes.reduce((a, b) => a + b, 0);
    assertEq(after.s2c_bytes - before.s2c_bytes, bytes, 's2c_bytes counts what was sent');
    assertEq(after.frames_to_client - before.frames_to_client, sizes.length, 'frames_to_client');
    const n = packets.length;
    if (mode === 'none') assertEq(sizes, packets.map((p) => p.length), 'one frame per broker packet');
    if (mode === 'one') assert(sizes.every((s) => s === 1), `frame sizes ${sizes}`);
    if (mode.startsWith('random')) {
      assert(sizes.every((s) => s >= 1 && s <= 64), `frame sizes out of 1..=64: ${sizes}`);
      assert(sizes.length > n && new Set(sizes).size > 5, `not split at random: ${sizes}`);
    }
    if (mode === 'coalesce') {
      assert(sizes.length < n, `${sizes.length} frames for ${n} packets: nothing coalesced (${sizes})`);
      // Every frame holds whole packets.
      let at = 0; const ends = new Set(packets.map((p) => (at += p.length)));
      at = 0; for (const s of sizes) { at += s; assert(ends.has(at), `frame ends inside a packet: ${sizes}`); }
    }
  });
}

check('chunk random <seed> is reproducible and seed-dependent', async () => {
  const run = async (seed) => {
    await proxy.control.ok(`chunk random ${seed}`);
    return (await rawSession(`fp/seed/${seed}`, LINES, BIG)).sizes;
  };
  const a = await run(42);
  const b = await run(42);
  const c = await run(43);
  assertEq(a, b, 'same seed, same chunks');
  assert(JSON.stringify(a) !== JSON.stringify(c), 'another seed, same chunks');
  await proxy.control.ok('chunk none');
});

check('inject sends exact bytes as one binary frame; text sends a text frame', async () => {
  await proxy.control.ok('chunk one'); // inject bypasses chunking
  const ws = await rawClient();
  const answer = await proxy.control.ok('inject 3f 02 00 00');
  assert(/connections=1/.test(answer), answer);
  assert((await proxy.control.ok('text hello  there')).includes('connections=1'), 'text to one connection');
  await until(() => ws.frames.length >= 2, 3000, 'two frames');
  assertEq(ws.frames[0], { binary: true, data: Buffer.from([0x3f, 0x02, 0x00, 0x00]) }, 'injected frame');
  assertEq([ws.frames[1].binary, ws.frames[1].data.toString()], [false, 'hello  there'], 'text frame');
  ws.close();
  await ws.closed;
  await proxy.control.ok('chunk none');
});

// MQTT.js reports a parser error with an `error` event and leaves the connection open.
for (const [hex, what] of [['3f020000', 'a QoS 3 PUBLISH'], ['30ffffffff7f', 'a five-byte remaining length']]) {
  check(`inject ${hex} (${what}) makes MQTT.js error or close`, async () => {
    const client = await mqttClient();
    assert((await proxy.control.ok(`inject ${hex}`)).includes('connections=1'), 'inject to one connection');
    await until(() => client.seen.errors.length > 0 || client.seen.close > 0, 5000, 'MQTT.js error or close');
    console.log(`#   MQTT.js: errors ${JSON.stringify(client.seen.errors)}, closed ${client.seen.close > 0}`);
  });
}

check('stall holds traffic both ways, stall off delivers it in order', async () => {
  const client = await mqttClient();
  const topic = 'fp/stall/s2c';
  await client.subscribeAsync(topic, { qos: 1 });
  const obs = await observe('fp/stall/c2s');
  assert((await proxy.control.ok('stall on')).includes('connections=1'), 'stall on one connection');
  await publishLines(topic, ['s1', 's2', 's3']);
  client.publish('fp/stall/c2s', 'from-client');
  await sleep(800);
  assertEq(client.seen.messages.length, 0, 'messages during stall');
  assertEq(obs.payloads, [], 'broker got the client publish during stall');
  await proxy.control.ok('stall off');
  await until(() => client.seen.messages.length === 3, 3000, 'stalled messages');
  assertEq(client.seen.messages.map((m) => m.payload), ['s1', 's2', 's3'], 'order after stall');
  await until(() => obs.payloads.length > 0, 3000, 'the broker to get the client publish');
  assertEq(obs.payloads, ['from-client'], 'c2s after stall');
  await client.endAsync();
});

check('drop closes clients abruptly (1006, no close frame) and the broker sees an unclean disconnect', async () => {
  const obs = await observe('fp/will');
  const client = await mqttClient({ will: { topic: 'fp/will', payload: 'gone', qos: 0, retain: false } });
  const raw = await rawClient();
  assertEq(await proxy.control.ok('drop'), 'ok dropped 2', 'drop answer');
  await until(() => client.seen.close > 0, 3000, 'MQTT.js close');
  assertEq(await within(raw.closed, 3000, 'raw close'), 1006, 'raw client close code');
  await until(() => obs.payloads.length > 0, 5000, 'will message (broker saw no DISCONNECT)');
  assertEq(obs.payloads, ['gone'], 'will payload');
  assertEq((await proxy.control.stats()).open, 0, 'open after drop');
  // Modes persist; drop is one-shot: the next client connects normally.
  const again = await mqttClient();
  await again.endAsync();
});

check('an unreachable broker fails the client handshake with 502', async () => {
  const p = await startProxy(await freePort()); // nothing listens there
  const ws = new WebSocket(p.url, 'mqtt');
  const failure = await within(new Promise((r) => {
    ws.once('unexpected-response', (_req, res) => { r(res.statusCode); ws.terminate(); });
    ws.once('open', () => r('open'));
    ws.once('error', (e) => r(String(e.message)));
  }), 8000, 'handshake failure');
  assertEq(failure, 502, 'handshake answer');
  assertEq((await p.control.stats()).open, 0, 'open');
  await p.control.send('quit');
  await within(p.proc.exited, 3000, 'quit');
  p.control.close();
});

check('garbage on either port ends that connection only', async () => {
  const rawTcp = (port, bytes) => new Promise((r) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    let got = '';
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('error', () => {});
    sock.on('close', () => r(got));
    setTimeout(() => sock.destroy(), 3000);
  });
  const junk = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff).filter((b) => b !== 10));
  await rawTcp(proxy.wsPort, junk); // not HTTP
  // A valid upgrade, then bytes that are no WebSocket frame (reserved opcode, unmasked).
  const upgrade = 'GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
    + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n';
  connectionsMade += 1;
  const answer = await new Promise((r) => {
    const sock = net.connect(proxy.wsPort, '127.0.0.1', () => sock.write(upgrade));
    let got = '';
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) sock.write(Buffer.from([0xf3, 0x05, 1, 2, 3, 4, 5]));
    });
    sock.on('error', () => {});
    sock.on('close', () => r(got));
    setTimeout(() => { got += '(still open)'; sock.destroy(); }, 3000);
  });
  assert(answer.startsWith('HTTP/1.1 101') && /sec-websocket-protocol: mqtt/i.test(answer), `upgrade answer ${answer}`);
  assert(!answer.includes('(still open)'), 'the proxy kept a connection that sent a bad frame');
  const control = await rawTcp(proxy.controlPort, Buffer.concat([junk, Buffer.from('\nstats\nquit now\n')]));
  const lines = control.trim().split('\n');
  assertEq(lines.length, 3, `one answer per line: ${JSON.stringify(lines)}`);
  assert(lines[0].startsWith('error ') && lines[1].startsWith('ok connections=') && lines[2].startsWith('error '), `answers ${lines}`);
  const end = Date.now() + 3000;
  let s;
  while (Date.now() < end && (s = await proxy.control.stats()).open !== 0) await sleep(50);
  assertEq(s.open, 0, 'open after garbage');
  const client = await mqttClient(); // still serving
  await client.endAsync();
});

check('a client close closes the broker side', async () => {
  const client = await mqttClient();
  assertEq((await proxy.control.stats()).open, 1, 'open while connected');
  await client.endAsync();
  const end = Date.now() + 3000;
  let open;
  while (Date.now() < end && (open = (await proxy.control.stats()).open) !== 0) await sleep(50);
  assertEq(open, 0, 'open after client end');
});

check('a broker close reaches the client (session takeover)', async () => {
  const a = await mqttClient({ clientId: `fp-takeover-${process.pid}` });
  const b = await mqttClient({ clientId: `fp-takeover-${process.pid}` });
  await until(() => a.seen.close > 0, 3000, 'first client closed by the broker');
  assert(b.connected, 'second client connected');
  await b.endAsync();
});

check('pingresp pass keeps keepalive 2 alive; withhold makes MQTT.js time out', async () => {
  await proxy.control.ok('pingresp pass');
  const before = (await proxy.control.stats()).pingresp_withheld;
  const client = await mqttClient({ keepalive: 2 });
  await sleep(5000);
  assertEq(client.seen.close, 0, 'closed while PINGRESPs passed');
  await proxy.control.ok('pingresp withhold');
  const t0 = Date.now();
  await until(() => client.seen.close > 0, 10000, 'keepalive timeout');
  const stats = await proxy.control.stats();
  assert(stats.pingresp_withheld > before, `pingresp_withheld ${before} -> ${stats.pingresp_withheld}`);
  console.log(`#   keepalive timeout after ${Date.now() - t0} ms, errors: ${client.seen.errors}`);
  await proxy.control.ok('pingresp pass');
});

check('stats counts connections and bytes', async () => {
  const s = await proxy.control.stats();
  assertEq(s.connections, connectionsMade, 'connections = every WebSocket made through the proxy');
  assertEq(s.open, 0, 'open at the end');
  assert(s.c2s_bytes > 0 && s.s2c_bytes > 0 && s.frames_to_client > 0, `counters: ${JSON.stringify(s)}`);
});

check('quit answers and exits', async () => {
  const p = await startProxy(broker.wsPort);
  assertEq(await p.control.send('quit'), 'ok bye', 'quit answer');
  const { code } = await within(p.proc.exited, 3000, 'exit after quit');
  assertEq(code, 0, 'exit code');
  p.control.close();
});

check('exits when its stdin closes', async () => {
  const p = await startProxy(broker.wsPort);
  p.proc.stdin.end();
  const { code } = await within(p.proc.exited, 3000, 'exit after stdin EOF');
  assertEq(code, 0, 'exit code');
  p.control.close();
});

// ---- run ------------------------------------------------------------------------------------

let passed = 0;
let failed = 0;
const overall = setTimeout(() => {
  console.log('# overall time limit reached');
  cleanup().finally(() => { console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1); });
}, 180000);

async function cleanup() {
  proxy?.control?.close();
  await Promise.all([...children].map(stop));
  if (broker?.dir) rmSync(broker.dir, { recursive: true, force: true });
}

try {
  broker = await startMosquitto();
  proxy = await startProxy(broker.wsPort);
  for (const { name, fn } of checks) {
    try {
      // Every check starts from the default modes with no clients left over.
      for (const line of ['stall off', 'pingresp pass', 'chunk none']) await proxy.control.ok(line);
      await within(fn(), 30000, name);
      passed += 1;
      console.log(`ok - ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`not ok - ${name}\n#   ${String(e?.stack ?? e).split('\n').join('\n#   ')}`);
    }
    for (const close of leftovers) close();
    leftovers.clear();
  }
} catch (e) {
  failed += 1;
  console.log(`not ok - setup\n#   ${e?.stack ?? e}`);
}
await cleanup();
clearTimeout(overall);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

// The limit: a bare WebSocket that speaks just enough MQTT 3.1.1 (CONNECT, SUBSCRIBE, PUBACK)
// to subscribe, splits frames into packets and counts PUBLISHes. Runs in a page (bare.html)
// or in a Worker (worker.html?peer=bare), where it posts its count to the page.
// Its PUBACKs wait for the frames already queued behind them (a zero timeout) and go out
// together in one frame, as our session's do: one frame per ack held a QoS 1 flood to about
// half the rate, and a ceiling must not be lower than what a client can do.
const q = new URLSearchParams(self.location.search);
const enc = new TextEncoder();
const str = (s) => { const b = enc.encode(s); return [b.length >> 8, b.length & 255, ...b]; };
const packet = (head, body) => {
  const len = []; let n = body.length;
  do { let d = n % 128; n = Math.floor(n / 128); if (n > 0) d |= 128; len.push(d); } while (n > 0);
  return new Uint8Array([head, ...len, ...body]);
};
self.bench = { count: 0, first: 0, last: 0, ready: false };
const ws = new WebSocket(q.get('broker'), 'mqtt');
ws.binaryType = 'arraybuffer';
ws.onopen = () => {
  ws.send(packet(0x10, [...str('MQTT'), 4, 2, 0, 60, ...str('bench-bare-' + Math.random().toString(16).slice(2))]));
  ws.send(packet(0x82, [0, 1, ...str(q.get('sub')), 1]));
};
let pending = new Uint8Array(0);
let acks = [], ackTimer = 0;
const sendAcks = () => { ackTimer = 0; ws.send(new Uint8Array(acks)); acks = []; };
ws.onmessage = (ev) => {
  let buf = new Uint8Array(ev.data);
  if (pending.length) { const m = new Uint8Array(pending.length + buf.length); m.set(pending); m.set(buf, pending.length); buf = m; }
  let i = 0;
  while (i < buf.length) {
    let mult = 1, len = 0, j = i + 1, b;
    do { if (j >= buf.length) { pending = buf.slice(i); return; } b = buf[j++]; len += (b & 127) * mult; mult *= 128; } while (b & 128);
    if (j + len > buf.length) { pending = buf.slice(i); return; }
    const type = buf[i] >> 4;
    if (type === 2 && !self.bench.connectedAt) self.bench.connectedAt = performance.now();
    if (type === 9) self.bench.ready = true;
    if (type === 3) {
      const qos = (buf[i] >> 1) & 3;
      if (qos > 0) {
        const tl = (buf[j] << 8) | buf[j + 1]; const id = j + 2 + tl;
        acks.push(0x40, 2, buf[id], buf[id + 1]);
        if (!ackTimer) ackTimer = setTimeout(sendAcks, 0);
      }
      const now = performance.now();
      if (self.bench.count === 0) self.bench.first = now;
      self.bench.count++; self.bench.last = now;
    }
    i = j + len;
  }
  pending = new Uint8Array(0);
};
if (typeof WorkerGlobalScope !== 'undefined') importScripts('/bench/report.js');

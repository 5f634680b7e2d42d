// MQTT.js 5 (its browser bundle, loaded first), subscribe + count, nothing else. Runs in a
// page (mqttjs.html) or in a Worker (worker.html?peer=mqttjs).
if (typeof WorkerGlobalScope !== 'undefined') importScripts('/bench/mqtt.min.js');
const q = new URLSearchParams(self.location.search);
self.bench = { count: 0, first: 0, last: 0, ready: false };
const client = mqtt.connect(q.get('broker'), { protocolVersion: 4, reconnectPeriod: 0, clientId: 'bench-mqttjs-' + Math.random().toString(16).slice(2) });
client.on('connect', () => client.subscribe(q.get('sub'), { qos: 1 }, () => { self.bench.ready = true; }));
client.on('message', () => {
  const now = performance.now();
  if (self.bench.count === 0) self.bench.first = now;
  self.bench.count++; self.bench.last = now;
});
if (typeof WorkerGlobalScope !== 'undefined') importScripts('/bench/report.js');

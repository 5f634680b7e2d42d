// The benchmark: one mosquitto, one headless Chromium, on loopback. Floods a topic from a
// native publisher (mosquitto_pub -l) and measures, side by side:
//   (a) our app with its full UI, (b) our session alone in the page, (c) MQTT.js 5 in the
//   page (subscribe + count), (d) a bare WebSocket that only parses frames and counts.
// Prints figures and ratios; it asserts nothing (benchmarks are not timed tests).
// Usage: node tests/bench/bench.mjs [--quick]
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync, existsSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, extname } from 'node:path';
import { Mosquitto, DIST, ROOT, freePort, launchBrowser, sleep } from '../e2e/lib.mjs';

const QUICK = process.argv.includes('--quick');
// --only=a,b: just these clients (for profiling one of them); the report then omits ratios.
const ONLY = (process.argv.find((a) => a.startsWith('--only=')) ?? '--only=d,c,b,a').slice(7).split(',');
const scale = QUICK ? 10 : 1;
const FLOODS = [
  { name: '64 B QoS 0', count: 200_000 / scale, size: 64, qos: 0 },
  { name: '4 KiB QoS 0', count: 20_000 / scale, size: 4096, qos: 0 },
  { name: '64 B QoS 1', count: 2_000 / scale, size: 64, qos: 1 },
];
const MQTTJS = join(ROOT, 'tests/e2e/node_modules/mqtt/dist/mqtt.min.js');
const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

function serve() {
  return new Promise(async (ok) => {
    const server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      let file = path === '/bench/mqtt.min.js' ? MQTTJS
        : path.startsWith('/bench/') ? join(ROOT, 'tests', path) : join(DIST, path === '/' ? 'index.html' : path);
      if (!existsSync(file) || statSync(file).isDirectory()) { res.writeHead(404); res.end(); return; }
      res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
      res.end(readFileSync(file));
    });
    const port = await freePort();
    server.listen(port, '127.0.0.1', () => ok({ url: `http://127.0.0.1:${port}`, close: () => server.close() }));
  });
}

// Records the longest gap between animation frames while `bench.recording` is on.
const FRAME_RECORDER = `
  window.bench = window.bench || { count: 0, first: 0, last: 0, ready: false };
  window.frames = { maxGap: 0, recording: false };
  (() => { let prev = 0; const tick = (t) => {
    if (window.frames.recording && prev) window.frames.maxGap = Math.max(window.frames.maxGap, t - prev);
    prev = t; requestAnimationFrame(tick); }; requestAnimationFrame(tick); })();`;
// (a): counts what the user sees, the subscription's data-count, once per frame.
const UI_COUNTER = `
  window.bench = { count: 0, first: 0, last: 0, ready: false, connectedAt: 0 };
  (() => { const tick = () => {
    const status = document.querySelector('[data-testid="connection-status"]');
    if (status && status.textContent === 'connected' && !window.bench.connectedAt) window.bench.connectedAt = performance.now();
    const el = document.querySelector('[data-testid="subscription"][data-filter="bench/#"]');
    if (el) {
      const c = Number(el.dataset.count);
      if (c !== window.bench.count) { const now = performance.now(); if (!window.bench.count) window.bench.first = now; window.bench.count = c; window.bench.last = now; }
      window.bench.ready = el.dataset.state === 'active';
    }
    requestAnimationFrame(tick); }; requestAnimationFrame(tick); })();`;

async function metrics(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
}

/** The broker is the user's saved one (a returning user), so `connect=1` connects at once. */
const savedBroker = (wsUrl) => `\nlocalStorage.setItem('mqtt-web.profile', ${JSON.stringify(JSON.stringify({ broker_url: wsUrl }))});`;

async function openClient(browser, kind, site, broker) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  if (kind === 'a') await page.addInitScript(UI_COUNTER + savedBroker(broker.wsUrl));
  await page.addInitScript(FRAME_RECORDER);
  const b = encodeURIComponent(broker.wsUrl);
  const url = {
    a: `${site.url}/?broker=${b}&connect=1`,
    b: `${site.url}/?bench=session&broker=${b}&sub=bench/%23`,
    c: `${site.url}/bench/mqttjs.html?broker=${b}&sub=bench/%23`,
    d: `${site.url}/bench/bare.html?broker=${b}&sub=bench/%23`,
  }[kind];
  await page.goto(url);
  if (kind === 'a') {
    await page.waitForFunction(() => window.bench.connectedAt > 0, null, { timeout: 20000 });
    await page.locator('[data-testid="subscribe-topic"]').fill('bench/#');
    await page.locator('[data-testid="subscribe-qos"]').selectOption('1');
    await page.locator('[data-testid="subscribe-button"]').click();
    await page.waitForFunction(() => window.bench.ready, null, { timeout: 10000 });
  } else if (kind === 'b') {
    await page.waitForFunction(() => window.mqttWebBench !== undefined, null, { timeout: 20000 });
    await sleep(1000); // connected and subscribed (the counter page has no UI to watch)
  } else {
    await page.waitForFunction(() => window.bench.ready, null, { timeout: 20000 });
  }
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  return { page, cdp, context, kind };
}

const readCount = (client) => client.page.evaluate((kind) => {
  if (kind === 'b') { const [count, first, last] = window.mqttWebBench; return { count, first, last }; }
  const b = window.bench;
  return { count: b.count || 0, first: b.first || 0, last: b.last || 0 };
}, client.kind);

async function flood(broker, flood, topic) {
  const line = 'x'.repeat(flood.size - 1) + '\n';
  const input = line.repeat(flood.count);
  const pub = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.tcpPort), '-t', topic, '-q', String(flood.qos), '-l'], { stdio: ['pipe', 'ignore', 'inherit'] });
  const done = new Promise((r) => pub.once('exit', r));
  pub.stdin.end(input);
  await done;
}

async function measure(client, broker, f) {
  const before = await metrics(client.cdp);
  const startCount = (await readCount(client)).count;
  await client.page.evaluate(() => { window.frames.maxGap = 0; window.frames.recording = true; });
  const t0 = Date.now();
  await flood(broker, f, 'bench/flood');
  let last = -1, stableSince = Date.now();
  for (;;) {
    const { count } = await readCount(client);
    if (count - startCount >= f.count) break;
    if (count !== last) { last = count; stableSince = Date.now(); }
    if (Date.now() - stableSince > 5000 || Date.now() - t0 > 180000) break;
    await sleep(100);
  }
  const maxGap = await client.page.evaluate(() => { window.frames.recording = false; return window.frames.maxGap; });
  const after = await metrics(client.cdp);
  const { count, first, last: lastAt } = await readCount(client);
  const received = count - startCount;
  // The counters' first/last span the whole page life: use them only for the first flood,
  // else the wall time of this flood's arrivals measured by polling.
  return {
    received, lost: f.count - received,
    seconds: null, first, lastAt,
    maxGap,
    scriptPer1k: ((after.ScriptDuration - before.ScriptDuration) * 1000) / (received / 1000 || 1),
    taskPer1k: ((after.TaskDuration - before.TaskDuration) * 1000) / (received / 1000 || 1),
  };
}

async function heapAfterGc(client) {
  await client.cdp.send('HeapProfiler.collectGarbage');
  return (await metrics(client.cdp)).JSHeapUsedSize;
}

const fmt = (n, d = 0) => (n === null || n === undefined || Number.isNaN(n) ? '—' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

async function main() {
  if (!existsSync(join(DIST, 'index.html'))) throw new Error('dist/ missing: run scripts/build-release.sh');
  const broker = await new Mosquitto({ extra: 'max_queued_messages 0\nmax_queued_bytes 0' }).start();
  const site = await serve();
  const browser = await launchBrowser();
  const results = {};
  try {
    for (const f of FLOODS) {
      results[f.name] = {};
      for (const kind of ['d', 'c', 'b', 'a'].filter((k) => ONLY.includes(k))) {
        const client = await openClient(browser, kind, site, broker);
        // Rate over this flood only: timestamps of the first and last arrival in the page.
        const r = await measure(client, broker, f);
        r.rate = r.received > 1 && r.lastAt > r.first ? (r.received - 1) / ((r.lastAt - r.first) / 1000) : null;
        if (kind === 'a' && f === FLOODS[0]) {
          // Heap after repeated floods: the history is bounded, so it should stay flat.
          r.heaps = [await heapAfterGc(client)];
          for (let i = 0; i < 2; i++) { await measure(client, broker, f); r.heaps.push(await heapAfterGc(client)); }
        }
        if (client.page.errors.length) r.errors = client.page.errors.slice(0, 3);
        results[f.name][kind] = r;
        await client.context.close();
        console.error(`  ${f.name} (${kind}): ${fmt(r.rate)} msg/s, received ${r.received}/${f.count}, longest frame gap ${fmt(r.maxGap)} ms`);
      }
    }
    // Time from page load to connected, (a), median of 5 loads.
    const connectTimes = [];
    for (let i = 0; i < 5; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.addInitScript(UI_COUNTER + savedBroker(broker.wsUrl));
      await page.goto(`${site.url}/?broker=${encodeURIComponent(broker.wsUrl)}&connect=1`);
      await page.waitForFunction(() => window.bench.connectedAt > 0, null, { timeout: 20000 });
      connectTimes.push(await page.evaluate(() => window.bench.connectedAt));
      await context.close();
    }
    connectTimes.sort((x, y) => x - y);

    // Download size.
    let distGzip = 0;
    for (const f of readdirSync(DIST)) distGzip += gzipSync(readFileSync(join(DIST, f)), { level: 9 }).length;
    const mqttjsGzip = gzipSync(readFileSync(MQTTJS), { level: 9 }).length;

    // Report.
    const lines = [];
    const out = (s = '') => lines.push(s);
    out(`Benchmark ${new Date().toISOString()}${QUICK ? ' (quick: floods /10)' : ''}; Chromium headless, mosquitto 2.0, loopback, 2 cores`);
    out('clients: (a) app with full UI (session in a worker)  (b) session alone in the page  (c) MQTT.js 5 in the page  (d) bare WebSocket (the limit)');
    for (const f of ONLY.length === 4 ? FLOODS : []) {
      const r = results[f.name];
      out();
      out(`## ${f.count.toLocaleString('en-US')} × ${f.name}`);
      out('| client | received | msg/s | longest frame gap ms | main-thread script ms / 1k msgs | task ms / 1k msgs |');
      out('|---|---|---|---|---|---|');
      for (const k of ['a', 'b', 'c', 'd']) {
        const x = r[k];
        out(`| (${k}) | ${x.received}/${f.count} | ${fmt(x.rate)} | ${fmt(x.maxGap)} | ${fmt(x.scriptPer1k, 1)} | ${fmt(x.taskPer1k, 1)} |${x.errors ? ' errors: ' + x.errors.join('; ') : ''}`);
      }
      const ratio = (p, q) => (r[p].rate && r[q].rate ? (r[p].rate / r[q].rate) : null);
      out(`ratios: (a)/(c) ${fmt(ratio('a', 'c'), 2)}  (b)/(c) ${fmt(ratio('b', 'c'), 2)}  (b)/(d) ${fmt(ratio('b', 'd'), 2)}  (a)/(d) ${fmt(ratio('a', 'd'), 2)}`);
      out(`goals: (b) ≥ 95 % of (d): ${fmt(100 * ratio('b', 'd'))} %; (b) ≥ (c): ${ratio('b', 'c') >= 1 ? 'met' : 'missed'}; (a) ≥ 90 % of (d): ${fmt(100 * ratio('a', 'd'))} %; (a) frame gap < 50 ms: ${fmt(r.a.maxGap)} ms; (a) script/1k ≤ (c): ${fmt(r.a.scriptPer1k, 1)} vs ${fmt(r.c.scriptPer1k, 1)}`);
      if (r.a.heaps) out(`(a) main-thread JS heap after GC, after floods 1, 2, 3: ${r.a.heaps.map((h) => fmt(h / 1024) + ' KiB').join(', ')}`);
    }
    out();
    out(`time from page load to connected, (a), median of 5: ${fmt(connectTimes[2])} ms (all: ${connectTimes.map((t) => fmt(t)).join(', ')})`);
    out(`download: dist/ gzip ${fmt(distGzip / 1024, 1)} KiB (goal ≤ 150 KB) vs MQTT.js dist/mqtt.min.js gzip ${fmt(mqttjsGzip / 1024, 1)} KiB (before any UI)`);
    console.log(lines.join('\n'));
    writeFileSync(join(ROOT, 'target', 'bench-report.md'), lines.join('\n') + '\n');
  } finally {
    await browser.close();
    site.close();
    await broker.stop();
  }
}

await main();

// The benchmark: one mosquitto, one headless Chromium, on loopback. Floods a topic from a
// native publisher (mosquitto_pub -l) and measures, side by side:
//   (a) our app with its full UI, (b) our session alone in the page, (c) MQTT.js 5 in the
//   page (subscribe + count), (d) a bare WebSocket that only parses frames and counts,
//   (e) that bare counter in a Worker (the ceiling for a page whose session runs in a
//   worker, as ours does), (f) MQTT.js in a Worker.
// Then a scale case (many distinct topics and Meshtastic nodes: DOM nodes and memory), the
// time to `connected`, and the download with its largest contributors.
// (a) and (e), which the goals compare, flood three times each, interleaved, and each figure
// is the median of their runs.
// Prints figures and ratios; it asserts nothing (benchmarks are not timed tests).
// Usage: node tests/bench/bench.mjs [--quick] [--only=a,e] [--floods=2] (floods by number, 1-3)
//   [--runs=5] (floods of (a) and (e), default 3) [--loads=9] (page loads to `connected`, default 5)
import { createServer } from 'node:http';
import { readFileSync, existsSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, extname } from 'node:path';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { Mosquitto, DIST, ROOT, freePort, launchBrowser, sleep, releaseModule } from '../e2e/lib.mjs';
import { analyse, report as wasmReport } from './wasm-size.mjs';
import { FRAME_RECORDER, UI_COUNTER, pollQuietly, metrics, savedBroker, measure, subscribeBench, appLoadToConnected, appLoadCompiled } from './probes.mjs';

const mqtt = createRequire(join(ROOT, 'tests/e2e/package.json'))('mqtt');

const QUICK = process.argv.includes('--quick');
// --only=a,b: just these clients (for profiling one of them); the report then omits ratios.
const KINDS = ['e', 'd', 'f', 'c', 'b', 'a'];
const ONLY = (process.argv.find((a) => a.startsWith('--only=')) ?? `--only=${KINDS}`).slice(7).split(',');
const scale = QUICK ? 10 : 1;
const numberArg = (name, fallback) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const n = arg ? Number(arg.slice(name.length + 3)) : fallback;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} wants a whole number of at least 1`);
  return n;
};
const REPEATS = numberArg('runs', QUICK ? 1 : 3);
// The goal is the median of 5 loads; more loads give a steadier median (the broker's
// WebSocket handshake alone varies by ~80 ms from load to load here).
const LOADS = numberArg('loads', 5);
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

/** The broker's WebSocket handshake alone, from Node (median ms of `n`): the floor under both. */
async function handshakeTimes(broker, n) {
  const WebSocket = createRequire(join(ROOT, 'tests/e2e/package.json'))('ws');
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const ws = new WebSocket(broker.wsUrl, 'mqtt');
    await new Promise((ok, fail) => { ws.once('open', ok); ws.once('error', fail); });
    times.push(performance.now() - t0);
    ws.close();
    await sleep(50);
  }
  return times;
}

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
    b: `${site.url}/?bench=session&worker=0&broker=${b}&sub=bench/%23`,
    c: `${site.url}/bench/mqttjs.html?broker=${b}&sub=bench/%23`,
    d: `${site.url}/bench/bare.html?broker=${b}&sub=bench/%23`,
    e: `${site.url}/bench/worker.html?peer=bare&broker=${b}&sub=bench/%23`,
    f: `${site.url}/bench/worker.html?peer=mqttjs&broker=${b}&sub=bench/%23`,
  }[kind];
  await page.goto(url);
  if (kind === 'a') {
    await subscribeBench(page);
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

/** Each figure the median of its runs (the first run's heaps and errors kept). */
function medianRun(runs) {
  const median = (xs) => { const v = xs.filter((x) => x !== null && x !== undefined).sort((x, y) => x - y); return v.length ? v[Math.floor(v.length / 2)] : null; };
  const figures = ['received', 'rate', 'maxGap', 'slowFrames', 'scriptPer1k', 'taskPer1k', 'cpuPer1k'];
  const r = { ...runs[0], runs: runs.length };
  for (const k of figures) r[k] = median(runs.map((x) => x[k]));
  r.all = Object.fromEntries(figures.map((k) => [k, runs.map((x) => x[k])]));
  const errors = runs.flatMap((x) => x.errors ?? []);
  if (errors.length) r.errors = errors.slice(0, 3);
  return r;
}

async function heapAfterGc(client) {
  await client.cdp.send('HeapProfiler.collectGarbage');
  return (await metrics(client.cdp)).JSHeapUsedSize;
}

/**
 * The app's wasm linear memory on the page and in the session worker, in bytes: where its
 * data lives (the message log, topic tree, devices), which the JS heap above does not show.
 * A wasm memory never shrinks, so this is the high-water mark. The glue's `init` returns the
 * running instance's exports when called again.
 */
async function wasmMemory(page) {
  const size = (target) => target.evaluate(async () => (await mqttWebGlue.init()).memory.buffer.byteLength).catch(() => NaN);
  const [worker] = page.workers();
  return { page: await size(page), worker: worker ? await size(worker) : NaN };
}
const fmt = (n, d = 0) => (n === null || n === undefined || Number.isNaN(n) ? '—' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const mib = (bytes) => `${fmt(bytes / 1048576, 1)} MiB`;

/**
 * Resident memory of the browser and all its child processes (Linux /proc), in bytes: the
 * Chromium processes under this node process (Playwright's launch() does not expose a pid).
 */
function browserRss() {
  const children = new Map();
  const command = new Map();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(pid));
      command.set(Number(pid), readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch { /* gone */ }
  }
  let total = 0;
  const walk = (pid, inBrowser) => {
    const browser = inBrowser || /chrom/i.test(command.get(pid) ?? '');
    if (browser) {
      try { total += Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) * 1024; } catch { /* gone */ }
    }
    for (const c of children.get(pid) ?? []) walk(c, browser);
  };
  walk(process.pid, false);
  return total || NaN;
}

/**
 * Many distinct topics and Meshtastic nodes at once (what a busy public broker looks like):
 * everything must arrive, and the lists must stay bounded in the DOM and in memory. Run on
 * (a) and, for the memory baseline, (e).
 */
// Wheel-scrolls a list (`steps` of 400 px, 30 ms apart) and records what a user would see:
// the longest gap between frames, the frames after a gap over 34 ms (FRAME_RECORDER, on the
// page), and the steps after which under 90 % of the list's visible box held rows (a blank
// view while rows catch up).
async function scrollProbe(page, listSelector, rowSelector, steps = 30) {
  const list = page.locator(listSelector).first();
  await list.scrollIntoViewIfNeeded();
  const box = await list.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + Math.min(box.height, 300) / 2);
  await page.evaluate(() => { window.frames = { maxGap: 0, slow: 0, count: 0, recording: true }; });
  let blank = 0;
  for (let i = 0; i < steps; i++) {
    await page.mouse.wheel(0, 400);
    await sleep(30);
    const covered = await page.evaluate(([sel, rows]) => {
      const r = document.querySelector(sel).getBoundingClientRect();
      const top = Math.max(r.top, 0), bottom = Math.min(r.bottom, innerHeight);
      const shown = [...document.querySelector(sel).querySelectorAll(rows)].map((x) => x.getBoundingClientRect()).filter((x) => x.bottom > top && x.top < bottom);
      if (!shown.length) return 0;
      return (Math.min(Math.max(...shown.map((x) => x.bottom)), bottom) - Math.max(Math.min(...shown.map((x) => x.top)), top)) / (bottom - top);
    }, [listSelector, rowSelector]);
    if (covered < 0.9) blank++;
  }
  await sleep(200);
  const { maxGap, slow, count: frames } = await page.evaluate(() => { window.frames.recording = false; return window.frames; });
  const scrolled = await list.evaluate((el) => el.scrollTop);
  return { maxGap, slow, frames, blank, steps, scrolled };
}

async function scaleCase(browser, site, broker) {
  const topics = 100_000 / scale, nodes = 5_000 / scale, total = topics + nodes;
  const rows = [];
  for (const kind of ['e', 'a']) {
    const rssBefore = browserRss();
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    const b = encodeURIComponent(broker.wsUrl);
    if (kind === 'a') {
      await page.addInitScript(UI_COUNTER.replace('bench/#', '#') + savedBroker(broker.wsUrl));
      await page.addInitScript(FRAME_RECORDER);
      await page.goto(`${site.url}/?broker=${b}&connect=1`);
      await page.waitForFunction(() => window.bench.connectedAt > 0, null, { timeout: 20000 });
      await page.locator('[data-testid="subscribe-topic"]').fill('#');
      await page.locator('[data-testid="subscribe-button"]').click();
    } else {
      await page.goto(`${site.url}/bench/worker.html?peer=bare&broker=${b}&sub=%23`);
    }
    await page.waitForFunction(() => window.bench.ready, null, { timeout: 10000 });
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0 });
    const gateway = '!da5ad56c';
    for (let i = 0; i < total; i++) {
      if (i < topics) {
        pub.publish(`scale/${Math.floor(i / 1000)}/${i}/value`, `{"v":${i}}`);
      } else {
        const n = 0x10000000 + (i - topics);
        const node = `!${n.toString(16)}`;
        pub.publish(`msh/US/2/json/LongFast/${gateway}`, JSON.stringify({ channel: 0, from: n, id: i, sender: gateway, timestamp: Math.floor(Date.now() / 1000), to: 4294967295, type: 'nodeinfo', payload: { id: node, longname: `Node ${i - topics}`, shortname: `N${(i - topics) % 1000}`, hardware: 'RAK4631' } }));
      }
      if (i % 2000 === 1999) await new Promise((r) => setImmediate(r));
    }
    await pub.endAsync();
    let last = -1, since = Date.now();
    for (;;) {
      const count = await page.evaluate(() => window.bench.count);
      if (count >= total) break;
      if (count !== last) { last = count; since = Date.now(); }
      if (Date.now() - since > 8000) break;
      await sleep(200);
    }
    await sleep(1500); // the lists catch up
    const received = await page.evaluate(() => window.bench.count);
    await cdp.send('HeapProfiler.collectGarbage');
    const m1 = await metrics(cdp);
    const row = { kind, received, nodesMessages: m1.Nodes, heap: m1.JSHeapUsedSize };
    if (kind === 'a') {
      row.scrollMessages = await scrollProbe(page, 'ol.messages', 'li.message');
      row.scrollDevices = await scrollProbe(page, 'ul.devices', 'li.device');
      await page.locator('[role="tab"]', { hasText: 'Topic tree' }).click();
      await sleep(1500);
      row.nodesTopics = (await metrics(cdp)).Nodes;
      row.devices = `${await page.locator('[data-testid="device-count"]').textContent().catch(() => '?')} / ${await page.locator('[data-testid="device"]').count()}`;
      await page.screenshot({ path: join(ROOT, 'target', 'bench-scale.png') });
    }
    if (kind === 'a') row.wasm = await wasmMemory(page);
    row.rss = browserRss() - rssBefore;
    rows.push(row);
    console.error(`  scale (${kind}): received ${received}/${total}, DOM nodes ${row.nodesMessages}/${row.nodesTopics ?? '—'}`);
    await context.close();
  }
  return { topics, nodes, total, rows };
}

async function main() {
  if (!existsSync(join(DIST, 'index.html'))) throw new Error('dist/ missing: run scripts/build-release.sh');
  const broker = await new Mosquitto({ extra: 'max_queued_messages 0\nmax_queued_bytes 0' }).start();
  const site = await serve();
  const browser = await launchBrowser();
  const results = {};
  try {
    const floodsArg = process.argv.find((a) => a.startsWith('--floods='));
    const floods = floodsArg ? floodsArg.slice(9).split(',').map((n) => FLOODS[Number(n) - 1]).filter(Boolean) : FLOODS;
    for (const f of floods) {
      const runs = {};
      // The goals compare (a) with (e): those two run REPEATS times, interleaved, and each
      // figure is the median of its runs (one run on this 2-core machine moved the ratios by
      // 2× between identical builds). The other peers run once.
      for (let rep = 0; rep < REPEATS; rep++) {
        for (const kind of KINDS.filter((k) => ONLY.includes(k) && (rep === 0 || k === 'a' || k === 'e'))) {
          const client = await openClient(browser, kind, site, broker);
          // Rate over this flood only: timestamps of the first and last arrival in the page.
          const r = await measure(client, broker, f);
          r.rate = r.received > 1 && r.lastAt > r.first ? (r.received - 1) / ((r.lastAt - r.first) / 1000) : null;
          if (kind === 'a' && f === FLOODS[0] && rep === 0) {
            // Heap after repeated floods: the history is bounded, so it should stay flat.
            r.heaps = [await heapAfterGc(client)];
            for (let i = 0; i < 2; i++) { await measure(client, broker, f); r.heaps.push(await heapAfterGc(client)); }
            r.wasm = await wasmMemory(client.page);
          }
          if (client.page.errors.length) r.errors = client.page.errors.slice(0, 3);
          (runs[kind] ??= []).push(r);
          await client.context.close();
          console.error(`  ${f.name} (${kind}) run ${rep + 1}: ${fmt(r.rate)} msg/s, received ${r.received}/${f.count}, longest frame gap ${fmt(r.maxGap)} ms, task/1k ${fmt(r.taskPer1k, 1)} ms`);
        }
      }
      results[f.name] = Object.fromEntries(Object.entries(runs).map(([kind, rs]) => [kind, medianRun(rs)]));
    }
    const scaleResult = ONLY.includes('a') ? await scaleCase(browser, site, broker) : null;
    // Time from navigation start to `connected`, median of LOADS loads each, interleaved: (a) the
    // status shows `connected`; (e) the bare WebSocket in a Worker has its CONNACK (the floor
    // for any page whose session runs in a worker). Neither page is touched while it loads.
    const connectTimes = { a: [], e: [] };
    for (let i = 0; i < LOADS; i++) {
      const b = encodeURIComponent(broker.wsUrl);
      connectTimes.a.push(await appLoadToConnected(browser, `${site.url}/?broker=${b}&connect=1`, broker.wsUrl));
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${site.url}/bench/worker.html?peer=bare&broker=${b}&sub=bench/%23`, { waitUntil: 'commit' });
      connectTimes.e.push(await pollQuietly(page, 'window.bench && window.bench.connectedAt'));
      await context.close();
    }
    const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    // Three more loads of (a), traced (tracing slows them: their times are not the goal's).
    const served = analyse(releaseModule(DIST));
    const compiledLoads = [];
    for (let i = 0; i < 3; i++) {
      const b = encodeURIComponent(broker.wsUrl);
      compiledLoads.push(await appLoadCompiled(browser, `${site.url}/?broker=${b}&connect=1`, broker.wsUrl, served.codeSize));
    }
    const handshakes = await handshakeTimes(broker, LOADS);
    const handshake = median(handshakes);

    // Download size, per file and in all.
    const files = readdirSync(DIST).map((f) => ({ f, raw: statSync(join(DIST, f)).size, gzip: gzipSync(readFileSync(join(DIST, f)), { level: 9 }).length }));
    const distGzip = files.reduce((a, x) => a + x.gzip, 0);
    const mqttjsGzip = gzipSync(readFileSync(MQTTJS), { level: 9 }).length;

    // Report.
    const lines = [];
    const out = (s = '') => lines.push(s);
    out(`Benchmark ${new Date().toISOString()}${QUICK ? ' (quick: floods /10)' : ''}; Chromium headless, mosquitto 2.0, loopback, ${cpus().length} cores`);
    out('clients: (a) app with full UI (session in a worker)  (b) session alone in the page  (c) MQTT.js 5 in the page  (d) bare WebSocket in the page');
    out('         (e) bare WebSocket counter in a Worker (the ceiling)  (f) MQTT.js 5 in a Worker');
    const goals = [];
    const goal = (what, met, figures) => { goals.push(`| ${what} | ${figures} | ${met === null ? '—' : met ? 'met' : 'missed'} |`); };
    // With --only, the floods of the clients that ran (ratios where both sides ran).
    for (const f of FLOODS) {
      const r = results[f.name];
      if (!r || !r.a || !r.e) continue;
      out();
      out(`## ${f.count.toLocaleString('en-US')} × ${f.name}`);
      out(`(a) and (e): the median of ${r.a.runs} interleaved runs each (every run in brackets); the others ran once.`);
      out('| client | received | msg/s | longest frame gap ms | frames after a gap over 34 ms, % | main-thread script ms / 1k msgs | task ms / 1k msgs | CPU ms / 1k msgs |');
      out('|---|---|---|---|---|---|---|---|');
      const each = (x, k, d) => (x.runs > 1 ? ` (${x.all[k].map((v) => fmt(v, d)).join(', ')})` : '');
      for (const k of ['a', 'b', 'c', 'd', 'e', 'f']) {
        const x = r[k];
        if (!x) continue;
        out(`| (${k}) | ${x.received}/${f.count} | ${fmt(x.rate)}${each(x, 'rate', 0)} | ${fmt(x.maxGap)}${each(x, 'maxGap', 0)} | ${fmt(x.slowFrames, 1)}${each(x, 'slowFrames', 1)} | ${fmt(x.scriptPer1k, 1)} | ${fmt(x.taskPer1k, 1)}${each(x, 'taskPer1k', 1)} | ${fmt(x.cpuPer1k, 1)}${each(x, 'cpuPer1k', 1)} |${x.errors ? ' errors: ' + x.errors.join('; ') : ''}`);
      }
      const ratio = (p, q) => (r[p]?.rate && r[q]?.rate ? (r[p].rate / r[q].rate) : null);
      out(`ingest ratios: (a)/(e) ${fmt(ratio('a', 'e'), 2)}  (a)/(f) ${fmt(ratio('a', 'f'), 2)}  (a)/(c) ${fmt(ratio('a', 'c'), 2)}  (b)/(d) ${fmt(ratio('b', 'd'), 2)}  (b)/(c) ${fmt(ratio('b', 'c'), 2)}`);
      out(`main thread: (a) task/1k ÷ (e) task/1k = ${fmt(r.a.taskPer1k / r.e.taskPer1k, 1)}× (CPU/1k: ${fmt(r.a.cpuPer1k / r.e.cpuPer1k, 1)}×); (a) frame gap − (e) frame gap = ${fmt(r.a.maxGap - r.e.maxGap, 1)} ms`);
      if (r.a.heaps) out(`(a) main-thread JS heap after GC, after floods 1, 2, 3: ${r.a.heaps.map((h) => fmt(h / 1024) + ' KiB').join(', ')}; wasm memory after flood 3: page ${mib(r.a.wasm.page)}, session worker ${mib(r.a.wasm.worker)}`);
      // The goal is judged on the medians; how many of the interleaved (e), (a) pairs meet it
      // says how far that verdict would move between runs.
      const pairs = (met) => {
        const n = r.a.runs > 1 && r.e.runs > 1 ? Math.min(r.a.runs, r.e.runs) : 0;
        if (!n) return '';
        const count = Array.from({ length: n }, (_, i) => met((k, x) => r[x].all[k][i])).filter(Boolean).length;
        return `; met in ${count} of ${n} pairs`;
      };
      goal(`${f.name}: ingest (a) ≥ 0.95 × (e)`, ratio('a', 'e') >= 0.95,
        `${fmt(ratio('a', 'e'), 2)}${pairs((v) => v('rate', 'a') >= 0.95 * v('rate', 'e'))}`);
      goal(`${f.name}: frame gap (a) ≤ (e) + 16.7 ms`, r.a.maxGap <= r.e.maxGap + 16.7,
        `${fmt(r.a.maxGap)} vs ${fmt(r.e.maxGap)} ms${pairs((v) => v('maxGap', 'a') <= v('maxGap', 'e') + 16.7)}`);
      goal(`${f.name}: task/1k (a) ≤ 3 × (e)`, r.a.taskPer1k <= 3 * r.e.taskPer1k,
        `${fmt(r.a.taskPer1k, 1)} vs ${fmt(r.e.taskPer1k, 1)} ms (${fmt(r.a.taskPer1k / r.e.taskPer1k, 1)}×)${pairs((v) => v('taskPer1k', 'a') <= 3 * v('taskPer1k', 'e'))}`);
    }
    if (scaleResult) {
      const scale = scaleResult;
      out();
      out(`## scale: ${scale.topics.toLocaleString('en-US')} messages on distinct topics + ${scale.nodes.toLocaleString('en-US')} Meshtastic nodes`);
      out('| client | received | DOM nodes, messages tab | DOM nodes, topic tree tab | devices listed / in the DOM | main JS heap after GC | wasm memory, page / session worker | browser RSS growth |');
      out('|---|---|---|---|---|---|---|---|');
      for (const x of scale.rows) {
        const wasm = x.wasm ? `${mib(x.wasm.page)} / ${mib(x.wasm.worker)}` : '—';
        out(`| (${x.kind}) | ${x.received}/${scale.total} | ${fmt(x.nodesMessages)} | ${fmt(x.nodesTopics)} | ${x.devices ?? '—'} | ${mib(x.heap)} | ${wasm} | ${fmt(x.rss / 1048576)} MiB |`);
      }
      out('(browser RSS growth is every Chromium process together, the browser\'s own caches included; the app\'s data is its wasm memory and JS heap)');
      const a = scale.rows.find((x) => x.kind === 'a');
      goal('scale: DOM nodes (a) ≤ 5,000 on either tab', Math.max(a.nodesMessages, a.nodesTopics) <= 5000, `${fmt(a.nodesMessages)} / ${fmt(a.nodesTopics)}`);
      if (a.scrollMessages) {
        out();
        out('(a) wheel-scrolling the full lists (400 px a step, 30 ms apart):');
        out('| list | scrolled px | frames | longest frame gap ms | frames after a gap over 34 ms | steps with under 90 % of the view filled |');
        out('|---|---|---|---|---|---|');
        const lists = [['messages', a.scrollMessages], ['devices', a.scrollDevices]];
        for (const [name, p] of lists) out(`| ${name} | ${fmt(p.scrolled)} | ${p.frames} | ${fmt(p.maxGap)} | ${p.slow} | ${p.blank} of ${p.steps} |`);
        const smooth = lists.every(([, p]) => p.maxGap <= 2 * 16.7 + 1 && p.blank === 0);
        goal('scale: scrolling stays smooth (every frame within 2 frame times, no blank view)', smooth,
          lists.map(([name, p]) => `${name}: longest gap ${fmt(p.maxGap)} ms, ${p.blank} blank`).join('; '));
      }
    }
    out();
    const [ta, te] = [median(connectTimes.a), median(connectTimes.e)];
    out(`## time from navigation start to connected, median of ${LOADS} loads each`);
    out(`(a) status shows connected: ${fmt(ta)} ms (all: ${connectTimes.a.map((t) => fmt(t)).join(', ')})`);
    out(`(e) bare WebSocket in a Worker has its CONNACK: ${fmt(te)} ms (all: ${connectTimes.e.map((t) => fmt(t)).join(', ')})`);
    out(`the broker's WebSocket handshake alone (from Node): ${fmt(handshake)} ms (all: ${handshakes.map((t) => fmt(t)).join(', ')}); (a) − (e) = ${fmt(ta - te)} ms`);
    goal(`time to connected ≤ 250 ms (median of ${LOADS})`, ta <= 250, `${fmt(ta)} ms ((e) ${fmt(te)} ms, handshake ${fmt(handshake)} ms)`);
    const mid = (key) => median(compiledLoads.map((c) => c[key]));
    out(`(a) compiled on the page's thread before connected, median of ${compiledLoads.length} traced loads: ${fmt(mid('functions'))} wasm functions, `
      + `${fmt(mid('bytes') / 1024)} KiB of the module's ${fmt(served.code / 1024)} KiB of code, ${fmt(mid('wallMs'))} ms (${fmt(mid('threadMs'))} ms of the thread's own time); `
      + `the app had mounted at ${fmt(mid('mountedAt'))} ms and showed connected at ${fmt(mid('connectedAt'))} ms in these loads `
      + '(V8 compiles a wasm function when it is first called, so the view code that mounting runs is compiled during the mount)');
    out();
    out(`## download: dist/ gzip ${fmt(distGzip)} bytes (${fmt(distGzip / 1024, 1)} KiB) vs MQTT.js dist/mqtt.min.js gzip ${fmt(mqttjsGzip)} bytes (before any UI)`);
    out('| file | bytes | gzip |');
    out('|---|---|---|');
    for (const x of files.sort((p, q) => q.gzip - p.gzip)) out(`| ${x.f} | ${fmt(x.raw)} | ${fmt(x.gzip)} |`);
    const distRaw = files.reduce((a, x) => a + x.raw, 0);
    out(`(the module is stored gzip-compressed and unpacked by the page: a server that compresses nothing, such as mosquitto's http_dir, sends ${fmt(distRaw)} bytes in all)`);
    goal('download ≤ 150 KB gzip', distGzip <= 150_000, `${fmt(distGzip)} bytes`);
    // One module: the page runs it as the app, the session worker as the session. Read as
    // wasm-bindgen leaves it for wasm-opt (its type-description functions, a tenth of the
    // linked file, are gone; the names are still there), else as rustc linked it.
    const bound = join(ROOT, 'target/wasm-bindgen/release/mqtt-web_bg.wasm');
    const linked = join(ROOT, 'target/wasm32-unknown-unknown/release/mqtt-web.wasm');
    const wasmFile = [bound, linked].find((f) => existsSync(f));
    if (wasmFile) {
      out();
      out(`### largest contributors, the wasm module ${wasmFile === bound ? 'after wasm-bindgen, before wasm-opt' : 'as linked (before wasm-bindgen and wasm-opt)'}`);
      out(wasmReport(wasmFile, 10));
    }
    out();
    out('## goals');
    out('| goal | figures | |');
    out('|---|---|---|');
    for (const g of goals) out(g);
    console.log(lines.join('\n'));
    writeFileSync(join(ROOT, 'target', 'bench-report.md'), lines.join('\n') + '\n');
  } finally {
    await browser.close();
    site.close();
    await broker.stop();
  }
}

await main();

// What the benchmark puts into and reads from a page, shared by bench.mjs (the full run) and
// ab.mjs (two builds of the app side by side).
import { spawn } from 'node:child_process';
import { sleep } from '../e2e/lib.mjs';

// Records the longest gap between animation frames while `bench.recording` is on, and how
// many frames came over 34 ms (two frame times) after the one before: one long gap decides
// the goal, the count says whether it was one or the rule.
export const FRAME_RECORDER = `
  window.bench = window.bench || { count: 0, first: 0, last: 0, ready: false };
  window.frames = { maxGap: 0, slow: 0, count: 0, recording: false };
  (() => { let prev = 0; const tick = (t) => {
    if (window.frames.recording && prev) {
      window.frames.maxGap = Math.max(window.frames.maxGap, t - prev);
      window.frames.count += 1;
      if (t - prev > 34) window.frames.slow += 1;
    }
    prev = t; requestAnimationFrame(tick); }; requestAnimationFrame(tick); })();`;
// (a): counts what the user sees, the subscription's data-count, once per frame. The moment
// the status turns `connected` is taken from a MutationObserver (when the DOM changed, which is
// the frame it is painted in; a rAF poll would see the store's own rAF update a frame late),
// and the observer is dropped then so that floods do not pay for it.
export const UI_COUNTER = `
  window.bench = { count: 0, first: 0, last: 0, ready: false, connectedAt: 0 };
  (() => {
    const connected = () => document.querySelector('[data-testid="connection-status"]')?.textContent === 'connected';
    const observer = new MutationObserver(() => {
      if (connected()) { window.bench.connectedAt = performance.now(); observer.disconnect(); }
    });
    observer.observe(document, { subtree: true, childList: true, characterData: true });
    const tick = () => {
    const el = document.querySelector('[data-testid="subscription"][data-filter="bench/#"]');
    if (el) {
      const c = Number(el.dataset.count);
      if (c !== window.bench.count) { const now = performance.now(); if (!window.bench.count) window.bench.first = now; window.bench.count = c; window.bench.last = now; }
      window.bench.ready = el.dataset.state === 'active';
    }
    requestAnimationFrame(tick); }; requestAnimationFrame(tick); })();`;

/**
 * Waits for `expression` to be truthy without Playwright's waitForFunction, whose injected
 * script (about 60 ms of main-thread work on this machine) would land in the middle of the
 * page's start-up and be counted as ours.
 */
export async function pollQuietly(page, expression, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  await sleep(300);
  for (;;) {
    const value = await page.evaluate(expression).catch(() => undefined);
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${expression}`);
    await sleep(100);
  }
}

export async function metrics(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
}

/** The broker is the user's saved one (a returning user), so `connect=1` connects at once. */
export const savedBroker = (wsUrl) => `\nlocalStorage.setItem('mqtt-web.profile', ${JSON.stringify(JSON.stringify({ broker_url: wsUrl }))});`;

export const readCount = (client) => client.page.evaluate((kind) => {
  if (kind === 'b') { const [count, first, last] = window.mqttWebBench; return { count, first, last }; }
  const b = window.bench;
  return { count: b.count || 0, first: b.first || 0, last: b.last || 0 };
}, client.kind);

export async function flood(broker, flood, topic) {
  const line = 'x'.repeat(flood.size - 1) + '\n';
  const input = line.repeat(flood.count);
  const pub = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.tcpPort), '-t', topic, '-q', String(flood.qos), '-l'], { stdio: ['pipe', 'ignore', 'inherit'] });
  const done = new Promise((r) => pub.once('exit', r));
  pub.stdin.end(input);
  await done;
}

export async function measure(client, broker, f) {
  const before = await metrics(client.cdp);
  const startCount = (await readCount(client)).count;
  await client.page.evaluate(() => { Object.assign(window.frames, { maxGap: 0, slow: 0, count: 0, recording: true }); });
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
  const { maxGap, slow, count: frames } = await client.page.evaluate(() => { window.frames.recording = false; return window.frames; });
  const after = await metrics(client.cdp);
  const { count, first, last: lastAt } = await readCount(client);
  const received = count - startCount;
  // The counters' first/last span the whole page life: use them only for the first flood,
  // else the wall time of this flood's arrivals measured by polling.
  return {
    received, lost: f.count - received,
    seconds: null, first, lastAt,
    maxGap,
    slowFrames: frames ? (100 * slow) / frames : null,
    scriptPer1k: ((after.ScriptDuration - before.ScriptDuration) * 1000) / (received / 1000 || 1),
    taskPer1k: ((after.TaskDuration - before.TaskDuration) * 1000) / (received / 1000 || 1),
    // CPU time of the main thread: on a loaded machine far below its task time (wall clock),
    // which also counts the time the thread waited for a core.
    cpuPer1k: ((after.ThreadTime - before.ThreadTime) * 1000) / (received / 1000 || 1),
  };
}

/** The app's page, connected: subscribes to bench/# at QoS 1 through its form, until active. */
export async function subscribeBench(page) {
  await page.waitForFunction(() => window.bench.connectedAt > 0, null, { timeout: 20000 });
  await page.locator('[data-testid="subscribe-topic"]').fill('bench/#');
  await page.locator('[data-testid="subscribe-qos"]').selectOption('1');
  await page.locator('[data-testid="subscribe-button"]').click();
  await page.waitForFunction(() => window.bench.ready, null, { timeout: 10000 });
}

/**
 * One fresh load of the app at `url` (its saved broker `wsUrl`, so `connect=1` connects at
 * once), untouched while it loads: ms from navigation start until the status shows `connected`.
 */
export async function appLoadToConnected(browser, url, wsUrl) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(UI_COUNTER + savedBroker(wsUrl));
  await page.goto(url, { waitUntil: 'commit' });
  const at = await pollQuietly(page, 'window.bench && window.bench.connectedAt');
  await context.close();
  return at;
}

/**
 * One load of the app to `connected`, traced: what the page's thread compiled of the wasm
 * module before then. V8 compiles a wasm function (with its baseline compiler) the first time
 * it is called, so what mounting the app runs is compiled on the page's thread as it runs.
 * `codeSize(functionIndex)` gives a function's bytes in the module that was served.
 */
export async function appLoadCompiled(browser, url, wsUrl, codeSize) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(UI_COUNTER + savedBroker(wsUrl)
    + "addEventListener('TrunkApplicationStarted', () => { window.bench.mountedAt = performance.now(); });");
  const cdp = await context.newCDPSession(page);
  const events = [];
  cdp.on('Tracing.dataCollected', (e) => events.push(...e.value));
  const complete = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.start', { categories: 'v8.wasm,devtools.timeline,blink.user_timing', transferMode: 'ReportEvents' });
  await page.goto(url, { waitUntil: 'commit' });
  const connectedAt = await pollQuietly(page, 'window.bench && window.bench.connectedAt');
  const mountedAt = await page.evaluate(() => window.bench.mountedAt);
  await cdp.send('Tracing.end');
  await complete;
  await context.close();
  const navigation = events.find((e) => e.name === 'navigationStart');
  const mainThread = events.find((e) => e.name === 'ParseHTML')?.tid;
  const until = navigation ? navigation.ts + connectedAt * 1000 : Infinity;
  const compiled = { functions: 0, bytes: 0, wallMs: 0, threadMs: 0, mountedAt, connectedAt };
  for (const e of events) {
    if (e.name !== 'wasm.CompileLazy' || e.tid !== mainThread || e.ts > until) continue;
    compiled.functions += 1;
    compiled.bytes += codeSize(e.args.func_index) ?? 0;
    compiled.wallMs += e.dur / 1000;
    compiled.threadMs += (e.tdur ?? e.dur) / 1000;
  }
  return compiled;
}

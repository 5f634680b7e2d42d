// Fault scenarios end to end: the built page (MQTT session in its Web Worker) against a real
// mosquitto, with the test-only fault proxy (tests/fault_proxy) in between where the link has
// to misbehave. Each scenario checks what the user sees (the UI contract's hooks) and what the
// broker got (its `log_type all` log, or an MQTT.js client over TCP), and prints one line of
// figures: `scenario <name>: faults=.. sent=.. received=.. lost=.. duplicates_qos2=.. ...`.
//
//   cd /work/main && node --test --test-concurrency=1 tests/e2e/faults.test.mjs
//
// Needs dist/ built, mosquitto on PATH, and the proxy binary (env FAULT_PROXY, else
// target/debug/examples/fault-proxy). Everything listens on 127.0.0.1 only; every process
// started here is stopped by its pid.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import {
  Mosquitto, FaultProxy, serveDist, launchBrowser, byTestId, waitForStatus, panics, sleep, waitUntil, openRecordedPage,
} from './lib.mjs';

let site, browser;
const cleanups = []; // per test: brokers, proxies, clients, contexts, stopped in reverse order
before(async () => { site = await serveDist(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await site?.close(); });

async function cleanup() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try { await fn(); } catch { /* best effort */ }
  }
}

async function startBroker(options = {}) {
  const broker = new Mosquitto({ extra: 'log_type all', ...options });
  await broker.start();
  broker.logs = []; // the logs of earlier runs (start() begins a fresh `stderr`)
  broker.restart = async () => {
    await broker.stop();
    broker.logs.push(broker.stderr);
    await broker.start();
  };
  broker.fullLog = () => [...broker.logs, broker.stderr].join('');
  cleanups.push(() => broker.stop());
  return broker;
}

async function startProxy(broker) {
  const proxy = await FaultProxy.start(broker.wsPort);
  cleanups.push(() => proxy.stop());
  return proxy;
}

/** An MQTT.js client outside the browser (TCP straight to mosquitto), recording what it gets. */
async function outsideClient(broker, options = {}) {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  client.received = [];
  client.on('message', (topic, payload, packet) => client.received.push({ topic, payload: payload.toString(), qos: packet.qos }));
  client.on('error', () => {});
  cleanups.push(() => client.end(true));
  return client;
}

const openPage = (url) => openRecordedPage(browser, url, cleanups);

const pageUrl = (brokerUrl, params = '') => `${site.url}?broker=${encodeURIComponent(brokerUrl)}${params}`;
const text = (page, id) => byTestId(page, id).textContent();
const subscriptionRow = (page, filter) => page.locator(`[data-testid="subscription"][data-filter="${filter}"]`);

async function waitForStatusNot(page, status, timeout = 10000) {
  await page.waitForFunction(
    (s) => document.querySelector('[data-testid="connection-status"]')?.textContent !== s, status, { timeout },
  );
}

async function waitActive(page, filters, timeout = 8000) {
  await waitUntil(async () => {
    for (const f of filters) {
      const rows = subscriptionRow(page, f);
      if ((await rows.count()) !== 1 || (await rows.getAttribute('data-state')) !== 'active') return false;
    }
    return true;
  }, timeout, `subscriptions ${filters.join(', ')} active`);
}

async function subscribeForm(page, filter, qos) {
  await byTestId(page, 'subscribe-topic').fill(filter);
  await byTestId(page, 'subscribe-qos').selectOption(String(qos));
  await byTestId(page, 'subscribe-button').click();
}

/** Publishes from the page's form; `expect` is the publish-result to wait for. */
async function publishForm(page, topic, payload, qos, expect) {
  await byTestId(page, 'publish-topic').fill(topic);
  await byTestId(page, 'publish-payload').fill(payload);
  await byTestId(page, 'publish-qos').selectOption(String(qos));
  await byTestId(page, 'publish-button').click();
  if (expect) {
    await waitUntil(async () => (await text(page, 'publish-result')) === expect, 10000,
      `publish-result "${expect}" for ${payload}`).catch(async (e) => {
      throw new Error(`${e.message} (it is "${await text(page, 'publish-result')}")`);
    });
  }
}

/** Every `message` row in the DOM: topic, qos, full payload text (cut previews expanded). */
async function domMessages(page) {
  await page.evaluate(() => document.querySelectorAll('[data-testid="message"] .show-all').forEach((b) => b.click()));
  // A payload over 1 KiB comes to the page as a preview; opened, its rest comes from the
  // session's thread ("Loading the rest…" until then).
  await page.waitForFunction(() => !document.querySelector('[data-testid="message"] .show-all, [data-testid="payload-rest"]'), null, { timeout: 5000 });
  return page.evaluate(() => [...document.querySelectorAll('[data-testid="message"]')].map((m) => ({
    topic: m.getAttribute('data-topic'),
    qos: Number(m.getAttribute('data-qos')),
    payload: m.querySelector('.msg-payload')?.textContent ?? '',
  })));
}

const messageCount = (page) => page.locator('[data-testid="message"]').count();

/** How many times each payload is shown. */
function countBy(items, key) {
  const counts = new Map();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

// ---- mosquitto's log (log_type all) ----------------------------------------------------------

const logLines = (log) => log.split('\n').map((l) => l.replace(/^\d+: /, ''));
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Per connection of `clientId`, in order: the filters of every SUBSCRIBE it sent. */
function subscribesPerConnection(log, clientId) {
  const connections = [];
  let inSubscribe = false;
  for (const line of logLines(log)) {
    if (new RegExp(`^New client connected from .* as ${escapeRe(clientId)} \\(`).test(line)) {
      connections.push([]);
      inSubscribe = false;
    } else if (line === `Received SUBSCRIBE from ${clientId}`) {
      inSubscribe = true;
    } else if (inSubscribe && line.startsWith('\t')) {
      connections[connections.length - 1]?.push(line.slice(1).replace(/ \(QoS \d\)$/, ''));
    } else {
      inSubscribe = false;
    }
  }
  return connections;
}

const countLog = (log, re) => logLines(log).filter((l) => re.test(l)).length;

/** JS heap of the page (after a GC) and the size of every WebAssembly.Memory it holds. */
async function pageMemory(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const heap = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value;
  const proto = await cdp.send('Runtime.evaluate', { expression: 'WebAssembly.Memory.prototype' });
  const found = await cdp.send('Runtime.queryObjects', { prototypeObjectId: proto.result.objectId });
  const sizes = await cdp.send('Runtime.callFunctionOn', {
    objectId: found.objects.objectId, returnByValue: true,
    functionDeclaration: 'function () { return this.map((m) => m.buffer.byteLength); }',
  });
  const fromApi = await cdp.send('Runtime.evaluate', { expression: 'performance.memory ? performance.memory.usedJSHeapSize : null', returnByValue: true });
  return { heap, wasm: sizes.result.value.reduce((a, b) => a + b, 0), perfMemory: fromApi.result.value };
}

/**
 * The same for the session's Web Worker: a browser-level CDP session attaches to the worker
 * target of `page` (Playwright offers no CDP session for workers; the non-flattened
 * Target.sendMessageToTarget protocol does it), collects garbage, and reads its JS heap
 * (Runtime.getHeapUsage) and WebAssembly.Memory sizes.
 */
async function workerMemory(page) {
  const pageCdp = await page.context().newCDPSession(page);
  const { targetInfo } = await pageCdp.send('Target.getTargetInfo');
  await pageCdp.detach();
  const cdp = await browser.newBrowserCDPSession();
  try {
    const { targetInfos } = await cdp.send('Target.getTargets');
    const worker = targetInfos.find((t) => t.type === 'worker' && t.parentId === targetInfo.targetId)
      ?? targetInfos.find((t) => t.type === 'worker');
    if (!worker) return { heap: null, wasm: null };
    const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: worker.targetId, flatten: false });
    let next = 0;
    const waiting = new Map();
    cdp.on('Target.receivedMessageFromTarget', (e) => {
      if (e.sessionId !== sessionId) return;
      const m = JSON.parse(e.message);
      waiting.get(m.id)?.(m);
    });
    const send = async (method, params = {}) => {
      const id = ++next;
      const answer = new Promise((r) => waiting.set(id, r));
      await cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) });
      const m = await Promise.race([answer, sleep(5000).then(() => ({ error: { message: `no answer to ${method}` } }))]);
      if (m.error) throw new Error(`worker CDP ${method}: ${m.error.message}`);
      return m.result;
    };
    await send('HeapProfiler.collectGarbage');
    const { usedSize } = await send('Runtime.getHeapUsage');
    const proto = await send('Runtime.evaluate', { expression: 'WebAssembly.Memory.prototype' });
    const found = await send('Runtime.queryObjects', { prototypeObjectId: proto.result.objectId });
    const sizes = await send('Runtime.callFunctionOn', {
      objectId: found.objects.objectId, returnByValue: true,
      functionDeclaration: 'function () { return this.map((m) => m.buffer.byteLength); }',
    });
    await cdp.send('Target.detachFromTarget', { sessionId }).catch(() => {});
    return { heap: usedSize, wasm: sizes.result.value.reduce((a, b) => a + b, 0) };
  } finally { await cdp.detach().catch(() => {}); }
}

function figures(name, values) {
  console.log(`scenario ${name}: ${Object.entries(values).map(([k, v]) => `${k}=${v}`).join(' ')}`);
}

// ---- 1. broker restart with persistence ------------------------------------------------------

test('broker restart with persistence: reconnects, one SUBSCRIBE per filter per connection, messages once', { timeout: 60000 }, async () => {
  try {
    const broker = await startBroker({ persistence: true });
    const filters = ['fault/r/a/#', 'fault/r/b/#'];
    const subs = '&sub=fault/r/a/%23&sub=fault/r/b/%23';
    // The main page: clean session (the form's default), so the restarted broker has no session
    // for it and it must subscribe again. A second page keeps a persistent session, which the
    // broker saves on shutdown and restores: it may or may not resubscribe, never twice.
    const clean = { clientId: `e2e-restart-${process.pid}` };
    clean.page = await openPage(pageUrl(broker.wsUrl, `&client_id=${clean.clientId}${subs}&connect=1`));
    const kept = { clientId: `e2e-restart-kept-${process.pid}` };
    kept.page = await openPage(pageUrl(broker.wsUrl, `&client_id=${kept.clientId}${subs}`));
    await byTestId(kept.page, 'clean-session').uncheck();
    await byTestId(kept.page, 'connect-button').click();
    for (const { page } of [clean, kept]) {
      await waitForStatus(page, 'connected');
      await waitActive(page, filters);
      await page.markStatuses();
    }

    await broker.stop();
    broker.logs.push(broker.stderr);
    for (const { page } of [clean, kept]) await waitForStatus(page, 'reconnecting', 10000);
    await broker.start();
    for (const one of [clean, kept]) {
      const { page } = one;
      await waitForStatus(page, 'connected', 20000);
      await waitActive(page, filters);
      const statuses = one.statuses = await page.statuses();
      assert.deepEqual([statuses[0], statuses.at(-1)], ['connected', 'connected'], `statuses ${statuses}`);
      assert.ok(statuses.includes('reconnecting'), `statuses ${statuses}`);
      assert.ok(statuses.indexOf('reconnecting') < statuses.lastIndexOf('connected'));
      assert.equal(await page.locator('[data-testid="subscription"]').count(), 2, 'one row per filter');
    }

    const outside = await outsideClient(broker);
    const payload = `after-restart-${Date.now()}`;
    await outside.publishAsync('fault/r/a/x', payload, { qos: 1 });
    for (const one of [clean, kept]) {
      await one.page.locator('[data-testid="message"][data-topic="fault/r/a/x"]').first().waitFor({ timeout: 5000 });
    }
    await sleep(700); // a duplicate would show up now
    for (const one of [clean, kept]) {
      one.shown = (await domMessages(one.page)).filter((m) => m.payload === payload).length;
      assert.equal(one.shown, 1, `${one.clientId}: the message after the restart is shown once`);
      assert.equal(await subscriptionRow(one.page, 'fault/r/a/#').getAttribute('data-count'), '1');
      assert.deepEqual(panics(one.page), []);
      one.perConnection = subscribesPerConnection(broker.fullLog(), one.clientId);
      assert.equal(one.perConnection.length, 2, `connections of ${one.clientId} in the broker log`);
    }
    for (const [i, got] of clean.perConnection.entries()) {
      assert.deepEqual([...got].sort(), [...filters].sort(), `clean session: SUBSCRIBEd filters on connection ${i + 1}`);
    }
    assert.deepEqual([...kept.perConnection[0]].sort(), [...filters].sort(), 'persistent session: first connection');
    const resent = kept.perConnection[1];
    assert.ok(resent.length === 0 || JSON.stringify([...resent].sort()) === JSON.stringify([...filters].sort()),
      `persistent session: after the restart none or each once, got ${resent}`);
    assert.match(broker.stderr, new RegExp(`Sending CONNACK to ${escapeRe(kept.clientId)} \\(1, 0\\)`),
      'the restarted broker restored the persistent session (CONNACK session present)');
    assert.doesNotMatch(broker.fullLog(), /Error saving in-memory database/);

    figures('broker-restart', {
      faults: 1, sent: 1, received: clean.shown, lost: 1 - Math.min(clean.shown, 1), duplicates_qos2: 0,
      connections: clean.perConnection.length,
      subscribes_per_connection: clean.perConnection.map((c) => c.length).join('/'),
      persistent_received: kept.shown,
      persistent_subscribes_per_connection: kept.perConnection.map((c) => c.length).join('/'),
      statuses: clean.statuses.join('>'),
    });
  } finally { await cleanup(); }
});

// ---- 2. clean session off, QoS 1 and 2 across an outage the broker sees ------------------------

test('persistent session: 50 QoS 1 + 50 QoS 2 published during an outage all arrive, QoS 2 exactly once', { timeout: 60000 }, async () => {
  try {
    const broker = await startBroker();
    const proxy = await startProxy(broker);
    const clientId = `e2e-persist-${process.pid}`;
    const page = await openPage(pageUrl(proxy.wsUrl, `&client_id=${clientId}`));
    await byTestId(page, 'clean-session').uncheck();
    await byTestId(page, 'connect-button').click();
    await waitForStatus(page, 'connected');
    await subscribeForm(page, 'fault/q1/#', 1);
    await subscribeForm(page, 'fault/q2/#', 2);
    await waitActive(page, ['fault/q1/#', 'fault/q2/#']);
    assert.match(broker.stderr, new RegExp(`as ${clientId} \\(p2, c0, k\\d+\\)`), 'CONNECT with clean session off');

    await proxy.cmd('stall on');
    await proxy.cmd('drop');
    await waitForStatusNot(page, 'connected', 5000);
    // The broker saw the client go: its session is offline now and queues for it.
    await waitUntil(() => new RegExp(`Client ${escapeRe(clientId)} (closed its connection|disconnected)|Socket error on client ${escapeRe(clientId)}`)
      .test(broker.stderr), 5000, 'the broker noticing the outage');
    // The page's next attempt opens through the proxy; its CONNECT is held by the stall.
    await waitUntil(async () => (await proxy.stats()).connections >= 2, 5000, 'a reconnect attempt through the proxy');

    const outside = await outsideClient(broker);
    const tag = Math.random().toString(36).slice(2, 8);
    const q1 = Array.from({ length: 50 }, (_, i) => `q1-${tag}-${i}`);
    const q2 = Array.from({ length: 50 }, (_, i) => `q2-${tag}-${i}`);
    for (const [i, p] of q1.entries()) await outside.publishAsync(`fault/q1/${i % 5}`, p, { qos: 1 });
    for (const [i, p] of q2.entries()) await outside.publishAsync(`fault/q2/${i % 5}`, p, { qos: 2 });
    assert.equal(await text(page, 'connection-status'), 'reconnecting', 'still offline while stalled');
    await proxy.cmd('stall off');

    await waitForStatus(page, 'connected', 20000);
    const wanted = new Set([...q1, ...q2]);
    await waitUntil(async () => (await domMessages(page)).filter((m) => wanted.has(m.payload)).length >= 100, 20000,
      'all 100 messages in the page').catch(async (e) => {
      throw new Error(`${e.message}: ${(await domMessages(page)).filter((m) => wanted.has(m.payload)).length} arrived`);
    });
    await sleep(1000); // late duplicates would show up now
    const shown = (await domMessages(page)).filter((m) => wanted.has(m.payload));
    const counts = countBy(shown, (m) => m.payload);
    const lost = [...wanted].filter((p) => !counts.has(p));
    const dupQ2 = q2.filter((p) => (counts.get(p) ?? 0) > 1);
    const dupQ1 = q1.filter((p) => (counts.get(p) ?? 0) > 1);
    assert.deepEqual(lost, [], 'lost messages');
    assert.deepEqual(dupQ2, [], 'QoS 2 messages shown more than once');
    assert.ok(shown.filter((m) => q2.includes(m.payload)).every((m) => m.qos === 2), 'QoS 2 messages are shown at QoS 2');
    assert.ok(shown.filter((m) => q1.includes(m.payload)).every((m) => m.qos === 1), 'QoS 1 messages are shown at QoS 1');
    assert.equal(await subscriptionRow(page, 'fault/q2/#').getAttribute('data-count'), '50');

    // The broker: the session was resumed (no new SUBSCRIBE needed), and the page acknowledged
    // every QoS 1 message (PUBACK) and completed every QoS 2 one (PUBCOMP).
    await sleep(300);
    const log = broker.stderr;
    const connects = countLog(log, new RegExp(`^New client connected from .* as ${escapeRe(clientId)} `));
    const pubacks = countLog(log, new RegExp(`^Received PUBACK from ${escapeRe(clientId)} `));
    const pubcomps = countLog(log, new RegExp(`^Received PUBCOMP from ${escapeRe(clientId)} `));
    const subscribes = subscribesPerConnection(log, clientId);
    assert.ok(pubacks >= 50, `PUBACKs at the broker: ${pubacks}`);
    assert.ok(pubcomps >= 50, `PUBCOMPs at the broker: ${pubcomps}`);
    assert.deepEqual(panics(page), []);
    figures('persistent-session-qos12', {
      faults: 1, sent: 100, received: shown.length, lost: lost.length, duplicates_qos2: dupQ2.length,
      duplicates_qos1: dupQ1.length, broker_connects: connects, broker_pubacks: pubacks, broker_pubcomps: pubcomps,
      subscribes_per_connection: subscribes.map((c) => c.length).join('/'),
    });
  } finally { await cleanup(); }
});

// ---- 3. publishes while offline: queued, then sent in order; or expired and never sent -------

/** A broker, the proxy and an outside subscriber to fault/outbox/# for one offline case. */
async function outboxSetup() {
  const broker = await startBroker();
  const proxy = await startProxy(broker);
  const outside = await outsideClient(broker);
  await outside.subscribeAsync('fault/outbox/#', { qos: 2 });
  return { broker, proxy, outside, tag: Math.random().toString(36).slice(2, 8) };
}

/**
 * Takes the page offline the way the broker sees it (stall, then drop: the page's next attempt
 * opens but its CONNECT is held, so it stays `reconnecting`) and publishes 5 at QoS 1 from the
 * form; each must show `queued`. Returns the payloads in publish order.
 */
async function publishOffline(page, proxy, prefix) {
  await waitForStatus(page, 'connected');
  await proxy.cmd('stall on');
  await proxy.cmd('drop');
  await waitForStatus(page, 'reconnecting', 5000);
  await page.evaluate(() => {
    window.__results = [];
    const el = document.querySelector('[data-testid="publish-result"]');
    new MutationObserver(() => window.__results.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
  });
  const payloads = Array.from({ length: 5 }, (_, i) => `${prefix}-${i}`);
  for (const p of payloads) {
    await publishForm(page, 'fault/outbox/x', p, 1, 'queued');
    assert.equal(await text(page, 'connection-status'), 'reconnecting');
  }
  const results = (await page.evaluate(() => window.__results)).filter((r, i, all) => r !== all[i - 1]);
  assert.deepEqual(results, payloads.flatMap(() => ['sending', 'queued']), 'each publish shows queued');
  return payloads;
}

test('offline publishes are queued, then reach the broker exactly once, in order', { timeout: 60000 }, async () => {
  try {
    const { proxy, outside, tag } = await outboxSetup();
    const page = await openPage(pageUrl(proxy.wsUrl, '&connect=1'));
    const sent = await publishOffline(page, proxy, `ob-a-${tag}`);
    const ours = () => outside.received.filter((m) => m.payload.startsWith(`ob-a-${tag}`));
    await sleep(500);
    assert.deepEqual(ours(), [], 'nothing reached the broker while offline');
    await proxy.cmd('stall off');
    await waitForStatus(page, 'connected', 15000);
    await waitUntil(() => ours().length >= 5, 10000, 'the 5 queued publishes at the broker');
    await waitUntil(async () => (await text(page, 'publish-result')) === 'acked', 5000, 'the last publish acked');
    await sleep(1000); // duplicates would show up now
    const got = ours().map((m) => m.payload);
    assert.deepEqual(got, sent, 'the broker got the queued publishes exactly once, in order');
    assert.equal(await page.locator('.dropped li').count(), 0, 'nothing reported as not sent');
    assert.deepEqual(panics(page), []);
    figures('offline-outbox', {
      faults: 1, sent: sent.length, received: got.length, lost: sent.length - new Set(got).size, duplicates_qos2: 0,
      duplicates: got.length - new Set(got).size, in_order: JSON.stringify(got) === JSON.stringify(sent),
    });
  } finally { await cleanup(); }
});

test('with outbox_expiry=3, publishes queued through a longer outage are reported not sent and never reach the broker',
  { timeout: 60000 }, async () => {
    try {
      const { proxy, outside, tag } = await outboxSetup();
      const page = await openPage(pageUrl(proxy.wsUrl, '&connect=1&outbox_expiry=3'));
      const sent = await publishOffline(page, proxy, `ob-b-${tag}`);
      const queuedAt = Date.now();
      const ours = () => outside.received.filter((m) => m.payload.startsWith(`ob-b-${tag}`));
      let expiredAfter = null;
      let failure = null;
      try {
        await waitUntil(async () => (await page.locator('.dropped li').count()) >= 5, 6000, '5 publishes reported as not sent');
        expiredAfter = Date.now() - queuedAt;
      } catch (e) {
        failure = new Error(`${e.message}: dropped=${JSON.stringify(await page.locator('.dropped li').allTextContents())} `
          + `publish-result="${await text(page, 'publish-result')}" status=${await text(page, 'connection-status')}`);
      }
      const dropped = await page.locator('.dropped li').allTextContents();
      const resultAtEnd = await text(page, 'publish-result');
      const statusAtEnd = await text(page, 'connection-status');
      // End the outage either way, to see what the broker gets.
      await proxy.cmd('stall off');
      await waitForStatus(page, 'connected', 15000);
      await sleep(1500);
      const got = ours().map((m) => m.payload);
      figures('offline-outbox-expiry', {
        faults: 1, sent: sent.length, received: got.length, lost: 0, duplicates_qos2: 0, outage_ms: Date.now() - queuedAt,
        expired_reported: dropped.length, expiry_reported_after_ms: expiredAfter, reached_broker_after_outage: got.length,
      });
      if (failure) throw failure;
      for (const d of dropped) assert.match(d, /^publish #\d+ not sent: .*expired/, d);
      assert.match(resultAtEnd, /^failed: .*expired/);
      assert.equal(statusAtEnd, 'reconnecting', 'expired during the outage');
      assert.ok(expiredAfter >= 2000, `reported after ${expiredAfter} ms, before the 3 s expiry`);
      assert.deepEqual(got, [], 'expired publishes never reach the broker');
      assert.deepEqual(panics(page), []);
    } finally { await cleanup(); }
  });

// ---- 4. withheld PINGRESP --------------------------------------------------------------------

test('withheld PINGRESP: keepalive 2 leaves connected in time with a keepalive error, then recovers', { timeout: 60000 }, async () => {
  try {
    const broker = await startBroker();
    const proxy = await startProxy(broker);
    const clientId = `e2e-keepalive-${process.pid}`;
    const page = await openPage(pageUrl(proxy.wsUrl, `&client_id=${clientId}`));
    await byTestId(page, 'keepalive').fill('2');
    await byTestId(page, 'connect-button').click();
    await waitForStatus(page, 'connected');
    assert.match(broker.stderr, new RegExp(`as ${clientId} \\(p2, c\\d, k2\\)`), 'CONNECT with keepalive 2');
    // With PINGRESPs passing, the link stays up over several keepalive periods.
    await page.markStatuses();
    await sleep(4500);
    assert.deepEqual(await page.statuses(), ['connected'], 'stable with pings answered');
    const pingsBefore = countLog(broker.stderr, new RegExp(`^Received PINGREQ from ${escapeRe(clientId)}$`));
    assert.ok(pingsBefore >= 1, `PINGREQs at the broker while answered: ${pingsBefore}`);

    await proxy.cmd('pingresp withhold');
    const t0 = Date.now();
    await waitForStatusNot(page, 'connected', 12000);
    const leftAfter = Date.now() - t0;
    const error = await text(page, 'connection-error');
    assert.ok(leftAfter < 8000, `left connected after ${leftAfter} ms`);
    assert.match(error, /keepalive|ping/i);
    const withheld = (await proxy.stats()).pingresp_withheld;
    assert.ok(withheld >= 1, `PINGRESPs withheld: ${withheld}`);
    // The page gave up on the link, not the broker on the page.
    assert.doesNotMatch(broker.stderr, new RegExp(`Client ${escapeRe(clientId)} has exceeded timeout`));

    await proxy.cmd('pingresp pass');
    const t1 = Date.now();
    await waitForStatus(page, 'connected', 15000);
    const backAfter = Date.now() - t1;
    await page.markStatuses();
    await sleep(4500);
    assert.deepEqual(await page.statuses(), ['connected'], 'stable again once PINGRESPs pass');
    assert.deepEqual(panics(page), []);
    figures('withheld-pingresp', {
      faults: 1, sent: 0, received: 0, lost: 0, duplicates_qos2: 0, keepalive_s: 2,
      left_connected_after_ms: leftAfter, reconnected_after_ms: backAfter, pingresp_withheld: withheld,
      broker_pingreqs: countLog(broker.stderr, new RegExp(`^Received PINGREQ from ${escapeRe(clientId)}$`)),
      error: JSON.stringify(error),
    });
  } finally { await cleanup(); }
});

// ---- 5. re-chunked WebSocket frames ------------------------------------------------------------

test('re-chunking: one byte per frame, random frames and coalesced packets give the same messages', { timeout: 90000 }, async () => {
  try {
    const broker = await startBroker();
    const proxy = await startProxy(broker);
    const clientId = `e2e-chunk-${process.pid}`;
    const page = await openPage(pageUrl(proxy.wsUrl, `&client_id=${clientId}&connect=1`));
    await waitForStatus(page, 'connected');
    await subscribeForm(page, 'fault/chunk/#', 2);
    await waitActive(page, ['fault/chunk/#']);
    const outside = await outsideClient(broker);

    // 30 messages, QoS 0/1/2 in turn, sizes across the remaining-length boundaries, one 5 KiB.
    const sizes = [0, 1, 2, 7, 60, 100, 120, 121, 122, 123, 127, 128, 129, 200, 255, 256, 300, 500, 700,
      1000, 1500, 2000, 3000, 4000, 5120, 16, 33, 64, 65, 90];
    const letters = 'abcdefghijklmnopqrstuvwxyz0123456789 -_';
    const messages = sizes.map((size, i) => {
      const head = `m${i}|`;
      let body = head;
      for (let k = 0; body.length < size; k++) body += letters[(i * 7 + k) % letters.length];
      return { topic: `fault/chunk/t${i % 4}`, payload: size === 0 ? '' : body.slice(0, Math.max(size, head.length)), qos: i % 3 };
    });
    assert.equal(messages.length, 30);
    assert.equal(Math.max(...messages.map((m) => m.payload.length)), 5120);
    const key = (m) => JSON.stringify([m.topic, m.payload]);
    const expected = messages.map(key).sort();

    const clear = page.getByRole('button', { name: 'Clear', exact: true });
    const results = {};
    let baseline;
    for (const mode of ['none', 'one', 'random 7', 'coalesce']) {
      await proxy.cmd(`chunk ${mode}`);
      await clear.click();
      await waitUntil(async () => (await messageCount(page)) === 0, 3000, 'messages cleared');
      const before = await proxy.stats();
      const acksBefore = countLog(broker.stderr, new RegExp(`^Received PUB(ACK|COMP) from ${escapeRe(clientId)} `));
      await Promise.all(messages.map((m) => outside.publishAsync(m.topic, m.payload, { qos: m.qos })));
      await waitUntil(async () => (await messageCount(page)) >= 30, 20000, `30 messages with chunk ${mode}`)
        .catch(async (e) => { throw new Error(`${e.message}: ${await messageCount(page)} shown`); });
      await sleep(500); // extras would show up now
      const shown = await domMessages(page);
      const got = shown.map(key).sort();
      const after = await proxy.stats();
      const acks = countLog(broker.stderr, new RegExp(`^Received PUB(ACK|COMP) from ${escapeRe(clientId)} `)) - acksBefore;
      results[mode] = { got, frames: after.frames_to_client - before.frames_to_client, bytes: after.s2c_bytes - before.s2c_bytes, acks };
      if (mode === 'none') baseline = got;
      assert.deepEqual(got, expected, `chunk ${mode}: the page shows exactly the published (topic, payload) set`);
      assert.deepEqual(got, baseline, `chunk ${mode}: same as with chunk none`);
      assert.equal(acks, messages.filter((m) => m.qos > 0).length, `chunk ${mode}: PUBACK/PUBCOMP at the broker`);
      assert.equal(after.connections, 1, `chunk ${mode}: no reconnect (the page never dropped the link)`);
    }
    assert.equal(await text(page, 'connection-status'), 'connected');
    assert.ok(results.one.frames >= results.one.bytes * 0.99, 'chunk one really sent one byte per frame');
    assert.ok(results.coalesce.frames < results.none.frames, 'chunk coalesce really merged packets');
    assert.deepEqual(panics(page), []);
    const received = Object.values(results).reduce((n, r) => n + r.got.length, 0);
    figures('rechunking', {
      faults: 3, sent: 120, received, lost: 120 - received, duplicates_qos2: 0,
      frames: Object.entries(results).map(([m, r]) => `${m.replace(' ', '')}:${r.frames}`).join(','),
      broker_acks: Object.values(results).map((r) => r.acks).join('/'),
    });
  } finally { await cleanup(); }
});

// ---- 6. malformed bytes and a text frame -------------------------------------------------------

test('malformed packet and text frame: explained, recovered by itself, page still works, no panic', { timeout: 60000 }, async () => {
  try {
    const broker = await startBroker();
    const proxy = await startProxy(broker);
    const clientId = `e2e-malformed-${process.pid}`;
    const page = await openPage(pageUrl(proxy.wsUrl, `&client_id=${clientId}&sub=fault/mal/%23&connect=1`));
    await waitForStatus(page, 'connected');
    await waitActive(page, ['fault/mal/#']);
    const outside = await outsideClient(broker);
    await outside.subscribeAsync('fault/mal/#', { qos: 1 });

    const cases = [['inject 3f020000', /malformed/i, 'malformed'], ['text hello', /text (WebSocket )?frame/i, 'text']];
    const seen = {};
    let roundTrips = 0;
    for (const [command, errorRe, name] of cases) {
      await page.markStatuses();
      await proxy.cmd(command);
      await waitUntil(async () => errorRe.test(await text(page, 'connection-error')), 5000, `an error for ${command}`)
        .catch(async (e) => { throw new Error(`${e.message}: "${await text(page, 'connection-error')}"`); });
      seen[name] = await text(page, 'connection-error');
      await waitForStatus(page, 'connected', 15000);
      const statuses = await page.statuses();
      assert.ok(statuses.includes('reconnecting'), `${command}: the link was dropped (${statuses})`);
      await waitActive(page, ['fault/mal/#']);
      // A publish round trip: page -> broker -> page (and the outside client).
      const payload = `after-${name}-${Date.now()}`;
      await publishForm(page, `fault/mal/${name}`, payload, 1, 'acked');
      await page.locator(`[data-testid="message"][data-topic="fault/mal/${name}"]`).first().waitFor({ timeout: 5000 });
      await waitUntil(() => outside.received.some((m) => m.payload === payload), 5000, 'the round trip at the broker');
      await sleep(300);
      assert.equal((await domMessages(page)).filter((m) => m.payload === payload).length, 1);
      assert.equal(outside.received.filter((m) => m.payload === payload).length, 1);
      roundTrips += 1;
    }
    assert.deepEqual(panics(page), []);
    assert.deepEqual(page.errors.filter((e) => /panicked/.test(e)), []);
    const connects = countLog(broker.stderr, new RegExp(`^New client connected from .* as ${escapeRe(clientId)} `));
    assert.equal(connects, 3, 'the broker saw the page connect once, then once after each fault');
    figures('malformed-input', {
      faults: cases.length, sent: roundTrips, received: roundTrips, lost: 0, duplicates_qos2: 0,
      broker_connects: connects, console_errors: page.errors.length,
      errors: JSON.stringify(seen),
    });
  } finally { await cleanup(); }
});

// ---- 7. 20 back-to-back broker restarts --------------------------------------------------------

test('20 back-to-back broker restarts: one active row per filter at the end, no runaway memory', { timeout: 120000 }, async () => {
  try {
    const broker = await startBroker();
    const clientId = `e2e-restarts-${process.pid}`;
    const filters = ['fault/s/a', 'fault/s/b/#', 'fault/s/+/c'];
    const subs = filters.map((f) => `&sub=${encodeURIComponent(f)}`).join('');
    const page = await openPage(pageUrl(broker.wsUrl, `&client_id=${clientId}${subs}&connect=1`));
    await waitForStatus(page, 'connected');
    await waitActive(page, filters);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    // The page reconnects by itself after each restart. Its backoff only resets after a link
    // that stayed up 30 s (src/mqtt/mod.rs, "Reconnect"), so back-to-back restarts push the
    // drawn delay towards the 30 s cap (~15 s each on average after the 7th): 20 of them would
    // take minutes. Where the page schedules a retry more than NUDGE_OVER_MS away, the test
    // presses Connect like an impatient user (a user connect resets the backoff), and counts it.
    const NUDGE_OVER_MS = 2500;
    const start = Date.now();
    const reconnectMs = [];
    const scheduled = []; // "restart:attempt:delay_s" of every retry the page showed
    let nudges = 0;
    let memoryAt5, memoryAt20;
    for (let i = 1; i <= 20; i++) {
      await page.markStatuses();
      const t = Date.now();
      await broker.restart();
      let nudged = false;
      const seen = new Set();
      await waitUntil(async () => {
        const statuses = await page.statuses();
        if (statuses.includes('reconnecting') && statuses.at(-1) === 'connected') return true;
        const retry = /retry #(\d+) in ([\d.]+) s/.exec(await page.locator('.status-retry').textContent().catch(() => ''));
        if (retry && !seen.has(retry[0])) {
          seen.add(retry[0]);
          scheduled.push(`${i}:${retry[1]}:${retry[2]}`);
          if (!nudged && Number(retry[2]) * 1000 > NUDGE_OVER_MS) {
            nudged = true;
            nudges += 1;
            await byTestId(page, 'connect-button').click();
          }
        }
        return false;
      }, 40000, `connected again after restart ${i}`).catch(async (e) => {
        throw new Error(`${e.message}: statuses ${await page.statuses()}, retry "${await page.locator('.status-retry').textContent()}"`);
      });
      reconnectMs.push(Date.now() - t);
      if (i === 5) memoryAt5 = { ...await pageMemory(cdp), worker: await workerMemory(page) };
      if (i === 20) memoryAt20 = { ...await pageMemory(cdp), worker: await workerMemory(page) };
    }
    const total = Date.now() - start;
    await waitActive(page, filters, 10000);
    for (const f of filters) assert.equal(await subscriptionRow(page, f).count(), 1, `one row for ${f}`);
    assert.equal(await page.locator('[data-testid="subscription"]').count(), filters.length);

    const perConnection = subscribesPerConnection(broker.fullLog(), clientId);
    assert.equal(perConnection.length, 21, 'connections at the broker');
    const bad = perConnection.map((c, i) => [i, c]).filter(([, c]) => JSON.stringify([...c].sort()) !== JSON.stringify([...filters].sort()));
    assert.deepEqual(bad, [], 'every connection SUBSCRIBEd each filter exactly once');

    const outside = await outsideClient(broker);
    const payload = `after-20-restarts-${Date.now()}`;
    await outside.publishAsync('fault/s/a', payload, { qos: 1 });
    await page.locator('[data-testid="message"][data-topic="fault/s/a"]').first().waitFor({ timeout: 5000 });
    await sleep(500);
    const shown = (await domMessages(page)).filter((m) => m.payload === payload).length;
    assert.equal(shown, 1);

    const growth = (a, b) => (b - a) / a;
    figures('20-restarts', {
      faults: 20, sent: 1, received: shown, lost: 1 - shown, duplicates_qos2: 0, total_ms: total,
      user_reconnects: nudges, reconnect_ms: reconnectMs.join(','), retries_restart_attempt_delay: scheduled.join(','), max_reconnect_ms: Math.max(...reconnectMs),
      js_heap_after_5: memoryAt5.heap, js_heap_after_20: memoryAt20.heap,
      wasm_after_5: memoryAt5.wasm, wasm_after_20: memoryAt20.wasm,
      perf_memory_after_5: memoryAt5.perfMemory, perf_memory_after_20: memoryAt20.perfMemory,
      worker_js_heap_after_5: memoryAt5.worker.heap, worker_js_heap_after_20: memoryAt20.worker.heap,
      worker_wasm_after_5: memoryAt5.worker.wasm, worker_wasm_after_20: memoryAt20.worker.wasm,
    });
    assert.ok(growth(memoryAt5.heap, memoryAt20.heap) <= 0.5, `JS heap grew from ${memoryAt5.heap} to ${memoryAt20.heap}`);
    assert.ok(growth(memoryAt5.wasm, memoryAt20.wasm) <= 0.5, `wasm memory grew from ${memoryAt5.wasm} to ${memoryAt20.wasm}`);
    assert.ok(memoryAt20.worker.heap !== null, 'the session worker was found');
    assert.ok(growth(memoryAt5.worker.heap, memoryAt20.worker.heap) <= 0.5,
      `worker JS heap grew from ${memoryAt5.worker.heap} to ${memoryAt20.worker.heap}`);
    assert.ok(growth(memoryAt5.worker.wasm, memoryAt20.worker.wasm) <= 0.5,
      `worker wasm memory grew from ${memoryAt5.worker.wasm} to ${memoryAt20.worker.wasm}`);
    assert.deepEqual(panics(page), []);
  } finally { await cleanup(); }
});

// The core flows through the built page against a second, independent broker: aedes (npm,
// in-memory) behind a WebSocket listener (tests/e2e/aedes-broker.mjs), so the page is not
// only ever checked against mosquitto. The other side is an MQTT.js client over aedes' TCP
// listener. Each flow checks what a user sees (status, error line, message rows, publish
// result); the file ends with one line of figures (flows, messages sent/received/lost per
// flow, reconnect time after a broker restart).
//
//   node --test tests/e2e/second_broker.test.mjs     (from the repository root)
//
// Needs dist/ built. Everything listens on 127.0.0.1 only; every broker started here is
// stopped by its pid.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Aedes, ROOT, serveDist, launchBrowser, byTestId, waitForStatus, panics, sleep, waitUntil, openRecordedPage } from './lib.mjs';

const AEDES_VERSION = JSON.parse(readFileSync(join(ROOT, 'tests/e2e/node_modules/aedes/package.json'), 'utf8')).version;

let site, browser, open, locked;
const cleanups = []; // per test: pages' contexts and outside clients, closed in reverse order
const figures = []; // messages per flow (and direction) that ran to its end
let flowsRun = 0;
let reconnectMs = null;

before(async () => {
  open = await new Aedes({ log: true }).start();
  locked = await new Aedes({ auth: 'alice:s3cret', log: true }).start();
  site = await serveDist();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await site?.close();
  await open?.stop();
  await locked?.stop();
  const flows = figures.map((f) => `${f.flow} sent=${f.sent} received=${f.received} lost=${f.sent - f.received}`).join('; ');
  console.log(`second broker (aedes ${AEDES_VERSION}): flows run ${flowsRun}; ${flows}; reconnect after broker restart ${reconnectMs ?? '-'} ms`);
});

async function cleanup() {
  while (cleanups.length) {
    try { await cleanups.pop()(); } catch { /* best effort */ }
  }
}

/** An MQTT.js client over aedes' TCP listener, recording what it receives. */
async function outsideClient(broker, options = {}) {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  client.received = [];
  client.on('message', (topic, payload, packet) => client.received.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
  client.on('error', () => {});
  cleanups.push(() => client.end(true));
  return client;
}

/** The page for `broker`, not connected yet: `connect()` presses the button, as a user would. */
const openPage = (broker, params = '') =>
  openRecordedPage(browser, `${site.url}?broker=${encodeURIComponent(broker.wsUrl)}${params}`, cleanups);

const text = (page, id) => byTestId(page, id).textContent();
const subscriptionRow = (page, filter) => page.locator(`[data-testid="subscription"][data-filter="${filter}"]`);

async function connect(page) {
  await byTestId(page, 'connect-button').click();
  await waitForStatus(page, 'connected');
}

async function subscribeForm(page, filter, qos) {
  await byTestId(page, 'subscribe-topic').fill(filter);
  await byTestId(page, 'subscribe-qos').selectOption(String(qos));
  await byTestId(page, 'subscribe-button').click();
  await waitActive(page, filter);
}

async function waitActive(page, filter) {
  await waitUntil(async () => (await subscriptionRow(page, filter).getAttribute('data-state').catch(() => null)) === 'active',
    5000, `subscription ${filter} active (SUBACK)`);
}

/** Publishes from the page's form and waits for `publish-result` to read `expect`. */
async function publishForm(page, topic, payload, qos, expect) {
  await byTestId(page, 'publish-topic').fill(topic);
  await byTestId(page, 'publish-payload').fill(payload);
  await byTestId(page, 'publish-qos').selectOption(String(qos));
  await byTestId(page, 'publish-button').click();
  await waitUntil(async () => (await text(page, 'publish-result')) === expect, 5000,
    `publish-result "${expect}" for ${topic} ${payload} (it is "${await text(page, 'publish-result')}")`);
}

/** The message rows as the user sees them. */
function shownMessages(page) {
  return page.evaluate(() => [...document.querySelectorAll('[data-testid="message"]')].map((m) => ({
    topic: m.getAttribute('data-topic'),
    qos: Number(m.getAttribute('data-qos')),
    retain: m.getAttribute('data-retain') === 'true',
    payload: m.querySelector('.msg-payload')?.textContent ?? '',
  })));
}

async function waitShown(page, topic, payload, ms = 5000) {
  await waitUntil(async () => (await shownMessages(page)).some((m) => m.topic === topic && m.payload === payload), ms,
    `message ${topic} "${payload}" shown`);
}

test('aedes: connect without credentials, subscribe from a link, receive', async () => {
  try {
    const page = await openPage(open, '&client_id=sb-plain&sub=sb/plain/%23');
    await connect(page);
    assert.equal(await text(page, 'connection-error'), '', 'no error after a plain connect');
    await waitActive(page, 'sb/plain/#');
    const outside = await outsideClient(open);
    await outside.publishAsync('sb/plain/hello', 'hello from aedes');
    await waitShown(page, 'sb/plain/hello', 'hello from aedes');
    await waitUntil(async () => (await subscriptionRow(page, 'sb/plain/#').getAttribute('data-count')) === '1', 3000, 'data-count 1');
    assert.match(open.stderr, /client sb-plain connected/, 'aedes saw the page by its client id');
    // Unsubscribe: the row goes, and what is published afterwards is not shown.
    await subscriptionRow(page, 'sb/plain/#').locator('[data-testid="unsubscribe-button"]').click();
    await subscriptionRow(page, 'sb/plain/#').waitFor({ state: 'detached', timeout: 5000 });
    await waitUntil(() => /unsubscribe sb-plain sb\/plain\/#/.test(open.stderr), 3000, 'aedes to see the UNSUBSCRIBE');
    await outside.publishAsync('sb/plain/hello', 'after unsubscribe', { qos: 1 });
    await sleep(500);
    assert.deepEqual((await shownMessages(page)).map((m) => m.payload), ['hello from aedes'], 'nothing after the unsubscribe');
    assert.deepEqual(panics(page), []);
    figures.push({ flow: 'plain', sent: 1, received: (await shownMessages(page)).length });
    flowsRun += 1;
  } finally { await cleanup(); }
});

test('aedes authenticate hook: no login and a wrong password are refused in words, alice/s3cret connects', async () => {
  try {
    const page = await openPage(locked, '&client_id=sb-login&sub=sb/login/%23');
    // No username at all: this broker takes only alice.
    await byTestId(page, 'connect-button').click();
    await waitUntil(async () => /broker refused the connection: not authorized/.test(await text(page, 'connection-error')), 8000,
      'the anonymous connect refused');
    assert.notEqual(await text(page, 'connection-status'), 'connected');

    await byTestId(page, 'username').fill('alice');
    await byTestId(page, 'password').fill('wrong');
    await byTestId(page, 'connect-button').click();
    await waitUntil(async () => /user=alice refused/.test(locked.stderr), 8000, 'aedes to refuse alice with the wrong password');
    await waitUntil(async () => /broker refused the connection: not authorized/.test(await text(page, 'connection-error')), 8000,
      'the wrong password refused');
    await sleep(300);
    assert.notEqual(await text(page, 'connection-status'), 'connected', 'a refused login does not show connected');
    assert.doesNotMatch(locked.stderr, /user=alice accepted/);

    // Connect while the page is still retrying the refused login: a refusal from that retry
    // may arrive after the press; the error line must still end up clear.
    await byTestId(page, 'password').fill('s3cret');
    await connect(page);
    assert.equal(await text(page, 'connection-error'), '', 'the error line is clear after the connect that worked');
    assert.match(locked.stderr, /authenticate sb-login user=alice accepted/);
    await waitActive(page, 'sb/login/#');
    const outside = await outsideClient(locked, { username: 'alice', password: 's3cret' });
    await outside.publishAsync('sb/login/x', 'for alice', { qos: 1 });
    await waitShown(page, 'sb/login/x', 'for alice');
    assert.deepEqual(panics(page), []);
    figures.push({ flow: 'login', sent: 1, received: (await shownMessages(page)).length });
    flowsRun += 1;
  } finally { await cleanup(); }
});

test('aedes: QoS 1 and QoS 2 both ways, each message once at its QoS', async () => {
  const n = 3;
  try {
    const page = await openPage(open, '&client_id=sb-qos');
    await connect(page);
    await subscribeForm(page, 'sb/qos/in/#', 2);
    const outside = await outsideClient(open);
    await outside.subscribeAsync('sb/qos/out/#', { qos: 2 });

    // The page publishes; the outside client receives.
    const out = [];
    for (const qos of [1, 2]) {
      for (let i = 0; i < n; i++) {
        out.push({ topic: `sb/qos/out/q${qos}`, payload: `out-q${qos}-${i}`, qos });
        await publishForm(page, `sb/qos/out/q${qos}`, `out-q${qos}-${i}`, qos, 'acked');
      }
    }
    await waitUntil(() => outside.received.length >= out.length, 5000, 'the page\'s publishes at the outside client');
    await sleep(300); // a duplicate would show up now
    const got = outside.received.map(({ topic, payload, qos }) => ({ topic, payload, qos }));
    assert.deepEqual(got, out, 'each of the page\'s publishes arrives once, in order, at its QoS');

    // The outside client publishes; the page shows each once at its QoS.
    const into = [];
    for (const qos of [1, 2]) {
      for (let i = 0; i < n; i++) {
        into.push({ topic: `sb/qos/in/q${qos}`, payload: `in-q${qos}-${i}`, qos });
        await outside.publishAsync(`sb/qos/in/q${qos}`, `in-q${qos}-${i}`, { qos });
      }
    }
    await waitUntil(async () => (await shownMessages(page)).length >= into.length, 5000, 'the outside publishes on the page');
    await sleep(400); // the message list renders at most every 250 ms: a duplicate would show now
    const shown = (await shownMessages(page)).map(({ topic, payload, qos }) => ({ topic, payload, qos }));
    const byPayload = (a, b) => a.payload.localeCompare(b.payload);
    assert.deepEqual([...shown].sort(byPayload), [...into].sort(byPayload), 'each outside publish is shown once at its QoS');
    assert.equal(await subscriptionRow(page, 'sb/qos/in/#').getAttribute('data-count'), String(into.length));
    assert.deepEqual(panics(page), []);
    for (const qos of [1, 2]) {
      const of = (list) => list.filter((m) => m.qos === qos).length;
      figures.push({ flow: `page->out q${qos}`, sent: of(out), received: of(got) });
      figures.push({ flow: `out->page q${qos}`, sent: of(into), received: of(shown) });
    }
    flowsRun += 1;
  } finally { await cleanup(); }
});

test('aedes: a retained message is delivered on subscribe, marked retained', async () => {
  try {
    const outside = await outsideClient(open);
    await outside.publishAsync('sb/retained/lamp', 'on', { qos: 1, retain: true });
    const page = await openPage(open, '&client_id=sb-retained&sub=sb/retained/%23');
    await connect(page);
    await waitShown(page, 'sb/retained/lamp', 'on');
    const [row] = (await shownMessages(page)).filter((m) => m.topic === 'sb/retained/lamp');
    assert.equal(row.retain, true, 'data-retain on the row');
    assert.match(await page.locator('[data-testid="message"][data-topic="sb/retained/lamp"]').textContent(), /retained/);
    // A message published after the subscription is live, not retained.
    await outside.publishAsync('sb/retained/lamp', 'off', { qos: 1 });
    await waitShown(page, 'sb/retained/lamp', 'off');
    const live = (await shownMessages(page)).find((m) => m.payload === 'off');
    assert.equal(live.retain, false, 'a live message is not marked retained');
    await outside.publishAsync('sb/retained/lamp', '', { qos: 1, retain: true }); // clear it
    assert.deepEqual(panics(page), []);
    figures.push({ flow: 'retained', sent: 2, received: (await shownMessages(page)).length });
    flowsRun += 1;
  } finally { await cleanup(); }
});

test('aedes: the last will of a client whose socket is destroyed reaches the page', async () => {
  try {
    const page = await openPage(open, '&client_id=sb-will');
    await connect(page);
    await subscribeForm(page, 'sb/will/#', 1);
    const mortal = await outsideClient(open, {
      clientId: 'sb-mortal', will: { topic: 'sb/will/sb-mortal', payload: 'sb-mortal went away', qos: 1, retain: false },
    });
    await mortal.publishAsync('sb/will/sb-mortal', 'alive', { qos: 1 });
    await waitShown(page, 'sb/will/sb-mortal', 'alive');
    mortal.stream.destroy(); // vanish without DISCONNECT: the broker publishes the will
    await waitShown(page, 'sb/will/sb-mortal', 'sb-mortal went away', 8000);
    const will = (await shownMessages(page)).find((m) => m.payload === 'sb-mortal went away');
    assert.equal(will.qos, 1, 'the will arrives at its QoS');
    assert.deepEqual(panics(page), []);
    figures.push({ flow: 'will', sent: 1, received: (await shownMessages(page)).filter((m) => m.payload === 'sb-mortal went away').length });
    flowsRun += 1;
  } finally { await cleanup(); }
});

test('aedes closes the link on a $SYS publish: the page reports it failed after three tries and stays usable', async () => {
  try {
    const page = await openPage(open, '&client_id=sb-sys');
    await connect(page);
    await byTestId(page, 'publish-topic').fill('$SYS/probe');
    await byTestId(page, 'publish-payload').fill('x');
    await byTestId(page, 'publish-qos').selectOption('1');
    await byTestId(page, 'publish-button').click();
    await waitUntil(async () => /^failed: the broker closed the connection right after it, 3 times/.test(await text(page, 'publish-result')),
      20000, 'the $SYS publish reported failed');
    await waitForStatus(page, 'connected');
    await publishForm(page, 'sb/sys/after', 'still works', 1, 'acked');
    assert.deepEqual(panics(page), []);
    flowsRun += 1;
  } finally { await cleanup(); }
});

test('aedes restart on the same port: the page goes reconnecting, then connected, and still receives', async () => {
  const broker = await new Aedes({ log: true }).start();
  cleanups.push(() => broker.stop());
  try {
    const page = await openPage(broker, '&client_id=sb-restart&sub=sb/restart/%23');
    await connect(page);
    await waitActive(page, 'sb/restart/#');
    const before = await outsideClient(broker);
    await before.publishAsync('sb/restart/x', 'before', { qos: 1 });
    await waitShown(page, 'sb/restart/x', 'before');

    const stoppedAt = Date.now();
    const oldPid = broker.pid;
    await broker.stop();
    await waitForStatus(page, 'reconnecting', 10000);
    await broker.start();
    assert.notEqual(broker.pid, oldPid, 'a new aedes process');
    await waitForStatus(page, 'connected', 20000);
    reconnectMs = Date.now() - stoppedAt;
    const statuses = await page.statuses();
    assert.equal(statuses.at(-1), 'connected', `statuses ${statuses}`);
    assert.ok(statuses.indexOf('reconnecting') > statuses.indexOf('connected'), `connected, then reconnecting: ${statuses}`);
    assert.ok(statuses.lastIndexOf('connected') > statuses.indexOf('reconnecting'), `then connected again: ${statuses}`);
    assert.notEqual(await text(page, 'connection-error'), '', 'the loss stays explained');

    // The restarted aedes remembers nothing: the page must have subscribed again.
    await waitActive(page, 'sb/restart/#');
    await waitUntil(() => (broker.stderr.match(/subscribe sb-restart sb\/restart\/#@0/g) ?? []).length === 1, 5000,
      'the page subscribing again on the new aedes');
    const after = await outsideClient(broker);
    await after.publishAsync('sb/restart/x', 'after', { qos: 1 });
    await waitShown(page, 'sb/restart/x', 'after');
    await sleep(300);
    const rows = (await shownMessages(page)).filter((m) => m.topic === 'sb/restart/x').map((m) => m.payload);
    assert.deepEqual([...rows].sort(), ['after', 'before'], 'the messages before and after the restart, each shown once');
    assert.deepEqual(panics(page), []);
    figures.push({ flow: 'restart', sent: 2, received: rows.length });
    flowsRun += 1;
  } finally { await cleanup(); }
});

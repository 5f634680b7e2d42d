// MQTT 5 through the built page against mosquitto (its WebSocket listener speaks 3.1.1 and
// 5): connect with protocol 5, broker capabilities, user properties both ways with an
// MQTT.js v5 client, request/response with correlation data, retain handling 2, and aedes (which does not speak 5)
// refusing a v5 connect in words. Ends with one line of figures.
//
//   node --test tests/e2e/mqtt5.test.mjs     (from the repository root; needs dist/ built)
//
// Everything listens on 127.0.0.1 only; every broker started here is stopped by its pid.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
// A refused subscription is not here: mosquitto 2.0.11 grants every filter at SUBACK (an
// ACL only filters delivery; checked with MQTT.js v5: `topic deny secret/#` and a
// `public/#`-only ACL both answer QoS 0), so SUBACK reason codes are covered natively.
import { Mosquitto, Aedes, serveDist, launchBrowser, byTestId, waitForStatus, panics, waitUntil, openRecordedPage } from './lib.mjs';

let broker, site, browser;
const cleanups = [];
const figures = { flows: 0, toPage: 0, fromPage: 0 };

before(async () => {
  broker = await new Mosquitto().start();
  site = await serveDist();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await site?.close();
  await broker?.stop();
  console.log(`mqtt5: flows run ${figures.flows}; messages to the page ${figures.toPage}, from the page ${figures.fromPage}`);
});

async function cleanup() {
  while (cleanups.length) {
    try { await cleanups.pop()(); } catch { /* best effort */ }
  }
}

async function v5Page(wsUrl = broker.wsUrl) {
  const page = await openRecordedPage(browser, `${site.url}?broker=${encodeURIComponent(wsUrl)}&connect=1&protocol=5`, cleanups);
  return page;
}

async function v5Client() {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { protocolVersion: 5, reconnectPeriod: 0 });
  cleanups.push(() => client.endAsync());
  return client;
}

async function subscribe(page, filter, { retainHandling } = {}) {
  await byTestId(page, 'subscribe-topic').fill(filter);
  if (retainHandling !== undefined) await byTestId(page, 'subscribe-retain-handling').selectOption(String(retainHandling));
  await byTestId(page, 'subscribe-button').click();
  await page.locator(`[data-testid="subscription"][data-filter="${filter}"][data-state="active"]`).waitFor({ timeout: 8000 });
}

test('protocol 5 from the URL connects and shows the broker capabilities', async () => {
  try {
    const page = await v5Page();
    await waitForStatus(page, 'connected');
    assert.equal(await byTestId(page, 'protocol-version').inputValue(), '5');
    const cap = (name) => page.locator(`[data-testid="capability"][data-name="${name}"]`).textContent();
    assert.equal(await cap('maximum-qos'), '2');
    assert.equal(await cap('retain-available'), 'yes');
    assert.match(await cap('receive-maximum'), /^\d+$/);
    assert.deepEqual(panics(page), []);
    figures.flows++;
  } finally { await cleanup(); }
});

test('user properties travel both ways between the page and an MQTT.js v5 client', async () => {
  try {
    const page = await v5Page();
    await waitForStatus(page, 'connected');
    await subscribe(page, 'up/#');
    const other = await v5Client();
    await other.publishAsync('up/1', '{"t":21}', { qos: 1, properties: { userProperties: { site: 'north', unit: '°C' }, contentType: 'application/json' } });
    figures.toPage++;
    const row = page.locator('[data-testid="message"][data-topic="up/1"]');
    await row.waitFor({ timeout: 8000 });
    assert.equal(await row.locator('[data-testid="message-property"][data-name="site"]').textContent(), 'north');
    assert.equal(await row.locator('[data-testid="message-property"][data-name="unit"]').textContent(), '°C');
    assert.equal(await row.locator('[data-testid="message-attribute"][data-name="content-type"]').textContent(), 'application/json');

    const received = [];
    await other.subscribeAsync('down/#', { qos: 1 });
    other.on('message', (topic, payload, packet) => { if (topic === 'down/1') received.push(packet); });
    await byTestId(page, 'publish-topic').fill('down/1');
    await byTestId(page, 'publish-payload').fill('hello');
    await byTestId(page, 'publish-qos').selectOption('1');
    await byTestId(page, 'publish-user-properties').fill('k=v\nsecond=2');
    await byTestId(page, 'publish-button').click();
    await waitUntil(async () => (await byTestId(page, 'publish-result').textContent()) === 'acked', 8000, 'acked');
    await waitUntil(() => received.length === 1, 8000, 'MQTT.js received the page publish');
    figures.fromPage++;
    assert.deepEqual({ ...received[0].properties.userProperties }, { k: 'v', second: '2' }, JSON.stringify(received[0].properties));
    assert.deepEqual(panics(page), []);
    figures.flows++;
  } finally { await cleanup(); }
});

test('send as request: the response with our correlation data shows under the request', async () => {
  try {
    const page = await v5Page();
    await waitForStatus(page, 'connected');
    const service = await v5Client();
    const seen = [];
    await service.subscribeAsync('svc/echo', { qos: 1 });
    service.on('message', (topic, payload, packet) => {
      seen.push(packet.properties ?? {});
      const { responseTopic, correlationData } = packet.properties ?? {};
      if (responseTopic) service.publish(responseTopic, `pong:${payload}`, { qos: 1, properties: { correlationData } });
    });
    // A stray message on another correlation must not show as a response.
    await byTestId(page, 'publish-topic').fill('svc/echo');
    await byTestId(page, 'publish-payload').fill('ping');
    await byTestId(page, 'publish-as-request').check();
    await byTestId(page, 'publish-button').click();
    const request = page.locator('[data-testid="request"][data-topic="svc/echo"]');
    await request.locator('[data-testid="response"]').first().waitFor({ timeout: 8000 });
    assert.match(await request.locator('[data-testid="response"]').first().textContent(), /pong:ping/);
    assert.ok(seen[0].responseTopic, 'the service saw a response topic');
    assert.ok(seen[0].correlationData?.length > 0, 'and correlation data');
    const responseTopic = await request.getAttribute('data-response-topic');
    await service.publishAsync(responseTopic, 'not ours', { properties: { correlationData: Buffer.from('other') } });
    await page.waitForTimeout(500);
    assert.equal(await request.locator('[data-testid="response"]', { hasText: 'not ours' }).count(), 0);
    assert.deepEqual(panics(page), []);
    figures.flows++;
  } finally { await cleanup(); }
});

test('retain handling 2 gets no retained message; 0 does', async () => {
  try {
    const other = await v5Client();
    await other.publishAsync('rh/x', 'kept', { qos: 1, retain: true });
    const page = await v5Page();
    await waitForStatus(page, 'connected');
    await subscribe(page, 'rh/#', { retainHandling: 2 });
    await page.waitForTimeout(1500);
    assert.equal(await page.locator('[data-testid="message"][data-topic="rh/x"]').count(), 0, 'no retained message with retain handling 2');
    await other.publishAsync('rh/x', 'live', { qos: 1 });
    await page.locator('[data-testid="message"][data-topic="rh/x"][data-retain="false"]').waitFor({ timeout: 8000 });
    await subscribe(page, 'rh/+', { retainHandling: 0 });
    await page.locator('[data-testid="message"][data-topic="rh/x"][data-retain="true"]').waitFor({ timeout: 8000 });
    await other.publishAsync('rh/x', '', { qos: 1, retain: true });
    figures.toPage += 2;
    figures.flows++;
  } finally { await cleanup(); }
});

test('aedes, which does not speak MQTT 5, refuses a v5 connect in words; 3.1.1 connects', async () => {
  const aedes = await new Aedes().start();
  try {
    const page = await v5Page(aedes.wsUrl);
    await waitUntil(async () => /protocol/i.test(await byTestId(page, 'connection-error').textContent()), 10000, 'a protocol error line');
    const error = await byTestId(page, 'connection-error').textContent();
    assert.notEqual(await byTestId(page, 'connection-status').textContent(), 'connected', error);
    await byTestId(page, 'protocol-version').selectOption('4');
    await byTestId(page, 'connect-button').click();
    await waitForStatus(page, 'connected');
    assert.deepEqual(panics(page), []);
    console.log(`aedes answered a v5 CONNECT with: ${error}`);
    figures.flows++;
  } finally { await cleanup(); await aedes.stop(); }
});

// Broker failover through the built page: two mosquitto brokers, the first stopped by pid.
// The page moves to the second, keeps its subscription, delivers what it queued while
// offline exactly once, and returns to the first when only the first is back.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { Mosquitto, serveDist, launchBrowser, openApp, byTestId, waitForStatus, waitUntil, panics } from './lib.mjs';

let site, browser, first, second;
after(async () => { await browser?.close(); await site?.close(); await first?.stop(); await second?.stop(); });

async function outsideClient(broker, filter) {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0 });
  client.received = [];
  client.on('message', (topic, payload) => client.received.push(`${topic} ${payload}`));
  await client.subscribeAsync(filter, { qos: 1 });
  return client;
}

const inUse = (page) => byTestId(page, 'broker-in-use').textContent().catch(() => '');
const shown = (page, topic) => page.locator(`[data-testid="message"][data-topic="${topic}"]`).count();

test('the page moves to the second broker, keeps its subscription, delivers its queue once, and comes back', async () => {
  first = await new Mosquitto().start();
  second = await new Mosquitto().start();
  site = await serveDist();
  browser = await launchBrowser();
  const page = await openApp(browser, `${site.url}?broker=${encodeURIComponent(first.wsUrl)}&sub=fo/%23`);
  await page.getByText('Failover brokers').click();
  await byTestId(page, 'failover-urls').fill(second.wsUrl);
  await byTestId(page, 'connect-button').click();
  await waitForStatus(page, 'connected');
  assert.equal(await inUse(page), first.wsUrl);
  const onSecond = await outsideClient(second, 'fo/#');

  // The first broker goes away; while the page is offline it queues three QoS 1 publishes.
  const stoppedAt = Date.now();
  await first.stop();
  await waitUntil(async () => (await byTestId(page, 'connection-status').textContent()) !== 'connected', 5000, 'the loss to show');
  const sent = ['q1', 'q2', 'q3'];
  for (const payload of sent) {
    await byTestId(page, 'publish-topic').fill('fo/queued');
    await byTestId(page, 'publish-payload').fill(payload);
    await byTestId(page, 'publish-qos').selectOption('1');
    await byTestId(page, 'publish-button').click();
    await waitUntil(async () => ['queued', 'acked'].includes(await byTestId(page, 'publish-result').textContent()), 3000, `publish ${payload} queued`);
  }
  await waitUntil(async () => (await inUse(page)) === second.wsUrl, 20000, 'the move to the second broker');
  await waitForStatus(page, 'connected');
  const moveMs = Date.now() - stoppedAt;
  assert.match(await byTestId(page, 'failover-note').textContent(), /failed 3 times in a row/);

  await waitUntil(() => onSecond.received.filter((m) => m.startsWith('fo/queued')).length >= 3, 5000, 'the queued publishes at the second broker');
  await new Promise((r) => setTimeout(r, 500));
  const delivered = onSecond.received.filter((m) => m.startsWith('fo/queued'));
  assert.deepEqual(delivered, sent.map((p) => `fo/queued ${p}`), 'each queued publish arrives once, in order');

  // The subscription carried over: a message published at the second broker is shown.
  await onSecond.publishAsync('fo/from-second', 'hello', { qos: 1 });
  await waitUntil(async () => (await shown(page, 'fo/from-second')) === 1, 5000, 'the message from the second broker');

  // Only the first comes back (same ports); the second goes away: the page returns.
  await first.start();
  const secondStoppedAt = Date.now();
  await onSecond.endAsync();
  await second.stop();
  await waitUntil(async () => (await inUse(page)) === first.wsUrl, 20000, 'the return to the first broker');
  await waitForStatus(page, 'connected');
  const backMs = Date.now() - secondStoppedAt;
  const onFirst = await outsideClient(first, 'fo/#');
  await onFirst.publishAsync('fo/from-first', 'back', { qos: 1 });
  await waitUntil(async () => (await shown(page, 'fo/from-first')) === 1, 5000, 'the message from the first broker again');
  await onFirst.endAsync();
  assert.deepEqual(panics(page), []);
  console.log(`failover: brokers used 2, queued publishes sent ${sent.length}, received ${delivered.length}, lost ${sent.length - delivered.length}; moved to the second in ${moveMs} ms, back to the first in ${backMs} ms`);
});

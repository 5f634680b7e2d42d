// Subscriptions, messages, publish, devices, send-to-node and bad input, through the
// built page against a real mosquitto, checked by MQTT clients outside the browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { Mosquitto, serveDist, launchBrowser, openApp, byTestId, waitForStatus, panics, sleep } from './lib.mjs';

let site, browser, broker;
before(async () => {
  broker = await new Mosquitto().start();
  site = await serveDist();
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await site?.close(); await broker?.stop(); });

/** An MQTT client outside the browser (TCP), recording what it receives. */
async function outsideClient(options = {}) {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0, ...options });
  client.received = [];
  client.on('message', (topic, payload, packet) => client.received.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
  return client;
}

function pageUrl(params = '') {
  return `${site.url}?broker=${encodeURIComponent(broker.wsUrl)}&connect=1${params}`;
}

async function waitFor(check, ms = 8000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const attr = (locator, name) => locator.getAttribute(name);

/** The app opened from a link that subscribes (`&sub=…`), connected, its subscription active. */
async function appSubscribed(linkParams) {
  const page = await openApp(browser, pageUrl(linkParams));
  await waitForStatus(page, 'connected');
  await waitFor(async () => (await page.locator('[data-testid="subscription"][data-state="active"]').count()) === 1, 8000, 'subscription');
  return page;
}

/** The app connected, subscribed at QoS 1 to `filter` through the form, the SUBACK shown. */
async function subscribedInForm(filter) {
  const page = await openApp(browser, pageUrl());
  await waitForStatus(page, 'connected');
  await byTestId(page, 'subscribe-topic').fill(filter);
  await byTestId(page, 'subscribe-qos').selectOption('1');
  await byTestId(page, 'subscribe-button').click();
  const sub = page.locator(`[data-testid="subscription"][data-filter="${filter}"]`);
  await waitFor(async () => (await attr(sub, 'data-state')) === 'active', 5000, 'SUBACK');
  return { page, sub };
}

test('subscribe in the form, receive a message, and the subscription counts it', async () => {
  const { page, sub } = await subscribedInForm('e2e/sub/#');
  const outside = await outsideClient();
  await outside.publishAsync('e2e/sub/a', 'hello from outside', { qos: 1 });
  const message = page.locator('[data-testid="message"][data-topic="e2e/sub/a"]');
  await message.waitFor({ timeout: 5000 });
  assert.equal(await attr(message, 'data-qos'), '1');
  assert.match(await message.textContent(), /hello from outside/);
  await waitFor(async () => (await attr(sub, 'data-count')) === '1', 3000, 'data-count 1');
  await sub.locator('[data-testid="unsubscribe-button"]').click();
  await sub.waitFor({ state: 'detached', timeout: 5000 });
  await outside.endAsync();
  assert.deepEqual(panics(page), []);
});

test('a QoS 1 flood of 2,000 messages arrives whole, the last on top: the broker got every PUBACK', async () => {
  // mosquitto sends a QoS 1 subscriber at most 20 messages ahead of its acks, so all 2,000
  // arrive only if the page acks them as they come, with nothing else of its own to send.
  const { page, sub } = await subscribedInForm('e2e/q1flood/#');
  const outside = await outsideClient();
  // In steps of 50 at a time: the broker queues at most 1,000 messages for a subscriber and
  // drops the rest, which would be the broker's loss, not the page's.
  for (let i = 0; i < 2000; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, k) => outside.publishAsync('e2e/q1flood/n', `n${i + k}`, { qos: 1 })));
  }
  await waitFor(async () => (await attr(sub, 'data-count')) === '2000', 15000, 'data-count 2000');
  const newest = page.locator('[data-testid="message"][data-topic="e2e/q1flood/n"]').first();
  await waitFor(async () => (await newest.locator('.msg-payload').textContent()) === 'n1999', 5000, 'the last message on top');
  assert.equal(await attr(newest, 'data-qos'), '1');
  await outside.endAsync();
  assert.deepEqual(panics(page), []);
});

test('publish at QoS 0, 1 and 2 shows sent, acked, acked and reaches the broker at that QoS', async () => {
  const outside = await outsideClient();
  await outside.subscribeAsync('e2e/pub/#', { qos: 2 });
  const page = await openApp(browser, pageUrl());
  await waitForStatus(page, 'connected');
  for (const [qos, expected] of [['0', 'sent'], ['1', 'acked'], ['2', 'acked']]) {
    await byTestId(page, 'publish-topic').fill(`e2e/pub/q${qos}`);
    await byTestId(page, 'publish-payload').fill(`payload at qos ${qos}`);
    await byTestId(page, 'publish-qos').selectOption(qos);
    await byTestId(page, 'publish-button').click();
    await waitFor(async () => (await byTestId(page, 'publish-result').textContent()) === expected, 5000, `publish-result ${expected} for QoS ${qos}`);
  }
  await waitFor(() => outside.received.length === 3, 5000, 'three messages at the broker');
  assert.deepEqual(outside.received.map((m) => [m.topic, m.payload, m.qos]), [
    ['e2e/pub/q0', 'payload at qos 0', 0], ['e2e/pub/q1', 'payload at qos 1', 1], ['e2e/pub/q2', 'payload at qos 2', 2],
  ]);
  await outside.endAsync();
});

test('a bad filter and a bad topic are refused with a message and nothing reaches the broker', async () => {
  const outside = await outsideClient();
  await outside.subscribeAsync('#');
  const page = await openApp(browser, pageUrl());
  await waitForStatus(page, 'connected');
  await byTestId(page, 'subscribe-topic').fill('a/#/b');
  await byTestId(page, 'subscribe-button').click();
  await page.getByText("'#' must be the last level", { exact: false }).first().waitFor({ timeout: 3000 }).catch(async () => {
    assert.match(await page.locator('.field-error').first().textContent(), /invalid topic filter/);
  });
  assert.equal(await byTestId(page, 'subscription').count(), 0);
  for (const bad of ['a/+/b', 'a/#', '']) {
    await byTestId(page, 'publish-topic').fill(bad);
    await byTestId(page, 'publish-payload').fill('must not be sent');
    await byTestId(page, 'publish-button').click();
    await waitFor(async () => (await byTestId(page, 'publish-result').textContent()).startsWith('failed: invalid topic'), 3000, `refusal of "${bad}"`);
  }
  await sleep(500);
  assert.deepEqual(outside.received.filter((m) => m.payload === 'must not be sent'), []);
  await outside.endAsync();
});

test('devices appear from a retained status and Meshtastic JSON, and go offline on a last will', async () => {
  const outside = await outsideClient();
  await outside.publishAsync('devices/e2e-pump/status', JSON.stringify({ status: 'online', battery_level: 88 }), { qos: 1, retain: true });
  const mortal = await outsideClient({ clientId: 'e2e-mortal', will: { topic: 'devices/e2e-mortal/status', payload: 'offline', qos: 1, retain: true } });
  await mortal.publishAsync('devices/e2e-mortal/status', 'online', { qos: 1, retain: true });
  const page = await openApp(browser, pageUrl('&sub=devices/%23&sub=msh/%23'));
  await waitForStatus(page, 'connected');
  const pump = page.locator('[data-testid="device"][data-device-id="e2e-pump"]');
  await pump.waitFor({ timeout: 5000 });
  assert.equal(await attr(pump, 'data-online'), 'true');
  assert.match(await pump.textContent(), /88/);
  const uplink = (type, payload, id) => JSON.stringify({ channel: 0, from: 0xa1b2c3d4, id, payload, sender: '!da5ad56c', timestamp: Math.floor(Date.now() / 1000), to: 4294967295, type });
  await outside.publishAsync('msh/US/2/json/LongFast/!da5ad56c', uplink('nodeinfo', { id: '!a1b2c3d4', longname: 'Hilltop Relay', shortname: 'HILL', hardware: 'RAK4631' }, 11));
  await outside.publishAsync('msh/US/2/json/LongFast/!da5ad56c', uplink('telemetry', { battery_level: 77, voltage: 4.01 }, 12));
  await outside.publishAsync('msh/US/2/json/LongFast/!c0ffee01', uplink('telemetry', { battery_level: 77, voltage: 4.01 }, 12));
  const node = page.locator('[data-testid="device"][data-device-id="!a1b2c3d4"]');
  await node.waitFor({ timeout: 5000 });
  await waitFor(async () => /Hilltop Relay/.test(await node.textContent()) && /77/.test(await node.textContent()), 5000, 'node info and telemetry');
  const mortalDevice = page.locator('[data-testid="device"][data-device-id="e2e-mortal"]');
  await mortalDevice.waitFor({ timeout: 5000 });
  assert.equal(await attr(mortalDevice, 'data-online'), 'true');
  mortal.stream.destroy(); // vanish without DISCONNECT: the broker publishes the will
  await waitFor(async () => (await attr(mortalDevice, 'data-online')) === 'false', 8000, 'last will offline');
  await outside.publishAsync('devices/e2e-pump/status', '', { qos: 1, retain: true });
  await outside.publishAsync('devices/e2e-mortal/status', '', { qos: 1, retain: true });
  await outside.endAsync();
  assert.deepEqual(panics(page), []);
});

test('send to node in JSON format publishes exactly the Meshtastic downlink JSON, and refuses 238 bytes', async () => {
  const outside = await outsideClient();
  await outside.subscribeAsync('msh/US/2/json/mqtt/#', { qos: 1 });
  const page = await openApp(browser, pageUrl('&sub=msh/%23'));
  await waitForStatus(page, 'connected');
  await page.locator('[data-testid="subscription"][data-state="active"]').waitFor({ timeout: 5000 });
  // The gateway is learned from an uplink's `sender`.
  await outside.publishAsync('msh/US/2/json/LongFast/!da5ad56c', JSON.stringify({ channel: 0, from: 0x0badcafe, id: 99, payload: { text: 'hi' }, sender: '!da5ad56c', to: 4294967295, type: 'text' }));
  await page.locator('[data-testid="device"][data-device-id="!0badcafe"]').waitFor({ timeout: 5000 });
  await byTestId(page, 'node-format').selectOption('json');
  await byTestId(page, 'node-target').fill('!a1b2c3d4');
  await byTestId(page, 'node-message').fill('x'.repeat(238));
  await byTestId(page, 'send-to-node-button').click();
  await waitFor(async () => /238 bytes/.test(await byTestId(page, 'send-result').textContent()), 3000, 'refusal of 238 bytes');
  await byTestId(page, 'node-message').fill('Meet at the "hut" <b>now</b> é');
  await byTestId(page, 'send-to-node-button').click();
  await waitFor(async () => (await byTestId(page, 'send-result').textContent()) === 'acked', 5000, 'send-result acked');
  await waitFor(() => outside.received.length === 1, 3000, 'downlink at the broker');
  assert.equal(outside.received[0].topic, 'msh/US/2/json/mqtt/');
  assert.equal(outside.received[0].qos, 1);
  assert.equal(outside.received[0].payload,
    '{"from":3663385964,"to":2712847316,"channel":0,"type":"sendtext","payload":"Meet at the \\"hut\\" <b>now</b> é"}');
  await outside.endAsync();
});

test('a payload of HTML is shown as text and runs no script', async () => {
  const page = await openApp(browser, pageUrl('&sub=e2e/xss'));
  let dialogs = 0;
  page.on('dialog', (d) => { dialogs += 1; d.dismiss(); });
  await waitForStatus(page, 'connected');
  await page.locator('[data-testid="subscription"][data-state="active"]').waitFor({ timeout: 5000 });
  const outside = await outsideClient();
  const evil = '<img src=x onerror=alert(1)><script>alert(2)</script>';
  await outside.publishAsync('e2e/xss', evil);
  const message = page.locator('[data-testid="message"][data-topic="e2e/xss"]');
  await message.waitFor({ timeout: 5000 });
  assert.ok((await message.textContent()).includes(evil));
  // The same in a large JSON payload: its preview is laid out by punctuation, its rest
  // fetched from the session's thread; both are text.
  await outside.publishAsync('e2e/xss', JSON.stringify({ html: evil, pad: 'p'.repeat(2000) }));
  const held = page.locator('[data-testid="message"][data-topic="e2e/xss"]').first();
  await waitFor(async () => (await held.textContent()).includes(`"html": "${evil}"`), 5000, 'the held preview');
  await held.locator('.show-all').click();
  await waitFor(async () => (await held.locator('.msg-payload').textContent()).includes('ppp"'), 5000, 'the whole');
  assert.ok((await held.locator('.msg-payload').textContent()).includes(`"html": "${evil}"`));
  assert.equal(await page.locator('.messages img, .messages script').count(), 0);
  await sleep(300);
  assert.equal(dialogs, 0);
  await outside.endAsync();
});

test('the password is kept out of localStorage unless "remember" is ticked', async () => {
  const page = await openApp(browser, `${site.url}?broker=${encodeURIComponent(broker.wsUrl)}`);
  await byTestId(page, 'password').fill('pw-not-for-storage');
  await byTestId(page, 'username').fill('alice');
  await byTestId(page, 'connect-button').click();
  await waitForStatus(page, 'connected');
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
  assert.match(stored, /alice/, 'the profile is saved');
  assert.doesNotMatch(stored, /pw-not-for-storage/);
  await byTestId(page, 'remember-password').check();
  await byTestId(page, 'connect-button').click();
  await waitForStatus(page, 'connected');
  assert.match(await page.evaluate(() => JSON.stringify({ ...localStorage })), /pw-not-for-storage/);
  await page.reload();
  assert.equal(await byTestId(page, 'password').inputValue(), 'pw-not-for-storage', 'a remembered password is restored');
});

test('3,000 messages stay scrollable to the oldest with a few dozen rows in the page; rows show whole lines and "show all" opens one in full', async () => {
  const page = await appSubscribed('&sub=long%2F%23');
  const outside = await outsideClient();
  const big = 'y'.repeat(2000);
  const json = '{"temperature":21.5,"unit":"C","site":"north-field","sensor":"probe-7","battery":88,"rssi":-71}';
  const small = '{"t":1,\n "u":"C"}';
  const payload = (n) => (n === 0 ? `first ${big} end` : n === 2999 ? json : n === 2998 ? small : `n=${n}`);
  for (let n = 0; n < 3000; n++) outside.publish(`long/${n % 40}`, payload(n));
  await outside.endAsync();
  // All kept, and their burst over: while it lasts the list holds only the newest rows.
  await waitFor(async () => {
    const hint = await page.locator('.hint').first().textContent();
    return /3000 kept of 3000 received/.test(hint) && !/flood/.test(hint);
  }, 15000, 'all 3,000 kept, the burst over');
  const rendered = () => page.locator('[data-testid="message"]').count();
  await waitFor(async () => (await page.locator('ol.messages.windowed').count()) === 1, 8000, 'a windowed list');
  assert.ok(await rendered() < 60, `${await rendered()} message rows in the page`);
  const domNodes = await page.evaluate(() => document.getElementsByTagName('*').length);
  assert.ok(domNodes < 3000, `${domNodes} DOM nodes for 3,000 messages`);
  // A fixed-height row shows whole lines of its payload, none cut through, and the box is
  // not cut by the row. JSON shows there as it came; the newest needs more than two lines
  // at the narrowest width and offers the rest, pretty-printed.
  const newest = page.locator('[data-testid="message"]').first();
  const box = await newest.evaluate((li) => {
    const pre = li.querySelector('.msg-payload'), style = getComputedStyle(pre);
    const text = pre.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    return { lines: text / parseFloat(style.lineHeight), bottom: pre.getBoundingClientRect().bottom, rowBottom: li.getBoundingClientRect().bottom };
  });
  assert.ok(Math.abs(box.lines - Math.round(box.lines)) < 0.05 && Math.round(box.lines) >= 2, `the payload box shows ${box.lines.toFixed(2)} lines`);
  assert.ok(box.bottom <= box.rowBottom, `the payload box (bottom ${box.bottom}) is cut by its row (${box.rowBottom})`);
  assert.equal(await newest.locator('.msg-payload').textContent(), json);
  const second = page.locator('[data-testid="message"]').nth(1);
  assert.equal(await second.locator('.msg-payload').textContent(), small);
  assert.equal(await second.locator('.show-all').count(), 0, 'a two-line payload needs no "show all"');
  await newest.locator('.show-all').click();
  await waitFor(async () => (await byTestId(page, 'message-detail').locator('.msg-payload').textContent().catch(() => '')).includes('"unit": "C"'), 3000, 'the JSON in full');
  await byTestId(page, 'message-detail').getByRole('button', { name: 'Close' }).click();
  // Scrolled to the bottom, the oldest message is there (the list is not cut at a row cap).
  await page.locator('ol.messages').evaluate((ol) => { ol.scrollTop = ol.scrollHeight; });
  const oldest = page.locator('[data-testid="message"]').last();
  await waitFor(async () => (await oldest.locator('.msg-payload').textContent()).startsWith('first '), 5000, 'the oldest row');
  assert.ok(await rendered() < 60);
  await oldest.locator('.show-all').click();
  const detail = byTestId(page, 'message-detail');
  await waitFor(async () => (await detail.count()) === 1, 3000, 'the message in full');
  // Over 1 KiB, its rest was held by the session's thread: it comes once opened.
  await waitFor(async () => (await detail.locator('.msg-payload').textContent()) === `first ${big} end`, 3000, 'the rest of the payload');
  await detail.getByRole('button', { name: 'Close' }).click();
  assert.equal(await detail.count(), 0);
  assert.deepEqual(panics(page), []);
  await page.context().close();
});

test('a large payload crosses to the page as a preview: "show all" and the export bring the whole from the session', async () => {
  const page = await appSubscribed('&sub=large%2F%23');
  const outside = await outsideClient();
  // 10 KiB of JSON.
  const whole = JSON.stringify({ samples: Array.from({ length: 2000 }, (_, i) => i * 7), last: 'the end' });
  await outside.publishAsync('large/blob', whole);
  const row = page.locator('[data-testid="message"][data-topic="large/blob"]');
  await row.waitFor({ timeout: 5000 });
  assert.equal(await row.locator('.show-all').textContent(), `cut: ${whole.length} bytes, show all`);
  // The start of the document, laid out as JSON though it is cut (in its own key order).
  const preview = await row.locator('.msg-payload').textContent();
  assert.ok(preview.startsWith('{\n  "samples": [\n    0,\n    7,') && !preview.includes('the end'), `preview: ${preview.slice(0, 80)}…`);
  assert.equal(await row.locator('.msg-format').textContent(), 'json');
  assert.ok((await row.locator('.msg-meta').textContent()).endsWith(`${(whole.length / 1024).toFixed(1)} KiB`), 'the whole size, not the preview\'s');
  await row.locator('.show-all').click();
  await waitFor(async () => /"last": "the end"/.test(await row.locator('.msg-payload').textContent()), 5000, 'the whole payload, pretty-printed');
  // Another one, not opened: the export fetches it.
  const second = whole.replace('the end', 'second');
  await outside.publishAsync('large/blob2', second);
  await page.locator('[data-testid="message"][data-topic="large/blob2"]').waitFor({ timeout: 5000 });
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export JSON' }).click();
  const exported = JSON.parse(readFileSync(await (await download).path(), 'utf8'));
  const byTopic = Object.fromEntries(exported.map((m) => [m.topic, m]));
  assert.equal(byTopic['large/blob'].payload, whole);
  assert.equal(byTopic['large/blob2'].payload, second);
  assert.equal(byTopic['large/blob2'].size, second.length);
  assert.equal(byTopic['large/blob2'].payload_incomplete, undefined);
  await outside.endAsync();
  assert.deepEqual(panics(page), []);
  await page.context().close();
});

test('a device status larger than a preview still feeds the device list', async () => {
  const page = await appSubscribed('&sub=devices%2F%23');
  const outside = await outsideClient();
  await outside.publishAsync('devices/big-1/status', JSON.stringify({ status: 'online', battery_level: 64, note: 'n'.repeat(3000) }));
  await outside.endAsync();
  const device = page.locator('[data-testid="device"][data-device-id="big-1"]');
  await device.waitFor({ timeout: 5000 });
  assert.equal(await attr(device, 'data-online'), 'true');
  assert.match(await device.textContent(), /64/);
  assert.deepEqual(panics(page), []);
  await page.context().close();
});

test('a long device list shows whole readings in fixed rows, and "show all" shows a device in full', async () => {
  const page = await appSubscribed('&sub=%23');
  const outside = await outsideClient();
  for (let i = 1; i <= 120; i++) await outside.publishAsync(`devices/dev-${String(i).padStart(3, '0')}/status`, 'online');
  await waitFor(async () => (await byTestId(page, 'device-count').textContent()) === '120 devices', 10000, 'the first devices listed');
  const kinds = ['temperature', 'humidity', 'pressure', 'battery', 'co2', 'voltage', 'rssi'];
  // Heard last, so listed first (a batch of messages shares one time: wait for it). Its id is part of dev-100 to dev-120's, which "show all"
  // must leave out.
  for (const [i, kind] of kinds.entries()) await outside.publishAsync(`sensors/dev-1/${kind}`, String(20 + i));
  await outside.endAsync();
  await waitFor(async () => (await byTestId(page, 'device-count').textContent()) === '121 devices', 10000, 'all devices listed');
  await waitFor(async () => (await page.locator('ul.devices.windowed').count()) === 1, 5000, 'a windowed device list');
  const row = page.locator('[data-device-id="dev-1"]');
  await row.scrollIntoViewIfNeeded();
  // Every reading in sight is whole and on its own, and nothing spills out of the row.
  const seen = await row.evaluate((li) => {
    const box = li.querySelector('.readings').getBoundingClientRect(), rowBox = li.getBoundingClientRect();
    const shown = [...li.querySelectorAll('.reading')].map((r) => r.getBoundingClientRect()).filter((r) => r.bottom > box.top && r.top < box.bottom);
    return {
      shown: shown.length,
      whole: shown.every((r) => r.height >= 14 && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5),
      apart: shown.every((a, i) => shown.every((b, j) => i === j || a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top)),
      inside: [...li.children].every((c) => c.getBoundingClientRect().bottom <= rowBox.bottom + 0.5),
    };
  });
  assert.ok(seen.shown >= 1 && seen.whole && seen.apart && seen.inside, `readings in the fixed row: ${JSON.stringify(seen)}`);
  assert.equal(await page.locator('[data-device-id="dev-120"] .show-all').count(), 0, 'a device with no readings needs no "show all"');
  await row.locator('.show-all').click();
  await waitFor(async () => (await byTestId(page, 'device-count').textContent()) === '1 of 121 devices', 3000, 'the device alone');
  assert.equal(await byTestId(page, 'device-filter').inputValue(), '=dev-1');
  const readings = () => row.locator('.reading').evaluateAll((rs) => rs.filter((r) => r.getBoundingClientRect().height >= 14).map((r) => r.querySelector('.reading-key').textContent).sort().join());
  await waitFor(async () => (await readings()) === [...kinds].sort().join(), 3000, 'all seven readings');
  assert.deepEqual(panics(page), []);
  await page.context().close();
});

test('the device Find box ignores case in any script', async () => {
  const page = await appSubscribed('&sub=devices%2F%23');
  const outside = await outsideClient();
  await outside.publishAsync('devices/Москва-1/status', 'online');
  await outside.publishAsync('devices/moskva-2/status', 'online');
  await outside.endAsync();
  await waitFor(async () => (await byTestId(page, 'device-count').textContent()) === '2 devices', 5000, 'both devices');
  await byTestId(page, 'device-filter').fill('МОСКВА');
  await waitFor(async () => (await byTestId(page, 'device-count').textContent()) === '1 of 2 devices', 3000, 'one found');
  assert.deepEqual(await page.locator('[data-testid="device"]').evaluateAll((ls) => ls.map((l) => l.dataset.deviceId)), ['Москва-1']);
  assert.deepEqual(panics(page), []);
  await page.context().close();
});

test('the topic tree shows each topic\'s last value on one line, as text; its branches close; a topic shows its messages', async () => {
  const page = await appSubscribed('&sub=plant%2F%23');
  const outside = await outsideClient();
  await outside.publishAsync('plant/a/temp', '21.5');
  await outside.publishAsync('plant/a/temp', '22.0');
  await outside.publishAsync('plant/b/raw', Buffer.from([0, 1, 0xfe]));
  await outside.publishAsync('plant/c/json', '{"t": 21.5,\n "u": "C"}');
  await outside.publishAsync('plant/d/html', '<img src=x onerror="window.pwned=1">');
  await outside.endAsync();
  await page.getByRole('tab', { name: 'Topic tree' }).click();
  const value = (topic) => page.locator(`[data-testid="topic-row"][data-topic="${topic}"] [data-testid="topic-value"]`).textContent();
  await waitFor(async () => (await page.locator('[data-testid="topic-row"]').count()) === 4, 5000, 'four topics');
  assert.equal(await value('plant/a/temp'), '22.0');
  assert.equal(await value('plant/b/raw'), '00 01 fe');
  assert.equal(await value('plant/c/json'), '{"t": 21.5,  "u": "C"}');
  assert.equal(await value('plant/d/html'), '<img src=x onerror="window.pwned=1">');
  assert.equal(await page.locator('.topics img').count(), 0, 'a payload is never markup');
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  // A branch closes and opens with a click on its name; closed, it says what it holds.
  const branch = page.locator('[data-testid="topic-branch"][data-path="plant"]');
  await branch.locator('button').click();
  await waitFor(async () => (await page.locator('[data-testid="topic-row"]').count()) === 0, 3000, 'the branch closed');
  assert.equal(await branch.locator('button').getAttribute('aria-expanded'), 'false');
  assert.match(await branch.textContent(), /plant\/\s*4 topics/);
  await branch.locator('button').click();
  await waitFor(async () => (await page.locator('[data-testid="topic-row"]').count()) === 4, 3000, 'the branch open again');
  // A topic's name shows its messages.
  await page.locator('[data-testid="topic-row"][data-topic="plant/a/temp"] button').click();
  assert.equal(await page.getByRole('tab', { name: 'Messages' }).getAttribute('aria-selected'), 'true');
  assert.equal(await byTestId(page, 'message-filter').inputValue(), 'plant/a/temp');
  await waitFor(async () => (await page.locator('[data-testid="message"]').count()) === 2, 3000, 'the topic\'s two messages');
  assert.deepEqual(await page.locator('[data-testid="message"] .msg-payload').allTextContents(), ['22.0', '21.5']);
  // The list and its counts follow the messages at most every 250 ms.
  await waitFor(async () => /^2 match the filter · 5 kept of 5 received/.test(await page.locator('.hint').first().textContent()), 3000, 'the filter\'s count');
  assert.deepEqual(panics(page), []);
  await page.context().close();
});

test('a one-level topic picked in the tree shows its own messages, not those of topics that contain its name', async () => {
  const page = await appSubscribed('&sub=solo%2F%23');
  const outside = await outsideClient();
  // 'solo/#' also matches 'solo' itself.
  await outside.publishAsync('solo', 'first');
  await outside.publishAsync('solo/x', 'other');
  await outside.publishAsync('solo', 'second');
  await outside.endAsync();
  await page.getByRole('tab', { name: 'Topic tree' }).click();
  const row = page.locator('[data-testid="topic-row"][data-topic="solo"]');
  await row.waitFor({ timeout: 5000 });
  await row.locator('button').click();
  assert.equal(await byTestId(page, 'message-filter').inputValue(), '=solo');
  await waitFor(async () => /^2 match the filter · 3 kept of 3 received/.test(await page.locator('.hint').first().textContent()), 3000, 'the filter\'s count');
  assert.deepEqual(await page.locator('[data-testid="message"] .msg-payload').allTextContents(), ['second', 'first']);
  assert.deepEqual(panics(page), []);
  await page.context().close();
});

test('5,000 topics and 600 Meshtastic nodes keep the page to a few hundred elements on every tab', async () => {
  const page = await appSubscribed('&sub=%23');
  const outside = await outsideClient();
  const nodes = 600;
  for (let i = 0; i < 5000; i++) outside.publish(`many/${Math.floor(i / 100)}/${i}`, `{"v":${i}}`);
  for (let i = 0; i < nodes; i++) {
    const n = 0x20000000 + i;
    outside.publish('msh/US/2/json/LongFast/!da5ad56c', JSON.stringify({ channel: 0, from: n, id: i + 1, sender: '!da5ad56c', timestamp: Math.floor(Date.now() / 1000), to: 4294967295, type: 'nodeinfo', payload: { id: `!${n.toString(16)}`, longname: `Node ${i}`, shortname: `N${i}`, hardware: 'RAK4631' } }));
  }
  await outside.endAsync();
  await waitFor(async () => /^60[01] devices$/.test(await byTestId(page, 'device-count').textContent()), 15000, 'all nodes listed');
  const elements = () => page.evaluate(() => document.getElementsByTagName('*').length);
  assert.ok(await page.locator('[data-testid="device"]').count() < 40);
  assert.ok(await elements() < 1500, `${await elements()} elements on the messages tab`);
  // The node field suggests the most recently heard nodes, not all of them.
  assert.ok(await page.locator('#known-nodes option').count() <= 50);
  await page.getByRole('tab', { name: 'Topic tree' }).click();
  await waitFor(async () => (await page.locator('[data-testid="topic-row"]').count()) > 0, 5000, 'topic rows');
  assert.ok(await page.locator('[data-testid="topic-row"]').count() < 100);
  // In the long (windowed) tree the value gives way; the numbers are never cut.
  const cut = await page.locator('[data-testid="topic-row"] td.num').evaluateAll((cells) => cells.filter((c) => c.scrollWidth > c.clientWidth).map((c) => c.textContent));
  assert.deepEqual(cut, [], 'numbers cut in the topic tree');
  assert.match(await page.locator('[data-testid="topic-row"] [data-testid="topic-value"]').first().textContent(), /^\{"v":\d+\}$/);
  assert.ok(await elements() < 1500, `${await elements()} elements on the topic tree tab`);
  assert.deepEqual(panics(page), []);
  await page.context().close();
});

// Meshtastic protobuf through the built page against a real mosquitto. Every envelope the
// page receives is built and encrypted by an independent implementation (the Python
// `meshtastic` package's protobufs plus `cryptography`, tests/mesh/e2e_codec.py), and what
// the page sends is decoded by it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Mosquitto, serveDist, launchBrowser, openApp, byTestId, waitForStatus, panics, waitUntil, ROOT } from './lib.mjs';

const PYTHON = process.env.MESH_PYTHON ?? join(ROOT, 'target/mesh-venv/bin/python');
const CODEC = join(ROOT, 'tests/mesh/e2e_codec.py');
const NODE = 0x1a2b3c4d;
const GATEWAYS = [0x0000aaaa, 0x0000bbbb];
const ROOT_TOPIC = 'msh/EU_868/2/e/LongFast';

/** Envelopes (as Buffers) for packet specs, built by the independent implementation. */
function encode(specs) {
  const out = execFileSync(PYTHON, [CODEC, 'encode'], { input: specs.map((s) => JSON.stringify(s)).join('\n') });
  return out.toString().trim().split('\n').map((hex) => Buffer.from(hex, 'hex'));
}

/** What the independent implementation reads in an envelope, decrypted with `psk`. */
function decode(envelope, psk = 'AQ==') {
  const out = execFileSync(PYTHON, [CODEC, 'decode', psk], { input: envelope.toString('hex') });
  return JSON.parse(out.toString());
}

let site, browser, broker;
before(async () => {
  broker = await new Mosquitto().start();
  site = await serveDist();
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await site?.close(); await broker?.stop(); });

async function outsideClient() {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0 });
  client.received = [];
  client.on('message', (topic, payload) => client.received.push({ topic, payload }));
  return client;
}

async function openMeshPage(options = {}) {
  const page = await openApp(browser, `${site.url}?broker=${encodeURIComponent(broker.wsUrl)}&connect=1&sub=msh/%23`, options);
  await waitForStatus(page, 'connected');
  await page.locator('[data-testid="subscription"][data-state="active"]').waitFor({ timeout: 5000 });
  return page;
}

const packet = (id, portnum, payload, extra = {}) => ({
  channel: 'LongFast', psk: 'AQ==', from: NODE, to: 0xffffffff, id, hop_start: 3, hop_limit: 2,
  rx_time: Math.floor(Date.now() / 1000), portnum, payload, ...extra,
});

/** Publishes one packet as an envelope that the first gateway forwards. */
const publishViaFirstGateway = (outside, id, portnum, payload) =>
  outside.publishAsync(`${ROOT_TOPIC}/!0000aaaa`, encode([packet(id, portnum, payload, { gateway: GATEWAYS[0] })])[0]);

test('encrypted nodeinfo, position, telemetry and text through two gateways make one node and one text', async () => {
  const page = await openMeshPage();
  const outside = await outsideClient();
  const specs = [
    packet(101, 'NODEINFO_APP', { id: '!1a2b3c4d', long_name: 'Ridge Repeater', short_name: 'RDG', hw_model: 9, role: 2 }),
    packet(102, 'POSITION_APP', { latitude_i: 473977000, longitude_i: 85456000, altitude: 512 }),
    packet(103, 'TELEMETRY_APP', { device_metrics: { battery_level: 64, voltage: 3.91, channel_utilization: 7.5 } }),
    packet(104, 'TEXT_MESSAGE_APP', 'Hello from the ridge <b>!</b>'),
  ];
  const started = Date.now();
  for (const gateway of GATEWAYS) {
    const envelopes = encode(specs.map((s) => ({ ...s, gateway })));
    for (const envelope of envelopes) await outside.publishAsync(`${ROOT_TOPIC}/!${gateway.toString(16).padStart(8, '0')}`, envelope);
  }
  const node = page.locator('[data-testid="device"][data-device-id="!1a2b3c4d"]');
  await node.waitFor({ timeout: 5000 });
  await waitUntil(async () => /Ridge Repeater/.test(await node.textContent()) && /64/.test(await node.textContent()), 5000, 'long name and battery');
  const text = await node.textContent();
  assert.match(text, /RAK4631/);
  assert.match(text, /ROUTER/);
  assert.match(text, /latitude47\.39770 °/, 'latitude');
  assert.match(text, /hops_away1/, 'hops away from the second gateway');
  assert.match(text, /via !0000bbbb, !0000aaaa/);
  assert.equal(await page.locator('[data-testid="device"]').count(), 1, 'one node (gateways are not devices)');
  await page.getByRole('tab', { name: 'Mesh chat' }).click();
  const texts = byTestId(page, 'mesh-text');
  await texts.first().waitFor({ timeout: 5000 });
  await page.waitForTimeout(300);
  assert.equal(await texts.count(), 1, 'the text relayed by two gateways is shown once');
  assert.match(await texts.first().textContent(), /Hello from the ridge <b>!<\/b>/, 'shown as text, not HTML');
  assert.match(await texts.first().textContent(), /Ridge Repeater/, 'sender by name');
  console.log(`# mesh: 8 envelopes via 2 gateways -> 1 device, 1 text in ${Date.now() - started} ms`);
  await outside.endAsync();
  assert.deepEqual(panics(page), []);
});

test('garbage and wrong-key envelopes are counted per channel, not shown, and nothing breaks', async () => {
  const page = await openMeshPage();
  const outside = await outsideClient();
  const wrongKey = encode([packet(201, 'TEXT_MESSAGE_APP', 'secret', { channel: 'Hidden', psk: 'c2VjcmV0c2VjcmV0c2VjcmV0', gateway: GATEWAYS[0], key_for_encryption: 'AQ==' })]);
  await outside.publishAsync('msh/EU_868/2/e/LongFast/!0000aaaa', Buffer.from([0xff, 0x00, 0x13, 0x37, 0x0a, 0xff]));
  await outside.publishAsync('msh/EU_868/2/e/LongFast/!0000aaaa', Buffer.from('not protobuf at all'));
  for (let i = 0; i < 3; i++) await outside.publishAsync('msh/EU_868/2/e/LongFast/!0000aaaa', encode([packet(300 + i, 'TEXT_MESSAGE_APP', 'x', { gateway: GATEWAYS[0], key_for_encryption: 'AAECAwQFBgcICQoLDA0ODw==' })])[0]);
  await outside.publishAsync('msh/EU_868/2/e/Hidden/!0000aaaa', wrongKey[0]);
  await page.locator('summary', { hasText: 'Meshtastic node and channels' }).click();
  const longFast = page.locator('[data-testid="mesh-unreadable"][data-channel="LongFast"]');
  await waitUntil(async () => /3 packets could not be decrypted — wrong key\?/.test(await longFast.textContent().catch(() => '')), 5000, 'wrong-key count');
  assert.match(await longFast.textContent(), /2 messages were not a Meshtastic envelope/);
  await page.getByRole('tab', { name: 'Mesh chat' }).click();
  assert.equal(await byTestId(page, 'mesh-text').count(), 0);
  // Still working: a good text after the garbage arrives.
  await publishViaFirstGateway(outside, 401, 'TEXT_MESSAGE_APP', 'still here');
  await byTestId(page, 'mesh-text').first().waitFor({ timeout: 5000 });
  assert.equal(await byTestId(page, 'connection-status').textContent(), 'connected');
  await outside.endAsync();
  assert.deepEqual(panics(page), []);
});

test('a protobuf send is an envelope the independent decoder reads as our text, and an ACK shows acked', async () => {
  const page = await openMeshPage();
  const outside = await outsideClient();
  await outside.subscribeAsync('msh/EU_868/2/e/#', { qos: 1 });
  // Learn the region from traffic, as a user's page would.
  await publishViaFirstGateway(outside, 501, 'NODEINFO_APP', { id: '!1a2b3c4d', long_name: 'Ridge Repeater', short_name: 'RDG' });
  await page.locator('[data-testid="device"][data-device-id="!1a2b3c4d"]').waitFor({ timeout: 5000 });
  outside.received.length = 0;
  await page.locator('summary', { hasText: 'Meshtastic node and channels' }).click();
  const ownId = await byTestId(page, 'mesh-node-id').inputValue();
  assert.match(ownId, /^![0-9a-f]{8}$/);
  assert.equal(await byTestId(page, 'node-format').inputValue(), 'protobuf', 'protobuf is the default');
  await byTestId(page, 'node-target').fill('!1a2b3c4d');
  await byTestId(page, 'node-message').fill('Ack me, ridge é');
  const sentAt = Date.now();
  await byTestId(page, 'send-to-node-button').click();
  await waitUntil(async () => (await byTestId(page, 'send-result').textContent()) === 'sent', 5000, 'send-result sent');
  await waitUntil(() => outside.received.some((m) => m.topic === `${ROOT_TOPIC}/${ownId}`), 5000, 'our envelope at the broker');
  const ours = outside.received.find((m) => m.topic === `${ROOT_TOPIC}/${ownId}`);
  const read = decode(ours.payload);
  assert.equal(read.portnum, 'TEXT_MESSAGE_APP');
  assert.equal(read.text, 'Ack me, ridge é');
  assert.equal(read.to, NODE);
  assert.equal(read.from, parseInt(ownId.slice(1), 16));
  assert.equal(read.gateway_id, ownId);
  assert.equal(read.channel_id, 'LongFast');
  assert.equal(read.channel_hash_matches, true);
  assert.equal(read.want_ack, true);
  assert.equal(read.hop_limit, 3);
  assert.equal(read.hop_start, 3);
  assert.equal(read.bitfield & 1, 1, 'OK_TO_MQTT');
  assert.notEqual(read.id, 0);
  // The node answers with a routing ACK for our packet id, relayed by a gateway.
  const ack = encode([packet(502, 'ROUTING_APP', { error_reason: 0 }, { to: read.from, request_id: read.id, gateway: GATEWAYS[0] })])[0];
  await outside.publishAsync(`${ROOT_TOPIC}/!0000aaaa`, ack);
  await waitUntil(async () => (await byTestId(page, 'send-result').textContent()) === 'acked', 5000, 'send-result acked');
  console.log(`# mesh: send -> envelope decoded independently -> ACK -> acked in ${Date.now() - sentAt} ms`);
  // Our own text shows in the chat once.
  await page.getByRole('tab', { name: 'Mesh chat' }).click();
  await waitUntil(async () => (await byTestId(page, 'mesh-text').count()) === 1, 3000, 'our text in the chat');
  await outside.endAsync();
  assert.deepEqual(panics(page), []);
});

test('a direct send that no ACK answers says "no ack" once the mesh\'s minute is up', async () => {
  // The page's clock is Playwright's (it runs on, and can jump): the wait is a minute.
  const page = await openMeshPage({ beforeGoto: (p) => p.clock.install() });
  const outside = await outsideClient();
  await publishViaFirstGateway(outside, 601, 'NODEINFO_APP', { id: '!1a2b3c4d', long_name: 'Ridge Repeater', short_name: 'RDG' });
  await page.locator('[data-testid="device"][data-device-id="!1a2b3c4d"]').waitFor({ timeout: 5000 });
  await byTestId(page, 'node-target').fill('!1a2b3c4d');
  await byTestId(page, 'node-message').fill('Anyone there?');
  await byTestId(page, 'send-to-node-button').click();
  await waitUntil(async () => (await byTestId(page, 'send-result').textContent()) === 'sent', 5000, 'send-result sent');
  // Half the wait: still waiting.
  await page.clock.fastForward('00:30');
  await page.waitForTimeout(300);
  assert.equal(await byTestId(page, 'send-result').textContent(), 'sent');
  await page.clock.fastForward('00:31');
  await waitUntil(async () => (await byTestId(page, 'send-result').textContent()) === 'no ack', 5000, 'send-result no ack');
  assert.equal(await byTestId(page, 'connection-status').textContent(), 'connected');
  await outside.endAsync();
  assert.deepEqual(panics(page), []);
});

test('a named node announces itself on connect, the next visit too, without its settings being opened', async () => {
  const page = await openMeshPage();
  // Name our node and save it with the profile.
  await page.locator('summary', { hasText: 'Meshtastic node and channels' }).click();
  const ownId = await byTestId(page, 'mesh-node-id').inputValue();
  await byTestId(page, 'mesh-long-name').fill('Browser Base');
  await byTestId(page, 'mesh-short-name').fill('BB');
  await byTestId(page, 'mesh-apply').click();
  // Next visit: the section starts closed, and on connect our node announces itself.
  const outside = await outsideClient();
  await outside.subscribeAsync('msh/+/2/e/#', { qos: 1 });
  await page.reload(); // the linked broker is now the saved one: no confirmation asked
  await waitForStatus(page, 'connected');
  const ours = () => outside.received.find((m) => m.topic.endsWith(`/LongFast/${ownId}`));
  await waitUntil(() => ours() !== undefined, 5000, 'our NodeInfo at the broker');
  const read = decode(ours().payload);
  assert.equal(read.portnum, 'NODEINFO_APP');
  assert.equal(read.from, parseInt(ownId.slice(1), 16));
  assert.equal(read.to, 0xffffffff);
  assert.equal(read.user.long_name, 'Browser Base');
  assert.equal(read.user.short_name, 'BB');
  await outside.endAsync();
  assert.deepEqual(panics(page), []);
});

test('what the user is typing in the node settings stays while mesh traffic arrives', async () => {
  const page = await openMeshPage();
  await page.locator('summary', { hasText: 'Meshtastic node and channels' }).click();
  await byTestId(page, 'mesh-long-name').fill('Half typed');
  await byTestId(page, 'mesh-short-name').fill('HT');
  // Traffic that changes the mesh state (a text for the chat) while the form is unsaved.
  const outside = await outsideClient();
  await publishViaFirstGateway(outside, 601, 'TEXT_MESSAGE_APP', 'busy mesh');
  await byTestId(page, 'mesh-text').first().waitFor({ state: 'attached', timeout: 5000 });
  await page.waitForTimeout(300);
  assert.equal(await byTestId(page, 'mesh-long-name').inputValue(), 'Half typed');
  assert.equal(await byTestId(page, 'mesh-short-name').inputValue(), 'HT');
  await outside.endAsync();
  assert.deepEqual(panics(page), []);
});

test('a Meshtastic JSON text shows in the mesh chat once, though two gateways forward it', async () => {
  const page = await openMeshPage();
  const outside = await outsideClient();
  const uplink = (gateway) => JSON.stringify({ channel: 0, from: NODE, id: 901, sender: gateway, timestamp: Math.floor(Date.now() / 1000), to: 0xffffffff, type: 'text', payload: { text: 'json <b>hello</b> é' } });
  for (const gateway of ['!0000aaaa', '!0000bbbb']) await outside.publishAsync(`msh/EU_868/2/json/LongFast/${gateway}`, uplink(gateway));
  await page.getByRole('tab', { name: 'Mesh chat' }).click();
  await byTestId(page, 'mesh-text').first().waitFor({ timeout: 5000 });
  await page.waitForTimeout(500);
  assert.equal(await byTestId(page, 'mesh-text').count(), 1);
  assert.match(await byTestId(page, 'mesh-text').first().textContent(), /json <b>hello<\/b> é/, 'shown as text');
  await outside.endAsync();
  assert.deepEqual(panics(page), []);
});

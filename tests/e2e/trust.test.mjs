// Trust: a link or a file must not be able to take the user's credentials. The attack is
// tried as a user would meet it: a remembered password for the real broker, then a link to
// another broker (a loopback WebSocket listener that records whatever CONNECT it gets).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';
import { Mosquitto, serveDist, launchBrowser, openApp, byTestId, waitForStatus, waitUntil, freePort, panics, sleep } from './lib.mjs';

const USER = 'alice';
const SECRET = 'pw-remembered-for-the-real-broker';

/** A WebSocket listener speaking the `mqtt` subprotocol that records every frame. */
async function recorder() {
  const port = await freePort();
  const server = new WebSocketServer({ host: '127.0.0.1', port, handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false) });
  const rec = { url: `ws://127.0.0.1:${port}/mqtt`, connections: 0, openNow: 0, frames: [] };
  server.on('connection', (socket) => {
    rec.connections += 1;
    rec.openNow += 1;
    socket.on('close', () => { rec.openNow -= 1; });
    socket.on('message', (data) => rec.frames.push(Buffer.from(data)));
  });
  await new Promise((r) => server.once('listening', r));
  rec.close = () => new Promise((r) => { for (const c of server.clients) c.terminate(); server.close(r); });
  return rec;
}

/** The CONNECT flags byte (MQTT 3.1.1: after the fixed header and the 6-byte protocol name, the level). */
function connectFlags(frame) {
  assert.equal(frame[0], 0x10, 'the first frame is a CONNECT');
  let i = 1;
  while (frame[i] & 0x80) i += 1;
  return frame[i + 1 + 6 + 1];
}

let site, browser, broker, evil;
before(async () => {
  broker = await new Mosquitto().start();
  evil = await recorder();
  site = await serveDist();
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await site?.close(); await evil?.close(); await broker?.stop(); });

/** A browser context whose profile remembers alice's password for the real broker. */
async function userWithRememberedPassword() {
  const page = await openApp(browser, `${site.url}?broker=${encodeURIComponent(broker.wsUrl)}`);
  await byTestId(page, 'username').fill(USER);
  await byTestId(page, 'password').fill(SECRET);
  await byTestId(page, 'remember-password').check();
  await byTestId(page, 'connect-button').click();
  await waitForStatus(page, 'connected');
  assert.match(await page.evaluate(() => JSON.stringify({ ...localStorage })), new RegExp(SECRET), 'the password is remembered');
  return page;
}

test('a link to another broker with connect=1 asks first and never sends the remembered credentials', async () => {
  const own = await userWithRememberedPassword();
  // The saved broker connects at once from a link, with its credentials filled in.
  const saved = await own.context().newPage();
  await saved.goto(`${site.url}?connect=1`);
  await waitForStatus(saved, 'connected');
  assert.equal(await byTestId(saved, 'password').inputValue(), SECRET);
  assert.equal(await byTestId(saved, 'confirm-connect').count(), 0, 'no question for the saved broker');

  const page = await own.context().newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(`${site.url}?broker=${encodeURIComponent(evil.url)}&connect=1`);
  await byTestId(page, 'confirm-connect').waitFor();
  assert.equal(await byTestId(page, 'confirm-connect-url').textContent(), evil.url, 'the prompt names the linked broker');
  assert.equal(await byTestId(page, 'username').inputValue(), '', 'no stored username for another broker');
  assert.equal(await byTestId(page, 'password').inputValue(), '', 'no stored password for another broker');
  await sleep(1500);
  assert.equal(evil.connections, 0, 'nothing is sent before the user confirms');
  assert.equal(await byTestId(page, 'connection-status').textContent(), 'disconnected');

  await byTestId(page, 'confirm-connect-yes').click();
  await waitUntil(() => evil.frames.length > 0, 5000, 'a CONNECT at the linked broker after confirming');
  const connect = evil.frames[0];
  const flags = connectFlags(connect);
  assert.equal(flags & 0xc0, 0, `no username or password flag in CONNECT (flags ${flags.toString(16)})`);
  for (const frame of evil.frames) {
    assert.ok(!frame.includes(USER), 'the username never reaches the linked broker');
    assert.ok(!frame.includes(SECRET), 'the password never reaches the linked broker');
  }
  assert.deepEqual(panics(page), []);

  await own.context().close();
});

test('MQTT 5 connect user properties saved for one broker never reach a broker a link names', async () => {
  const token = 'connect-prop-token-for-the-real-broker';
  const own = await openApp(browser, `${site.url}?broker=${encodeURIComponent(broker.wsUrl)}&protocol=5`);
  await byTestId(own, 'connect-user-properties').fill(`token=${token}`);
  await byTestId(own, 'connect-button').click();
  await waitForStatus(own, 'connected');
  assert.match(await own.evaluate(() => JSON.stringify({ ...localStorage })), new RegExp(token), 'kept for the saved broker');

  const page = await own.context().newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  const seen = evil.frames.length;
  await page.goto(`${site.url}?broker=${encodeURIComponent(evil.url)}&connect=1`);
  await byTestId(page, 'confirm-connect').waitFor();
  assert.equal(await byTestId(page, 'connect-user-properties').inputValue(), '', 'not filled in for another broker');
  await byTestId(page, 'confirm-connect-yes').click();
  await waitUntil(() => evil.frames.length > seen, 5000, 'a CONNECT at the linked broker after confirming');
  assert.equal(evil.frames[seen][0], 0x10, 'the first frame is a CONNECT');
  for (const frame of evil.frames.slice(seen)) assert.ok(!frame.includes(token), 'the saved user property never reaches the linked broker');
  assert.deepEqual(panics(page), []);
  await own.context().close();
});

test('the socket to the saved broker opens while the UI loads, is the one the session uses, and is closed if unused', async () => {
  const saved = await recorder();
  try {
    const context = await browser.newContext();
    await context.addInitScript((url) => localStorage.setItem('mqtt-web.profile', JSON.stringify({ broker_url: url })), saved.url);
    // The module never arrives: only the page's loader runs, and it opens the socket. (The
    // pattern must match the module's file, or the app loads and connects on that socket.)
    const blocked = await context.newPage();
    let moduleRequests = 0;
    await blocked.route(/mqtt-web-[0-9a-f]+_bg\.wasm(\.gz)?$/, (route) => { moduleRequests++; return route.abort(); });
    await blocked.goto(`${site.url}?connect=1`);
    await waitUntil(() => saved.connections === 1, 5000, 'a socket to the saved broker before the UI is up');
    await byTestId(blocked, 'load-error').waitFor();
    assert.equal(moduleRequests, 1, 'the module was asked for, and refused');
    assert.equal(saved.frames.length, 0, 'nothing is sent on it until the session connects');
    // Nobody asks for it: it is closed after a few seconds (the server sees it go).
    await waitUntil(() => saved.openNow === 0, 15000, 'the unused socket closed');
    await blocked.close();

    // With the UI: one socket in all, and the CONNECT goes on it.
    const before = saved.connections;
    const page = await context.newPage();
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(String(e)));
    await page.goto(`${site.url}?connect=1`);
    await waitUntil(() => saved.frames.length > 0, 8000, 'a CONNECT at the saved broker');
    assert.equal(saved.frames[0][0], 0x10, 'the first frame is a CONNECT');
    await sleep(500);
    assert.equal(saved.connections - before, 1, 'the preconnected socket is the session\'s (no second socket)');
    assert.deepEqual(panics(page), []);
    await context.close();
  } finally {
    await saved.close();
  }
});

test('a remembered password is not sent to a broker typed over the saved one', async () => {
  const page = await userWithRememberedPassword();
  const before = evil.frames.length;
  await byTestId(page, 'broker-url').fill(evil.url);
  await byTestId(page, 'connect-button').click();
  await waitUntil(async () => /remembered password belongs to/.test(await page.locator('.form-error').textContent()), 3000, 'the refusal');
  assert.equal(await byTestId(page, 'password').inputValue(), '', 'the password field is cleared');
  await sleep(500);
  assert.equal(evil.frames.length, before, 'nothing went to the other broker');
  await page.context().close();
});

test('an exported profile holds the password only when "include password" is ticked', async () => {
  const page = await userWithRememberedPassword();
  const exported = async () => {
    const download = page.waitForEvent('download');
    await byTestId(page, 'export-profile').click();
    return readFileSync(await (await download).path(), 'utf8');
  };
  const plain = await exported();
  assert.match(plain, new RegExp(USER));
  assert.doesNotMatch(plain, new RegExp(SECRET));
  await byTestId(page, 'export-include-password').check();
  assert.match(await exported(), new RegExp(SECRET));
  await page.context().close();
});

test('an oversize profile file is refused with the reason, and the form keeps its values', async () => {
  const page = await openApp(browser, `${site.url}?broker=${encodeURIComponent(broker.wsUrl)}`);
  await byTestId(page, 'client-id').fill('kept-client');
  const huge = Buffer.from(JSON.stringify({ client_id: 'x'.repeat(1100 * 1024) }));
  await byTestId(page, 'import-profile').setInputFiles({ name: 'huge.json', mimeType: 'application/json', buffer: huge });
  await waitUntil(async () => /at most 1024 KiB/.test(await page.locator('.form-error').textContent()), 3000, 'the size refusal');
  assert.equal(await byTestId(page, 'client-id').inputValue(), 'kept-client');
  const many = { subscriptions: Array.from({ length: 5000 }, (_, i) => ({ filter: `t/${i}`, qos: 0 })) };
  await byTestId(page, 'import-profile').setInputFiles({ name: 'many.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(many)) });
  await waitUntil(async () => /5000 subscriptions; the first 256 were kept/.test(await page.locator('.form-error').textContent()), 3000, 'the cap notice');
  assert.deepEqual(panics(page), []);
  await page.context().close();
});

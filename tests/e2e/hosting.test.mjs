// dist/ served by mosquitto's own http_dir (same port as the WebSocket, no
// Content-Type headers) loads and connects with no broker parameter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Mosquitto, DIST, launchBrowser, openApp, byTestId, waitForStatus, panics, freePort, releaseModule, releaseModuleFile } from './lib.mjs';

test('the page served by mosquitto http_dir connects to its own origin with no settings', async () => {
  const broker = await new Mosquitto({ extra: `http_dir ${DIST}` }).start();
  const browser = await launchBrowser();
  try {
    const origin = `http://127.0.0.1:${broker.wsPort}/`;
    const page = await openApp(browser, origin);
    await byTestId(page, 'broker-url').waitFor({ timeout: 10000 });
    assert.equal(await byTestId(page, 'broker-url').inputValue(), `ws://127.0.0.1:${broker.wsPort}/mqtt`);
    await byTestId(page, 'connect-button').click();
    await waitForStatus(page, 'connected');
    assert.equal(await page.locator('[data-session-thread]').getAttribute('data-session-thread'), 'worker',
      'the session runs in the worker started from Blob URLs');
    // http_dir compresses nothing: the module crossed the wire in the gzip it is stored in.
    const module = await page.evaluate(() => performance.getEntriesByType('resource')
      .filter((e) => /_bg\.wasm/.test(e.name)).map((e) => ({ name: e.name, bytes: e.encodedBodySize })));
    assert.equal(module.length, 1, JSON.stringify(module));
    assert.ok(module[0].bytes < releaseModule().length * 0.5,
      `the module took ${module[0].bytes} bytes to download; unpacked it is ${releaseModule().length}`);
    assert.deepEqual(panics(page), []);
  } finally {
    await browser.close();
    await broker.stop();
  }
});

/** Serves dist/ on a free port, `headersFor(path)` giving each file's headers (null: a 404). */
async function serveDistWith(headersFor) {
  const sent = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = join(DIST, path === '/' ? 'index.html' : path);
    const headers = headersFor(file);
    if (!headers || !file.startsWith(DIST) || !existsSync(file) || statSync(file).isDirectory()) { res.writeHead(404); res.end(); return; }
    sent.push(path);
    res.writeHead(200, headers);
    res.end(readFileSync(file));
  });
  const port = await freePort();
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${port}/`, sent, close: () => server.close() };
}

const HTML = { 'content-type': 'text/html; charset=utf-8' };

test('a server that sends the stored module with Content-Encoding: gzip (as many do for .gz files) works too', async () => {
  const broker = await new Mosquitto().start();
  const moduleFile = releaseModuleFile();
  const site = await serveDistWith((file) => file.endsWith('.gz')
    ? { 'content-type': 'application/wasm', 'content-encoding': 'gzip' } : HTML);
  const browser = await launchBrowser();
  try {
    const page = await openApp(browser, `${site.url}?broker=${encodeURIComponent(broker.wsUrl)}`);
    await byTestId(page, 'connect-button').click();
    await waitForStatus(page, 'connected');
    assert.ok(site.sent.includes(`/${moduleFile}`), `the page fetched ${site.sent.join(', ')}`);
    assert.deepEqual(panics(page), []);
  } finally {
    await browser.close();
    site.close();
    await broker.stop();
  }
});

test('a page whose module cannot be had says why in words instead of staying blank', async () => {
  const browser = await launchBrowser();
  // The server has lost the module: its 404.
  const lost = await serveDistWith((file) => (file.endsWith('.gz') ? null : HTML));
  // A browser without DecompressionStream (Safari before 16.4, Firefox before 113).
  const plain = await serveDistWith(() => HTML);
  try {
    const page = await openApp(browser, lost.url);
    const error = page.getByTestId('load-error');
    await error.waitFor({ timeout: 10000 });
    assert.match(await error.textContent(), /^MQTT Web could not start: the app could not be loaded: HTTP 404 for http:\/\/127\.0\.0\.1:\d+\/.*_bg\.wasm\.gz$/);

    const old = await openApp(browser, plain.url, { beforeGoto: (p) => p.addInitScript('delete globalThis.DecompressionStream;') });
    const said = old.getByTestId('load-error');
    await said.waitFor({ timeout: 10000 });
    assert.equal(await said.textContent(), 'MQTT Web could not start: this browser cannot unpack the app (it has no DecompressionStream)');

    // A server (a captive portal, a proxy) that answers 200 with something else than the
    // module: a page of markup, or the module cut short. The reason is shown as text.
    const stored = readFileSync(join(DIST, releaseModuleFile()));
    for (const [what, body] of [
      ['a page of markup', '<h1>Sign in</h1><img src=x onerror="window.pwned = 1">'],
      ['the module cut short', stored.subarray(0, 4096)],
    ]) {
      const hostile = await openApp(browser, plain.url, {
        beforeGoto: (p) => p.route(/_bg\.wasm\.gz$/, (route) => route.fulfill({ status: 200, contentType: 'application/octet-stream', body })),
      });
      const reason = hostile.getByTestId('load-error');
      await reason.waitFor({ timeout: 10000 });
      assert.match(await reason.textContent(), /^MQTT Web could not start: \S/, what);
      assert.equal(await hostile.locator('img, h1').count(), 0, `${what}: nothing of it became markup`);
      assert.equal(await hostile.evaluate(() => window.pwned), undefined, what);
      console.log(`${what}: ${await reason.textContent()}`);
    }
  } finally {
    await browser.close();
    lost.close();
    plain.close();
  }
});

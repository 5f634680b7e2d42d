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

test('a server that sends the stored module with Content-Encoding: gzip (as many do for .gz files) works too', async () => {
  const broker = await new Mosquitto().start();
  const moduleFile = releaseModuleFile();
  const sent = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = join(DIST, path === '/' ? 'index.html' : path);
    if (!file.startsWith(DIST) || !existsSync(file) || statSync(file).isDirectory()) { res.writeHead(404); res.end(); return; }
    const headers = file.endsWith('.gz')
      ? { 'content-type': 'application/wasm', 'content-encoding': 'gzip' }
      : { 'content-type': 'text/html; charset=utf-8' };
    sent.push(path);
    res.writeHead(200, headers);
    res.end(readFileSync(file));
  });
  const port = await freePort();
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  const browser = await launchBrowser();
  try {
    const page = await openApp(browser, `http://127.0.0.1:${port}/?broker=${encodeURIComponent(broker.wsUrl)}`);
    await byTestId(page, 'connect-button').click();
    await waitForStatus(page, 'connected');
    assert.ok(sent.includes(`/${moduleFile}`), `the page fetched ${sent.join(', ')}`);
    assert.deepEqual(panics(page), []);
  } finally {
    await browser.close();
    server.close();
    await broker.stop();
  }
});

// dist/ served by mosquitto's own http_dir (same port as the WebSocket, no
// Content-Type headers) loads and connects with no broker parameter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mosquitto, DIST, launchBrowser, openApp, byTestId, waitForStatus, panics } from './lib.mjs';

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
    assert.deepEqual(panics(page), []);
  } finally {
    await browser.close();
    await broker.stop();
  }
});

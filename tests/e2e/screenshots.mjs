// Takes screenshots of the release build connected to a local mosquitto fed by the demo
// publisher, in light and dark: `node tests/e2e/screenshots.mjs <demo-publisher binary> <out dir>`.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { Mosquitto, serveDist, launchBrowser, openApp, waitForStatus, sleep, byTestId } from './lib.mjs';

const [demoBinary, outDir = 'screenshots'] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const broker = await new Mosquitto().start();
const demo = spawn(demoBinary, ['--host', '127.0.0.1', '--port', String(broker.tcpPort), '--interval-ms', '300'], { stdio: 'ignore' });
const site = await serveDist();
const browser = await launchBrowser();
try {
  for (const scheme of ['light', 'dark']) {
    const page = await openApp(browser, `${site.url}?broker=${encodeURIComponent(broker.wsUrl)}&sub=%23&connect=1`, { colorScheme: scheme });
    await waitForStatus(page, 'connected');
    await sleep(3500);
    await page.screenshot({ path: `${outDir}/app-${scheme}.png`, fullPage: false });
    await page.getByRole('tab', { name: 'Topic tree' }).click();
    await sleep(300);
    await page.screenshot({ path: `${outDir}/topics-${scheme}.png` });
    await page.setViewportSize({ width: 420, height: 900 });
    await page.getByRole('tab', { name: 'Messages' }).click();
    await page.screenshot({ path: `${outDir}/phone-${scheme}.png` });
    console.log(scheme, 'errors:', page.errors, 'messages:', await byTestId(page, 'message').count());
    await page.context().close();
  }
} finally {
  await browser.close(); await site.close();
  process.kill(demo.pid); await broker.stop();
}

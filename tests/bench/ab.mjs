// Two builds of the app side by side: the way to judge a change on a machine whose full
// benchmark runs differ more from each other than most changes do. Floods and page loads
// alternate between the two `dist/` copies (A, B, A, B, …), each flood on a fresh page, and
// each figure is printed for every run and as the median, with B's median over A's.
// Usage: node tests/bench/ab.mjs <distA> <distB> [--size=4096] [--count=20000] [--qos=0]
//   [--runs=5] (floods per build; 0 for none) [--loads=9] (page loads to `connected`; 0 for none)
// Build a copy of dist/ as the release build does, e.g. `source scripts/env.sh &&
// env -u MQTT_WEB_DEFAULT_BROKER "${RELEASE_ENV[@]}" trunk build --release --dist /tmp/dist-b`.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Mosquitto, serveDist, launchBrowser, sleep } from '../e2e/lib.mjs';
import { FRAME_RECORDER, UI_COUNTER, metrics, savedBroker, measure, subscribeBench, appLoadToConnected } from './probes.mjs';

const args = process.argv.slice(2);
const dists = args.filter((a) => !a.startsWith('--')).map((d) => resolve(d));
const option = (name, fallback) => {
  const found = args.find((a) => a.startsWith(`--${name}=`));
  const value = found === undefined ? fallback : Number(found.slice(name.length + 3));
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} takes a number`);
  return value;
};
if (dists.length !== 2 || dists.some((d) => !existsSync(join(d, 'index.html')))) {
  console.error('usage: node tests/bench/ab.mjs <distA> <distB> [--size=] [--count=] [--qos=] [--runs=] [--loads=]');
  console.error('(each a directory with the index.html of a release build)');
  process.exit(2);
}
const FLOOD = { size: option('size', 4096), count: option('count', 20000), qos: option('qos', 0) };
const RUNS = option('runs', 5);
const LOADS = option('loads', 9);

/** The app on a fresh page, connected to the saved broker and subscribed to bench/# at QoS 1. */
async function openApp(browser, site, broker) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(UI_COUNTER + savedBroker(broker.wsUrl));
  await page.addInitScript(FRAME_RECORDER);
  await page.goto(`${site.url}?broker=${encodeURIComponent(broker.wsUrl)}&connect=1`);
  await subscribeBench(page);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  await metrics(cdp);
  return { page, cdp, context, kind: 'a' };
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
// A ratio over a zero (no slow frames in A) has no meaning: shown as '—' like a missing figure.
const fmt = (n, d = 1) => (typeof n !== 'number' || !Number.isFinite(n) ? '—' : n.toFixed(d));

const broker = await new Mosquitto({ extra: 'max_queued_messages 0\nmax_queued_bytes 0' }).start();
const sites = await Promise.all(dists.map((d) => serveDist(d)));
const browser = await launchBrowser();
try {
  const floods = dists.map(() => []);
  for (let run = 0; run < RUNS; run++) {
    for (let i = 0; i < 2; i++) {
      const client = await openApp(browser, sites[i], broker);
      await sleep(1000);
      const r = await measure(client, broker, FLOOD);
      // A fresh page: its counter's first and last arrival are this flood's.
      r.rate = r.received / ((r.lastAt - r.first) / 1000);
      floods[i].push(r);
      console.error(`flood ${run + 1} ${'AB'[i]}: received ${r.received}/${FLOOD.count}, task/1k ${fmt(r.taskPer1k)} ms, script/1k ${fmt(r.scriptPer1k)}, CPU/1k ${fmt(r.cpuPer1k)}, longest frame gap ${fmt(r.maxGap, 0)} ms`);
      await client.context.close();
    }
  }
  const loads = dists.map(() => []);
  for (let n = 0; n < LOADS; n++) {
    for (let i = 0; i < 2; i++) {
      loads[i].push(await appLoadToConnected(browser, `${sites[i].url}?broker=${encodeURIComponent(broker.wsUrl)}&connect=1`, broker.wsUrl));
    }
  }

  console.log(`A: ${dists[0]}\nB: ${dists[1]}`);
  if (RUNS > 0) {
    console.log(`\n${RUNS} floods each of ${FLOOD.count} × ${FLOOD.size} B at QoS ${FLOOD.qos}, alternating, a fresh page each; median (every run)`);
    console.log('| figure | A | B | B / A |');
    console.log('|---|---|---|---|');
    const row = (label, key, d) => {
      const [a, b] = floods.map((runs) => runs.map((r) => r[key]));
      console.log(`| ${label} | ${fmt(median(a), d)} (${a.map((x) => fmt(x, d)).join(', ')}) | ${fmt(median(b), d)} (${b.map((x) => fmt(x, d)).join(', ')}) | ${fmt(median(b) / median(a), 2)} |`);
    };
    row('msg/s', 'rate', 0);
    row('main-thread task ms / 1k', 'taskPer1k', 1);
    row('main-thread script ms / 1k', 'scriptPer1k', 1);
    row('main-thread CPU ms / 1k', 'cpuPer1k', 1);
    row('longest frame gap ms', 'maxGap', 0);
    row('frames after a gap over 34 ms, %', 'slowFrames', 1);
  }
  if (LOADS > 0) {
    console.log(`\ntime from navigation start to \`connected\`, ${LOADS} loads each, alternating: A ${fmt(median(loads[0]), 0)} ms (${loads[0].map((x) => fmt(x, 0)).join(', ')}), B ${fmt(median(loads[1]), 0)} ms (${loads[1].map((x) => fmt(x, 0)).join(', ')})`);
  }
} finally {
  await browser.close();
  for (const site of sites) await site.close();
  await broker.stop();
}

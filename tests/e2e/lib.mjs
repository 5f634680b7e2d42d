// Shared helpers for the end-to-end tests: mosquitto on free loopback ports (stopped by pid),
// a static server for dist/, and headless Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, existsSync, statSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, extname, resolve, dirname } from 'node:path';
import net from 'node:net';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST = join(ROOT, 'dist');

export function freePort() {
  return new Promise((ok, fail) => {
    const server = net.createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

export async function waitForPort(port, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); });
      s.once('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Where mosquitto's dynamic-security plugin is installed (Debian puts it under a multiarch dir). */
function dynamicSecurityPlugin() {
  const dirs = ['/usr/lib', '/usr/local/lib', ...['/usr/lib', '/usr/local/lib'].flatMap((d) =>
    (existsSync(d) ? readdirSync(d) : []).filter((e) => e.endsWith('-linux-gnu')).map((e) => join(d, e)))];
  const found = dirs.map((d) => join(d, 'mosquitto_dynamic_security.so')).find((f) => existsSync(f));
  if (!found) throw new Error('mosquitto_dynamic_security.so not found (it ships with mosquitto 2)');
  return found;
}

/**
 * A mosquitto with a TCP and a WebSocket listener on loopback. `extra` adds config lines;
 * `dynamicSecurity` (a dynamic-security.json object) loads the plugin, whose ACLs, unlike
 * an acl_file, are checked at SUBSCRIBE time and refuse a filter in the SUBACK.
 */
/**
 * Each test file's mosquitto dirs, removed when its process exits (a broker may restart in
 * its dir), and its brokers still running then, stopped by pid (a script that fails before
 * its `stop()` must not leave a broker behind).
 */
const brokerDirs = [];
const running = new Set();
process.on('exit', () => {
  for (const broker of running) {
    try { process.kill(broker.proc.pid, 'SIGTERM'); } catch { /* already gone */ }
  }
  for (const dir of brokerDirs) rmSync(dir, { recursive: true, force: true });
});

export class Mosquitto {
  constructor({ extra = '', persistence = false, dynamicSecurity = null } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'mqtt-web-e2e-'));
    brokerDirs.push(this.dir);
    this.extra = extra;
    this.persistence = persistence;
    this.dynamicSecurity = dynamicSecurity;
  }
  async start() {
    this.tcpPort ??= await freePort();
    this.wsPort ??= await freePort();
    const lines = [
      'per_listener_settings false', 'allow_anonymous true',
      `listener ${this.tcpPort} 127.0.0.1`, 'protocol mqtt',
      `listener ${this.wsPort} 127.0.0.1`, 'protocol websockets',
    ];
    if (this.persistence) {
      lines.push('persistence true', `persistence_location ${this.dir}/`);
      // Started as root, mosquitto drops to the `mosquitto` user, which must be able to write
      // its database here ("Error saving in-memory database" otherwise).
      chmodSync(this.dir, 0o777);
    }
    if (this.dynamicSecurity) {
      const file = join(this.dir, 'dynamic-security.json');
      writeFileSync(file, JSON.stringify(this.dynamicSecurity, null, 2));
      // Started as root, mosquitto drops to the `mosquitto` user, which must read (and the
      // plugin rewrite) the file.
      chmodSync(this.dir, 0o777);
      chmodSync(file, 0o666);
      lines.push(`plugin ${dynamicSecurityPlugin()}`, `plugin_opt_config_file ${file}`);
    }
    if (this.extra) lines.push(this.extra);
    writeFileSync(join(this.dir, 'mosquitto.conf'), lines.join('\n') + '\n');
    this.proc = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(this);
    this.proc.once('exit', () => running.delete(this));
    this.stderr = '';
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    await waitForPort(this.tcpPort);
    await waitForPort(this.wsPort);
    return this;
  }
  get wsUrl() { return `ws://127.0.0.1:${this.wsPort}/mqtt`; }
  /** Stops this mosquitto by its pid and waits for it to exit. */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    process.kill(this.proc.pid, 'SIGTERM');
    await exited;
  }
}

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
};

/** The file name of the release module in `dir` (a release build stores it gzip-compressed). */
export function releaseModuleFile(dir = DIST) {
  const file = readdirSync(dir).find((f) => /_bg\.wasm(\.gz)?$/.test(f));
  if (!file) throw new Error(`${dir} has no wasm module: run scripts/build-release.sh`);
  return file;
}

/** The release module's bytes, unpacked. */
export function releaseModule(dir = DIST) {
  const file = releaseModuleFile(dir);
  const bytes = readFileSync(join(dir, file));
  return file.endsWith('.gz') ? gunzipSync(bytes) : bytes;
}

/**
 * Serves dist/ on a free loopback port (an ordinary static server, with Content-Types);
 * `headers` go on the page itself (a host's Content-Security-Policy, say).
 */
export async function serveDist(dir = DIST, { headers = {} } = {}) {
  if (!existsSync(join(dir, 'index.html'))) throw new Error(`${dir}/index.html missing: run scripts/build-release.sh`);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = join(dir, path === '/' ? 'index.html' : path);
    if (!file.startsWith(dir) || !existsSync(file) || statSync(file).isDirectory()) file = join(dir, 'index.html');
    const page = extname(file) === '.html' ? headers : {};
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', ...page });
    res.end(readFileSync(file));
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(r)) };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/**
 * A link naming a broker with `connect=1` makes the page ask first (the broker is not the
 * saved one in a fresh browser context); answer "Connect" as the user would.
 */
export async function confirmLinkedBroker(page, url) {
  const query = new URL(url).searchParams;
  if (query.get('connect') === '1' && query.has('broker')) {
    await page.locator('[data-testid="confirm-connect-yes"]').click({ timeout: 15000 });
  }
}

/** Opens the app; collects console errors and page errors (a panic shows up there). */
export async function openApp(browser, url, { colorScheme = 'light', beforeGoto = async () => {} } = {}) {
  const context = await browser.newContext({ colorScheme, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  await beforeGoto(page);
  await page.goto(url);
  await confirmLinkedBroker(page, url);
  return page;
}

/**
 * Opens `url` in a fresh context (its close is pushed onto `cleanups`), collecting console
 * and page errors of the page and of its workers (a wasm panic in the session's worker shows
 * up there) in `page.errors`, and recording every `connection-status` text in
 * `page.statuses()` (a MutationObserver); `page.markStatuses()` starts the record again.
 * A link naming a broker with `connect=1` is confirmed as the user would.
 */
export async function openRecordedPage(browser, url, cleanups) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error') page.errors.push(`[worker] ${m.text()}`); }));
  await page.addInitScript(() => {
    window.__statuses = [];
    const watch = () => {
      const el = document.querySelector('[data-testid="connection-status"]');
      if (!el) return false;
      const note = () => {
        if (window.__statuses[window.__statuses.length - 1] !== el.textContent) window.__statuses.push(el.textContent);
      };
      note();
      new MutationObserver(note).observe(el, { childList: true, characterData: true, subtree: true });
      return true;
    };
    const poll = () => { if (!watch()) requestAnimationFrame(poll); };
    document.addEventListener('DOMContentLoaded', poll);
  });
  await page.goto(url);
  await confirmLinkedBroker(page, url);
  page.statuses = () => page.evaluate(() => window.__statuses.slice());
  page.markStatuses = () => page.evaluate(() => { window.__statuses = [window.__statuses[window.__statuses.length - 1]]; });
  return page;
}

export const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

export async function waitForStatus(page, wanted, timeout = 15000) {
  await page.waitForFunction(
    (w) => document.querySelector('[data-testid="connection-status"]')?.textContent === w,
    wanted, { timeout },
  ).catch(async (e) => {
    const now = await byTestId(page, 'connection-status').textContent().catch(() => '?');
    const err = await byTestId(page, 'connection-error').textContent().catch(() => '?');
    throw new Error(`status never became "${wanted}" (it is "${now}", error "${err}"): ${e.message}`);
  });
}

/** Panics in wasm show up as "panicked at" / "unreachable" console errors. */
export function panics(page) {
  return page.errors.filter((e) => /panicked|unreachable|RuntimeError/.test(e));
}

/** The test-only fault proxy (tests/fault_proxy) between the page and mosquitto's WebSocket port. */
export class FaultProxy {
  static bin() {
    return process.env.FAULT_PROXY ?? join(ROOT, 'target/debug/examples/fault-proxy');
  }
  /** Starts it with a stdin pipe (it exits when that closes) and connects to its control port. */
  static async start(upstreamPort) {
    const self = new FaultProxy();
    const bin = FaultProxy.bin();
    if (!existsSync(bin)) throw new Error(`${bin} missing: cargo build --example fault-proxy`);
    self.proc = spawn(bin, ['--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamPort}`, '--control', '127.0.0.1:0'],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    self.out = '';
    self.err = '';
    self.proc.stderr.on('data', (d) => { self.err += d; });
    self.exited = new Promise((r) => self.proc.once('exit', r));
    const line = await new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`fault-proxy did not start: ${self.err}`)), 10000);
      self.proc.stdout.on('data', (d) => {
        self.out += d;
        const i = self.out.indexOf('\n');
        if (i >= 0) { clearTimeout(timer); ok(self.out.slice(0, i)); }
      });
      self.proc.once('exit', (code) => { clearTimeout(timer); fail(new Error(`fault-proxy exited (${code}): ${self.err}`)); });
    });
    const m = /^listening ws=(\d+) control=(\d+)$/.exec(line);
    if (!m) throw new Error(`unexpected fault-proxy start line ${JSON.stringify(line)}`);
    self.wsPort = Number(m[1]);
    self.controlPort = Number(m[2]);
    self.sock = await new Promise((ok, fail) => {
      const s = net.connect(self.controlPort, '127.0.0.1', () => ok(s));
      s.once('error', fail);
    });
    self.buf = '';
    self.waiting = [];
    self.sock.setEncoding('utf8');
    self.sock.on('error', () => {});
    self.sock.on('data', (d) => {
      self.buf += d;
      let i;
      while ((i = self.buf.indexOf('\n')) >= 0) {
        const answer = self.buf.slice(0, i);
        self.buf = self.buf.slice(i + 1);
        self.waiting.shift()?.(answer);
      }
    });
    return self;
  }
  get wsUrl() { return `ws://127.0.0.1:${this.wsPort}/mqtt`; }
  /** Sends one control line and returns its answer; throws unless it starts with `ok`. */
  async cmd(line) {
    const answer = new Promise((r) => this.waiting.push(r));
    this.sock.write(line + '\n');
    let timer;
    const result = await Promise.race([answer,
      new Promise((_, fail) => { timer = setTimeout(() => fail(new Error(`no control answer to ${line}`)), 5000); })])
      .finally(() => clearTimeout(timer));
    if (!result.startsWith('ok')) throw new Error(`fault-proxy: ${line} -> ${result}`);
    return result;
  }
  /** `stats` as numbers. */
  async stats() {
    const answer = await this.cmd('stats');
    return Object.fromEntries([...answer.matchAll(/(\w+)=(\d+)/g)].map(([, k, v]) => [k, Number(v)]));
  }
  /** Stops it by its pid (closing stdin first) and waits for it to exit. */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.sock?.destroy();
    this.proc.stdin.end();
    const timer = setTimeout(() => { try { process.kill(this.proc.pid, 'SIGTERM'); } catch { /* gone */ } }, 2000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Polls `check` (sync or async) until it is truthy, or fails after `ms` with `what`. */
export async function waitUntil(check, ms = 8000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/**
 * An aedes broker (tests/e2e/aedes-broker.mjs, in its own node process) with a TCP and a
 * WebSocket listener on loopback: the same interface as `Mosquitto` (start on free ports,
 * `wsUrl`, `tcpPort`, `stop` by pid), and `restart` on the same ports. `auth: 'user:password'`
 * accepts only that login; `log` makes it write one stderr line per client event.
 */
export class Aedes {
  constructor({ auth = null, log = false, denySubscribe = null } = {}) {
    this.auth = auth;
    this.log = log;
    this.denySubscribe = denySubscribe;
  }
  async start() {
    this.tcpPort ??= await freePort();
    this.wsPort ??= await freePort();
    const args = [join(ROOT, 'tests/e2e/aedes-broker.mjs'), '--ws-port', String(this.wsPort), '--tcp-port', String(this.tcpPort),
      '--stdin-lifeline'];
    if (this.auth) args.push('--auth', this.auth);
    if (this.log) args.push('--log');
    if (this.denySubscribe) args.push('--deny-subscribe', this.denySubscribe);
    this.proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.stderr = '';
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    let out = '';
    await new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`aedes did not start: ${this.stderr}`)), 10000);
      this.proc.stdout.on('data', (d) => {
        out += d;
        if (/^aedes ready /m.test(out)) { clearTimeout(timer); ok(); }
      });
      this.proc.once('exit', (code) => { clearTimeout(timer); fail(new Error(`aedes exited (${code}): ${this.stderr}`)); });
    });
    this.proc.stdout.resume();
    return this;
  }
  get pid() { return this.proc?.pid; }
  get wsUrl() { return `ws://127.0.0.1:${this.wsPort}/mqtt`; }
  /** Stops this aedes by its pid (SIGTERM: its clients lose their sockets) and waits for it to exit. */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    process.kill(this.proc.pid, 'SIGTERM');
    await exited;
  }
  /** Stops it and starts a new process on the same ports (in memory: nothing survives). */
  async restart() {
    await this.stop();
    await this.start();
    return this;
  }
}

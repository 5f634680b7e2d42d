// Trunk post-build hook: inlines the wasm-bindgen glue and the stylesheet into index.html.
// Why: mosquitto's `http_dir` serves files with an EMPTY Content-Type, and browsers refuse a
// module script (and a strict-MIME stylesheet) without one. An inline module script runs, and
// the glue falls back from instantiateStreaming to instantiate for the untyped .wasm.
import { readFileSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { preconnectUrl, defaultBrokerFor } from './preconnect.mjs';

const dir = process.env.TRUNK_STAGING_DIR ?? process.argv[2];
if (!dir) throw new Error('usage: TRUNK_STAGING_DIR=dist node scripts/inline-glue.mjs');
const indexPath = join(dir, 'index.html');
let html = readFileSync(indexPath, 'utf8');

const loader = html.match(/<script type="module">\s*import init, \* as bindings from '([^']+)';\s*const wasm = await init\(\{ module_or_path: '([^']+)' \}\);[\s\S]*?<\/script>/);
if (!loader) {
  console.log('inline-glue: no Trunk module loader found (already inlined?)');
  process.exit(0);
}
const [, gluePath, wasmPath] = loader;
const glue = readFileSync(join(dir, gluePath.replace(/^\//, '')), 'utf8')
  .replace(/^export \{[^}]*\};?\s*$/m, '')
  .replace(/^export (class|function|const|let|async function) /gm, '$1 ')
  .replace(/<\/script/gi, '<\\/script');
if (/^export /m.test(glue)) throw new Error('inline-glue: an export the script does not know how to inline is left');
// The session worker (Trunk's `data-type="worker"` bin: no-modules glue + wasm). Started
// from Blob URLs: from http_dir, importScripts of the untyped worker.js fails, while a Blob
// of its text works (both seen in Chromium). The worker fetches its own glue, so the page
// does not wait for it; the app queues commands until the worker says it is ready.
const files = readdirSync(dir);
const workerGlue = files.find((f) => /^worker(-[0-9a-f]+)?\.js$/.test(f));
const workerWasm = files.find((f) => /^worker(-[0-9a-f]+)?_bg\.wasm$/.test(f));
const buildDefault = process.env.MQTT_WEB_DEFAULT_BROKER ?? '';
const workerStart = workerGlue && workerWasm ? `
{
  const glueUrl = new URL('./${workerGlue}', document.baseURI).href;
  const wasmUrl = new URL('./${workerWasm}', document.baseURI).href;
  // Keep what the session says until the app takes over (it may say "ready" before the
  // app's wasm has loaded, and a message with no listener is lost).
  globalThis.mqttWebWorkerEarly = [];
  // The broker this page is about to connect to on its own, if any (scripts/preconnect.mjs):
  // the session module's thread opens the WebSocket to it at once, and the session's first
  // connect takes it over. Only its URL leaves storage.
  ${preconnectUrl.toString()}
  ${defaultBrokerFor.toString()}
  let saved = null;
  try { saved = localStorage.getItem('mqtt-web.profile'); } catch (_) { /* storage blocked */ }
  const preconnect = preconnectUrl(location.search, saved,
    defaultBrokerFor(location.protocol, location.host, ${JSON.stringify(buildDefault)}));
  saved = null;
  // Runs on the session module's thread (the worker's, or this page's): the socket must be
  // opened where the session runs (a WebSocket cannot be handed to another thread).
  const openEarly = (url) => {
    const hint = { url, socket: null };
    if (url) {
      try {
        const socket = new WebSocket(url, 'mqtt');
        socket.binaryType = 'arraybuffer';
        hint.socket = socket;
        // Closed unused if the session never takes it (it deletes hint.socket when it does).
        setTimeout(() => { if (hint.socket === socket) { hint.socket = null; socket.close(); } }, 10000);
      } catch (_) { /* a URL the browser refuses: the session reports it when it opens */ }
    }
    return hint;
  };
  // Settles when the session module's thread can take the app's messages at once (see the
  // module script below).
  let booted;
  globalThis.mqttWebSessionBooted = new Promise((resolve) => { booted = resolve; });
  const keepEarly = (event) => {
    if (event.data === 'mqtt-web:booted') booted();
    else globalThis.mqttWebWorkerEarly.push(event.data);
  };
  // The session module on this page's thread, behind a MessageChannel the app uses like a
  // Worker: for ?worker=0 and for pages that may not start workers (a strict CSP). Its glue
  // is a classic script, loaded by URL (no eval).
  const onThisThread = () => {
    if (!globalThis.mqttWebPreconnect) globalThis.mqttWebPreconnect = openEarly(preconnect);
    booted();
    const channel = new MessageChannel();
    channel.port2.onmessage = keepEarly;
    globalThis.mqttWebWorker = channel.port2;
    globalThis.mqttWebSessionThread = 'page';
    const wasm = fetch(wasmUrl);
    wasm.catch(() => {});
    const script = document.createElement('script');
    script.src = glueUrl;
    script.onload = () => wasm_bindgen({ module_or_path: wasm })
      .then(() => wasm_bindgen.serve_in_page(channel.port1))
      .catch((e) => channel.port1.postMessage('the session module could not start: ' + e));
    script.onerror = () => channel.port1.postMessage('the session module could not be loaded from ' + glueUrl);
    document.head.append(script);
  };
  // The app calls this when its worker fails before it is ready.
  globalThis.mqttWebStartSessionOnPage = () => { onThisThread(); return globalThis.mqttWebWorker; };
  if (new URLSearchParams(location.search).get('worker') === '0') {
    onThisThread();
  } else {
    try {
      // The socket, the glue and the wasm all start at once.
      // The app posts its first commands (the connect) without waiting for the session to
      // say it is ready; they are kept here until the session module takes them.
      const boot = \`self.mqttWebCommandsEarly = [];
      self.onmessage = (event) => self.mqttWebCommandsEarly.push(event.data);
      self.mqttWebPreconnect = (\${openEarly.toString()})(\${JSON.stringify(preconnect)});
      setTimeout(() => postMessage('mqtt-web:booted'), 0);
      const wasm = fetch(\${JSON.stringify(wasmUrl)});
      wasm.catch(() => {});
      fetch(\${JSON.stringify(glueUrl)}).then((r) => r.text()).then((text) => {
        importScripts(URL.createObjectURL(new Blob([text], { type: 'text/javascript' })));
        return wasm_bindgen({ module_or_path: wasm });
      }).catch((e) => postMessage('the session worker could not start: ' + e));\`;
      const worker = new Worker(URL.createObjectURL(new Blob([boot], { type: 'text/javascript' })));
      worker.onmessage = keepEarly;
      // Failed before the app took over (it replaces these handlers): start on this thread.
      worker.onerror = () => { booted(); if (globalThis.mqttWebWorker === worker) onThisThread(); };
      globalThis.mqttWebWorker = worker;
      globalThis.mqttWebSessionThread = 'worker';
    } catch (e) {
      console.warn('no session worker; the session runs on the page', e);
      onThisThread();
    }
  }
}
` : '';
// The worker start and the app wasm's fetch go in a classic script, which runs as soon as it
// is parsed (a module script waits for the whole document).
const inline = `<script>
${workerStart}
globalThis.mqttWebAppWasm = fetch(new URL('.${wasmPath}', document.baseURI));
globalThis.mqttWebAppWasm.catch(() => {});
</script>
<script type="module">
${glue}
// Chromium holds the page's messages to a new worker until this thread has heard that the
// worker's boot script ran; a message posted during the app's mount (one long task: the
// connect) would wait for the mount and the first paint. So the app starts once the worker
// has booted (or after 150 ms at most).
await Promise.race([globalThis.mqttWebSessionBooted, new Promise((r) => setTimeout(r, 150))]);
const trunkAppWasm = await __wbg_init({ module_or_path: globalThis.mqttWebAppWasm });
dispatchEvent(new CustomEvent("TrunkApplicationStarted", {detail: {wasm: trunkAppWasm}}));
</script>`;
html = html.replace(loader[0], () => inline);

// The stylesheet, inline for the same reason.
const inlined = [gluePath];
html = html.replace(/<link rel="stylesheet" href="([^"]+)"[^>]*\/?>/, (_, href) => {
  inlined.push(href);
  const css = readFileSync(join(dir, href.replace(/^\//, '')), 'utf8');
  return `<style>\n${css.replace(/<\/style/gi, '<\\/style')}\n</style>`;
});
// Preload hints point at files the page no longer loads by URL (the glue) or would type-check.
html = html.replace(/<link rel="modulepreload"[^>]*>/g, '').replace(/<link rel="preload"[^>]*>/g, '');
writeFileSync(indexPath, html);
// Nothing loads them any more: keep dist/ to what the page uses.
for (const file of inlined) rmSync(join(dir, file.replace(/^\//, '')));
console.log(`inline-glue: inlined ${gluePath} and the stylesheet into index.html`);

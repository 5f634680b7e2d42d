// Trunk post-build hook: inlines the wasm-bindgen glue and the stylesheet into index.html.
// Why: mosquitto's `http_dir` serves files with an EMPTY Content-Type, and browsers refuse a
// module script (and a strict-MIME stylesheet) without one. An inline module script runs, and
// the glue falls back from instantiateStreaming to instantiate for the untyped .wasm.
import { readFileSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

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
const workerStart = workerGlue && workerWasm ? `
{
  const glueUrl = new URL('./${workerGlue}', document.baseURI).href;
  const wasmUrl = new URL('./${workerWasm}', document.baseURI).href;
  // Keep what the session says until the app takes over (it may say "ready" before the
  // app's wasm has loaded, and a message with no listener is lost).
  globalThis.mqttWebWorkerEarly = [];
  // What the session module needs to open the socket to the broker this page is about to
  // connect to, while the UI loads (the Rust side applies the connect form's trust rules;
  // the key is the profile's localStorage key, src/state/profile.rs).
  let saved = null;
  try { saved = localStorage.getItem('mqtt-web.profile'); } catch (_) { /* storage blocked */ }
  globalThis.mqttWebPreconnect = { query: location.search, protocol: location.protocol, host: location.host, saved };
  const keepEarly = (event) => globalThis.mqttWebWorkerEarly.push(event.data);
  // The session module on this page's thread, behind a MessageChannel the app uses like a
  // Worker: for ?worker=0 and for pages that may not start workers (a strict CSP). Its glue
  // is a classic script, loaded by URL (no eval).
  const onThisThread = () => {
    const channel = new MessageChannel();
    channel.port2.onmessage = keepEarly;
    globalThis.mqttWebWorker = channel.port2;
    globalThis.mqttWebSessionThread = 'page';
    const script = document.createElement('script');
    script.src = glueUrl;
    script.onload = () => wasm_bindgen({ module_or_path: wasmUrl })
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
      const boot = \`self.mqttWebPreconnect = \${JSON.stringify(globalThis.mqttWebPreconnect)};
      fetch(\${JSON.stringify(glueUrl)}).then((r) => r.text()).then((text) => {
        importScripts(URL.createObjectURL(new Blob([text], { type: 'text/javascript' })));
        return wasm_bindgen({ module_or_path: \${JSON.stringify(wasmUrl)} });
      }).catch((e) => postMessage('the session worker could not start: ' + e));\`;
      const worker = new Worker(URL.createObjectURL(new Blob([boot], { type: 'text/javascript' })));
      worker.onmessage = keepEarly;
      // Failed before the app took over (it replaces these handlers): start on this thread.
      worker.onerror = () => { if (globalThis.mqttWebWorker === worker) onThisThread(); };
      globalThis.mqttWebWorker = worker;
      globalThis.mqttWebSessionThread = 'worker';
    } catch (e) {
      console.warn('no session worker; the session runs on the page', e);
      onThisThread();
    }
  }
}
` : '';
const inline = `<script type="module">
${workerStart}
${glue}
// Relative to the page, so the app also works under a sub-path.
const trunkAppWasm = await __wbg_init({ module_or_path: new URL('.${wasmPath}', document.baseURI) });
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

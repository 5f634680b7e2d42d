// Trunk post-build hook: inlines the wasm-bindgen glue and the stylesheet into index.html,
// and writes the loader that runs the one wasm module twice: as the app on the page and as
// the session in a Worker (the page compiles it once and posts the compiled module over).
// Why inline: mosquitto's `http_dir` serves files with an EMPTY Content-Type, and browsers
// refuse a module script (and a strict-MIME stylesheet) without one. Inline scripts run, and
// the untyped module is compiled from a Response the loader types itself.
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { preconnectUrl, defaultBrokerFor } from './preconnect.mjs';
import { pruneUnusedClasses, pruneImports, dropExports } from './prune-glue.mjs';

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
// The glue as a classic script: one object, `mqttWebGlue`, instead of a module's exports, so
// that the page runs it inline and the session worker runs the same text. Its one
// `import.meta.url` (the default wasm path) is never used: the compiled module is passed in.
let glue = readFileSync(join(dir, gluePath.replace(/^\//, '')), 'utf8');
// A release build ships no code nothing can call (scripts/prune-glue.mjs) and minified
// scripts; `trunk serve` keeps the glue as wasm-bindgen wrote it.
const release = process.env.TRUNK_PROFILE === 'release';
const wasmFile = join(dir, wasmPath.replace(/^\//, ''));
if (release) {
  const pruned = pruneUnusedClasses(glue);
  const unpruned = `${wasmFile}.unpruned`;
  writeFileSync(unpruned, dropExports(readFileSync(wasmFile), pruned.exports));
  // A second -Oz after Trunk's drops what the dropped exports alone reached. The low 1 KB of
  // memory: Rust never computes an address that wraps around 4 GiB into it, so wasm-opt may
  // fold constant offsets into loads and stores (2 KB less gzip).
  // The project's binaryen (scripts/bootstrap.sh; Trunk finds the same one on PATH), never
  // an older one a system may have first on its PATH.
  const wasmOpt = join(import.meta.dirname, '../tests/e2e/node_modules/.bin/wasm-opt');
  execFileSync(wasmOpt, ['-Oz', '--low-memory-unused', '--enable-reference-types', unpruned, '-o', wasmFile], { stdio: 'inherit' });
  rmSync(unpruned);
  const imports = WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(wasmFile)));
  glue = pruneImports(pruned.glue, new Set(imports.map((i) => i.name)));
  if (pruned.classes.length) {
    console.log(`inline-glue: dropped ${pruned.classes.join(', ')} (${pruned.exports.length} exports nothing calls)`);
  }
}
// A release build stores the module gzip-compressed, by zopfli (4 % smaller than gzip -9,
// same format), and the loader unpacks it: a server that compresses nothing (mosquitto's
// http_dir) then sends 0.4 of the bytes, one that compresses sends it as it is (a .gz), and
// both send less than gzip on the fly would. `trunk serve` keeps the plain file.
function gzipBest(file) {
  for (const [tool, args] of [['zopfli', ['-c', file]], ['gzip', ['-9', '-n', '-c', file]]]) {
    try {
      return execFileSync(tool, args, { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] });
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
  }
  return gzipSync(readFileSync(file), { level: 9 });
}
let servedWasmPath = wasmPath;
if (release) {
  writeFileSync(`${wasmFile}.gz`, gzipBest(wasmFile));
  rmSync(wasmFile);
  servedWasmPath = `${wasmPath}.gz`;
}
// The terser the end-to-end tests' packages bring (scripts/bootstrap.sh installs them).
async function minify(code) {
  const require = createRequire(join(import.meta.dirname, '../tests/e2e/package.json'));
  const { minify: terser } = await import(pathToFileURL(require.resolve('terser')).href);
  const result = await terser(code, { ecma: 2020, compress: { passes: 2 }, mangle: true });
  return result.code.replace(/<\/script/gi, '<\\/script');
}
glue = glue
  .replace(/^export \{[^}]*\};?\s*$/m, '')
  .replace(/^export (class|function|const|let|async function) /gm, '$1 ')
  .replace(/import\.meta\.url/g, 'location.href')
  .replace(/<\/script/gi, '<\\/script');
if (/^export /m.test(glue)) throw new Error('inline-glue: an export the script does not know how to inline is left');
if (!/^function serve_in_page\(/m.test(glue)) throw new Error('inline-glue: the glue has no serve_in_page');
// A `//` comment on a line of its own, with its line end.
const WHOLE_LINE_COMMENT = /^[ \t]*\/\/.*\n/gm;
// Without its whole-line comments and indentation: about 1.2 KB less to download after gzip.
// Only where no string runs over a line end (a template literal or a line continuation),
// the one place where such a line is not code; else the glue is shipped as it is.
function compactGlue(js) {
  const spansLines = js.split('\n').some((line) => (line.split('`').length - 1) % 2 === 1 || /\\$/.test(line));
  if (spansLines) {
    console.log('inline-glue: the glue has a string over several lines; shipped uncompacted');
    return js;
  }
  return js
    .replace(/^[ \t]*\/\*(?:[^*]|\*(?!\/))*\*\/[ \t]*\n/gm, '')
    .replace(WHOLE_LINE_COMMENT, '')
    .replace(/^[ \t]+/gm, '');
}
// It says when it has run: the loader, which runs before it (below), then hands its text to
// the session worker.
const glueSource = (body) => `globalThis.mqttWebGlue = (() => {
${body}
return { init: __wbg_init, serve_in_page };
})();
globalThis.mqttWebGlueLoaded?.();`;
const glueScript = release ? await minify(glueSource(glue)) : glueSource(compactGlue(glue));
const buildDefault = process.env.MQTT_WEB_DEFAULT_BROKER ?? '';
// The page fetches and compiles the app's one wasm module; the session worker, started
// from a Blob of its boot script, imports the glue (another Blob) and instantiates that
// same compiled module (both posted to it), where it runs as the session. A Blob, because
// from mosquitto's http_dir a worker script by URL is refused for its empty Content-Type.
// The loader runs before the glue is even parsed, and the boot script is a few lines: the
// worker, and the socket it opens to the broker, start as early as the page can start them.
// (mosquitto 2.0 completes a WebSocket handshake over one or two turns of a ~100 ms loop, so
// every ms the socket opens sooner is, on average, a ms sooner connected.)
const workerStart = `
{
  // The glue's text, once the glue script (after this one) has run.
  let glueLoaded;
  const glueText = new Promise((resolve) => { glueLoaded = resolve; });
  globalThis.mqttWebGlueLoaded = () => glueLoaded(document.getElementById('mqtt-web-glue').textContent);
  // Keep what the session says until the app takes over (it may say "ready" before the
  // app has mounted, and a message with no listener is lost).
  globalThis.mqttWebWorkerEarly = [];
  // Settles when the session's thread can take the app's messages at once (see the module
  // script below).
  let booted;
  globalThis.mqttWebSessionBooted = new Promise((resolve) => { booted = resolve; });
  // The compiled module, once the fetch at the end of this script has it.
  let moduleFetched;
  const appModule = new Promise((resolve) => { moduleFetched = resolve; });
  // Settles once the app's own instance runs (the module script below).
  let appStarted;
  const appReady = new Promise((resolve) => { appStarted = resolve; });
  globalThis.mqttWebAppStarted = () => appStarted();
  // The broker this page is about to connect to on its own, if any (scripts/preconnect.mjs):
  // the session's thread opens the WebSocket to it at once, and the session's first connect
  // takes it over. Only its URL leaves storage.
  ${preconnectUrl.toString()}
  ${defaultBrokerFor.toString()}
  let saved = null;
  try { saved = localStorage.getItem('mqtt-web.profile'); } catch (_) { /* storage blocked */ }
  const preconnect = preconnectUrl(location.search, saved,
    defaultBrokerFor(location.protocol, location.host, ${JSON.stringify(buildDefault)}));
  saved = null;
  // Runs on the session's thread (the worker's, or this page's): the socket must be opened
  // where the session runs (a WebSocket cannot be handed to another thread).
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
  const keepEarly = (event) => {
    if (event.data === 'mqtt-web:booted') booted();
    else globalThis.mqttWebWorkerEarly.push(event.data);
  };
  // The session on this page's thread, behind a MessageChannel the app uses like a Worker:
  // for ?worker=0 and for pages that may not start workers (a strict CSP). The app's own
  // instance serves it once it runs (never inside a call from the app: always a later task).
  const onThisThread = () => {
    if (!globalThis.mqttWebPreconnect) globalThis.mqttWebPreconnect = openEarly(preconnect);
    booted();
    const channel = new MessageChannel();
    channel.port2.onmessage = keepEarly;
    globalThis.mqttWebWorker = channel.port2;
    globalThis.mqttWebSessionThread = 'page';
    appReady.then(() => mqttWebGlue.serve_in_page(channel.port1))
      .catch((e) => channel.port1.postMessage('the session could not start on the page: ' + e));
  };
  // The app calls this when its worker fails before it is ready.
  globalThis.mqttWebStartSessionOnPage = () => { onThisThread(); return globalThis.mqttWebWorker; };
  if (new URLSearchParams(location.search).get('worker') === '0') {
    onThisThread();
  } else {
    try {
      // The socket opens at once; the module follows when the page has compiled it. The app
      // posts its first commands (the connect) without waiting for the session to say it is
      // ready; they are kept here until the session takes them.
      const boot = \`self.mqttWebCommandsEarly = [];
      self.onmessage = (event) => {
        if (event.data && event.data.mqttWebGlue) {
          // Throws if refused (a Content-Security-Policy that allows blob: workers but not
          // blob: scripts): an error event on the page's side, which starts a worker again
          // from one Blob with the glue in it (below).
          importScripts(event.data.mqttWebGlue);
        } else if (event.data && event.data.mqttWebModule && self.mqttWebGlue) {
          mqttWebGlue.init({ module_or_path: event.data.mqttWebModule })
            .catch((e) => postMessage('the session worker could not start: ' + e));
        } else {
          self.mqttWebCommandsEarly.push(event.data);
        }
      };
      self.mqttWebPreconnect = (\${openEarly.toString()})(\${JSON.stringify(preconnect)});
      setTimeout(() => postMessage('mqtt-web:booted'), 0);
      \`;
      // Starts a session worker from \`script\`. If it fails before the app takes over (the app
      // then replaces these handlers), the failure is handled, not an uncaught error of the
      // page, the worker (with the socket it may hold) goes, and \`onFailure\` is told whether
      // its script had run.
      const startWorker = (script, onFailure) => {
        const worker = new Worker(URL.createObjectURL(new Blob([script], { type: 'text/javascript' })));
        let ran = false;
        worker.onmessage = (event) => {
          if (event.data === 'mqtt-web:booted') ran = true;
          keepEarly(event);
        };
        worker.onerror = (event) => {
          booted();
          if (globalThis.mqttWebWorker === worker) {
            event.preventDefault();
            worker.terminate();
            onFailure(ran);
          }
        };
        globalThis.mqttWebWorker = worker;
        globalThis.mqttWebSessionThread = 'worker';
        return worker;
      };
      // The compiled module goes once to each worker that is to run it.
      const sendModule = (worker) => appModule.then((module) => {
        if (globalThis.mqttWebWorker === worker) worker.postMessage({ mqttWebModule: module });
      }, () => {});
      const worker = startWorker(boot, (ran) => {
        if (!ran) return onThisThread();
        // It ran but could not import the glue from a second Blob: a policy that allows blob:
        // workers but not blob: scripts. One Blob with the glue and the boot script together
        // is a worker such a policy allows; if that fails too, the session runs on the page.
        glueText.then((text) => sendModule(startWorker(text + '\\n' + boot, onThisThread)));
      });
      // The glue as soon as it is parsed (the worker compiles it while the page compiles the
      // module), then the module: messages arrive in the order they were posted.
      const glueSent = glueText.then((text) =>
        worker.postMessage({ mqttWebGlue: URL.createObjectURL(new Blob([text], { type: 'text/javascript' })) }));
      glueSent.then(() => sendModule(worker));
    } catch (e) {
      console.warn('no session worker; the session runs on the page', e);
      onThisThread();
    }
  }
  // The worker's start-up, which leads to the broker's socket, goes first: compiling the
  // module takes both cores of a small machine for a while, and the worker started about
  // 25 ms later when they ran together. So the module is fetched after the worker is
  // started (the fetch call itself takes a few ms) and compiled once the worker has booted
  // (or 100 ms at most).
  const bootedOrLate = Promise.race([globalThis.mqttWebSessionBooted, new Promise((r) => setTimeout(r, 100))]);
  // The module as it arrives, unpacked on the way when it is gzip (a release build stores it
  // so); a server that sent it with Content-Encoding: gzip has unpacked it already, so its
  // first bytes decide. Typed as wasm, so that it compiles while it streams in, whatever type
  // the server gave it (mosquitto's http_dir gives none).
  const unpacked = async (response) => {
    const reader = response.body.getReader();
    const head = [];
    let length = 0;
    let done = false;
    while (!done && length < 2) {
      const chunk = await reader.read();
      done = chunk.done;
      if (chunk.value) { head.push(chunk.value); length += chunk.value.length; }
    }
    const first = (i) => { for (const c of head) { if (i < c.length) return c[i]; i -= c.length; } };
    const body = new ReadableStream({
      start(controller) { for (const c of head) controller.enqueue(c); if (done) controller.close(); },
      async pull(controller) {
        const chunk = await reader.read();
        if (chunk.done) controller.close(); else controller.enqueue(chunk.value);
      },
      cancel(why) { return reader.cancel(why); },
    });
    const gzip = first(0) === 0x1f && first(1) === 0x8b;
    if (gzip && typeof DecompressionStream !== 'function') {
      throw new Error('this browser cannot unpack the app (it has no DecompressionStream)');
    }
    return new Response(gzip ? body.pipeThrough(new DecompressionStream('gzip')) : body,
      { headers: { 'content-type': 'application/wasm' } });
  };
  // Compiled once, as it streams in.
  globalThis.mqttWebAppModule = fetch(new URL('.${servedWasmPath}', document.baseURI)).then((response) => {
    if (!response.ok) throw new Error('the app could not be loaded: HTTP ' + response.status + ' for ' + response.url);
    return Promise.all([unpacked(response), bootedOrLate]).then(([wasm]) => WebAssembly.compileStreaming(wasm));
  });
  globalThis.mqttWebAppModule.catch(() => {});
  moduleFetched(globalThis.mqttWebAppModule);
}
`;
// The loader and the glue are classic scripts, which run as soon as they are parsed (a
// module script waits for the whole document); the app starts from a module script, once
// the body exists.
// Whole-line comments are for this file's readers: the page does not download them.
const withoutComments = (js) => js.replace(WHOLE_LINE_COMMENT, '');
// Chromium holds the page's messages to a new worker until this thread has heard that the
// worker's boot script ran; a message posted during the app's mount (one long task: the
// connect) would wait for the mount and the first paint. So the app starts once the worker
// has booted (or after 150 ms at most). A module that cannot be had (a server's error, a
// browser without DecompressionStream) is said on the page, as text, not left blank.
const appStart = `
await Promise.race([globalThis.mqttWebSessionBooted, new Promise((r) => setTimeout(r, 150))]);
const appModule = await globalThis.mqttWebAppModule.catch((e) => {
  const why = document.createElement('p');
  why.className = 'load-error';
  why.setAttribute('data-testid', 'load-error');
  why.textContent = 'MQTT Web could not start: ' + (e && e.message ? e.message : String(e));
  document.body.replaceChildren(why);
  throw e;
});
const trunkAppWasm = await mqttWebGlue.init({ module_or_path: appModule });
globalThis.mqttWebAppStarted();
dispatchEvent(new CustomEvent("TrunkApplicationStarted", {detail: {wasm: trunkAppWasm}}));
`;
const loaderScript = release ? await minify(withoutComments(workerStart)) : withoutComments(workerStart);
const inline = `<script>
${loaderScript}
</script>
<script id="mqtt-web-glue">
${glueScript}
</script>
<script type="module">${appStart}</script>`;
html = html.replace(loader[0], () => inline);

// The stylesheet, inline for the same reason, without its comments and layout (about 1 KB
// less to download after gzip). Quoted strings are kept as they are.
function minifyCss(css) {
  const strings = [];
  // Comments and strings in one pass, so that a quote in a comment or "/*" in a string is
  // not taken for what it is not.
  const bare = css.replace(/\/\*[\s\S]*?\*\/|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, (found) => {
    if (found.startsWith('/*')) return '';
    strings.push(found);
    return `\u0000${strings.length - 1}\u0000`;
  });
  return bare
    .replace(/\s+/g, ' ')
    .replace(/ ?([{};]) ?/g, '$1')
    .trim()
    .replace(/\u0000(\d+)\u0000/g, (_, i) => strings[Number(i)]);
}
const inlined = [gluePath];
html = html.replace(/<link rel="stylesheet" href="([^"]+)"[^>]*\/?>/, (_, href) => {
  inlined.push(href);
  const css = minifyCss(readFileSync(join(dir, href.replace(/^\//, '')), 'utf8'));
  return `<style>\n${css.replace(/<\/style/gi, '<\\/style')}\n</style>`;
});
// Preload hints point at files the page no longer loads by URL (the glue) or would type-check.
html = html.replace(/<link rel="modulepreload"[^>]*>/g, '').replace(/<link rel="preload"[^>]*>/g, '');
writeFileSync(indexPath, html);
// Nothing loads them any more: keep dist/ to what the page uses.
for (const file of inlined) rmSync(join(dir, file.replace(/^\//, '')));
console.log(`inline-glue: inlined ${gluePath} and the stylesheet into index.html`);

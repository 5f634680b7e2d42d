// The release build compiles std with the app and aborts on a panic without formatting it
// (RELEASE_ENV in scripts/env.sh): 22 KB of gzip. Nothing in the page shows which std it got,
// so this looks in the module for what only the prebuilt std's panic machinery carries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { releaseModule } from './lib.mjs';

const dist = join(import.meta.dirname, '../../dist');
// scripts/env.sh (which scripts/test.sh sources) says which std the release build got: it
// compiles std only where std's sources and the bootstrap's stamp for their dependencies are.
const releaseStd = process.env.RELEASE_STD;

test('the release module carries no panic messages or source file names', { skip: releaseStd !== 'build-std' && (releaseStd ? 'std sources or their dependencies not installed: the release build links the prebuilt std' : 'RELEASE_STD unset: run under scripts/env.sh') }, () => {
  const wasm = releaseModule(dist);
  const text = wasm.toString('latin1');
  // std's panic hook writes "panicked at"; every panic site names its file.
  assert.doesNotMatch(text, /panicked at/);
  assert.deepEqual([...new Set(text.match(/\bsrc\/[\w/]+\.rs/g) ?? [])], []);
  assert.deepEqual([...new Set(text.match(/library\/\w+\/src\/[\w/]+\.rs/g) ?? [])], []);
  // Still the app: its exports and its user-facing words are there.
  const exports = WebAssembly.Module.exports(new WebAssembly.Module(wasm)).map((e) => e.name);
  assert.ok(exports.includes('serve_in_page'), exports.join(' '));
  assert.match(text, /the session worker failed/);
});

// The release build's pruning of what nothing can call (scripts/prune-glue.mjs), run in
// Node on small glue texts and a hand-made module, then on the built page itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pruneUnusedClasses, pruneImports, dropExports } from '../../scripts/prune-glue.mjs';
import { releaseModule } from './lib.mjs';

// The shapes wasm-bindgen writes: a class, its dispose line, its finalization registry, and
// import functions in the object `__wbg_get_imports` builds.
const cls = (name, calls) => `export class ${name} {
    free() {
        ${name}Finalization.unregister(this);
${calls.map((c) => `        wasm.${c}(this.__wbg_ptr);`).join('\n')}
    }
}
if (Symbol.dispose) ${name}.prototype[Symbol.dispose] = ${name}.prototype.free;
`;
const registry = (name, free) => `const ${name}Finalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.${free}(ptr, 1));
`;
const imports = `function __wbg_get_imports() {
    const import0 = {
        __proto__: null,
        __wbg_kept_wrap_1: function(arg0) {
            const ret = Kept.__wrap(arg0);
            return ret;
        },
        __wbg_len_2: function() { return handleError(function (arg0) {
            const ret = arg0.length;
            return ret;
        }, arguments); },
        __wbg_gone_3: function(arg0) {
            arg0.close();
        },
    };
    return { __proto__: null, "./app_bg.js": import0 };
}
`;

test('a class nothing names goes with its registry and the exports only it called', () => {
  const glue = cls('Unused', ['unused_free', 'unused_pull', 'shared'])
    + cls('Kept', ['kept_free'])
    + registry('Unused', 'unused_free') + registry('Kept', 'kept_free')
    + 'function run() { wasm.main(); }\n'
    + imports;
  const result = pruneUnusedClasses(glue);
  assert.deepEqual(result.classes, ['Unused']);
  assert.deepEqual(result.exports, ['unused_free', 'unused_pull', 'shared']);
  assert.doesNotMatch(result.glue, /Unused|unused_|shared/);
  // Kept is named by an import function: it stays, whole.
  assert.match(result.glue, /^export class Kept \{$/m);
  assert.match(result.glue, /^const KeptFinalization = /m);
  assert.match(result.glue, /Symbol\.dispose\) Kept\.prototype/);
  assert.match(result.glue, /function run\(\) \{ wasm\.main\(\); \}/);
  // An export the class calls is also called elsewhere: then the class stays.
  const shared = glue.replace('wasm.main();', 'wasm.main(); wasm.shared();');
  assert.deepEqual(pruneUnusedClasses(shared), { glue: shared, classes: [], exports: [] });
});

test('import functions the module no longer imports go; one it imports but the glue lacks is an error', () => {
  const pruned = pruneImports(imports, new Set(['__wbg_kept_wrap_1', '__wbg_len_2']));
  assert.doesNotMatch(pruned, /__wbg_gone_3|close\(\)/);
  assert.match(pruned, /__wbg_kept_wrap_1: function\(arg0\) \{\n {12}const ret = Kept\.__wrap\(arg0\);/);
  assert.match(pruned, /__wbg_len_2: function\(\) \{ return handleError\(function \(arg0\) \{\n[\s\S]*?\}, arguments\); \},\n {4}\};/);
  const none = pruneImports(imports, new Set());
  assert.doesNotMatch(none, /: function/);
  assert.match(none, /const import0 = \{\n {8}__proto__: null,\n {4}\};/);
  assert.throws(() => pruneImports(imports, new Set(['__wbg_missing_9'])), /__wbg_missing_9/);
});

// A module of two functions returning 42 and 7, exported as `keep` and `drop`.
const TWO_EXPORTS = Buffer.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
  0x03, 0x03, 0x02, 0x00, 0x00,
  0x07, 0x0f, 0x02, 0x04, ...Buffer.from('keep'), 0x00, 0x00, 0x04, ...Buffer.from('drop'), 0x00, 0x01,
  0x0a, 0x0b, 0x02, 0x04, 0x00, 0x41, 0x2a, 0x0b, 0x04, 0x00, 0x41, 0x07, 0x0b,
]);

test('dropping an export leaves the rest of the module working', async () => {
  const before = await WebAssembly.instantiate(TWO_EXPORTS);
  assert.deepEqual(Object.keys(before.instance.exports), ['keep', 'drop']);
  const { instance } = await WebAssembly.instantiate(dropExports(TWO_EXPORTS, ['drop']));
  assert.deepEqual(Object.keys(instance.exports), ['keep']);
  assert.equal(instance.exports.keep(), 42);
  assert.throws(() => dropExports(TWO_EXPORTS, ['drop', 'absent']), /1 of the exports to drop are not in the module/);
});

test('the release page ships no class and no export that nothing calls', () => {
  const dist = join(import.meta.dirname, '../../dist');
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const wasm = releaseModule(dist);
  const exports = WebAssembly.Module.exports(new WebAssembly.Module(wasm)).map((e) => e.name);
  assert.ok(exports.includes('serve_in_page') && exports.includes('__wbindgen_start'), exports.join(' '));
  // wasm-streams' stream classes, which Leptos brings and a client-side app never uses.
  assert.deepEqual(exports.filter((name) => /intounderlying/i.test(name)), []);
  assert.doesNotMatch(html, /intounderlying/i);
});

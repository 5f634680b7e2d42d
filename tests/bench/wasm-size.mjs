// Where a wasm file's bytes go, cargo-bloat style: code bytes per function (from the code
// section and the `name` section) summed per crate, plus the data section.
//
//   node tests/bench/wasm-size.mjs FILE.wasm [N]     prints the N (10) largest crates and functions
//
// Use it on a wasm that still has its function names: wasm-bindgen's output before wasm-opt
// (target/wasm-bindgen/release/*_bg.wasm) or the one rustc links
// (target/wasm32-unknown-unknown/release/*.wasm; there about a tenth is wasm-bindgen's
// type-description functions, which wasm-bindgen removes). wasm-opt then shrinks it by a
// roughly even factor, so the shares hold.
//
//   node tests/bench/wasm-size.mjs --by-module FILE.wasm [N]
//
// charges every function to the module of ours its name mentions first, generic code included:
// tachys building a view of `components::connection` counts for that component. That needs
// names with their generic arguments, which only the v0 symbol mangling keeps; see
// scripts/wasm-by-module.sh, which builds such a file.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function leb(buf, at) {
  let result = 0, shift = 0, byte;
  do { byte = buf[at++]; result += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
  return [result, at];
}

/** Rust legacy mangling (`_ZN4core3fmt5write17h…E`) to `core::fmt::write`; others unchanged. */
export function demangle(name) {
  if (!name.startsWith('_ZN')) return name.replace(/::h[0-9a-f]{16}$/, '');
  const parts = [];
  let i = 3;
  while (i < name.length && name[i] !== 'E') {
    let n = 0;
    while (/[0-9]/.test(name[i])) n = n * 10 + Number(name[i++]);
    if (!n) break;
    parts.push(name.slice(i, i + n));
    i += n;
  }
  if (/^h[0-9a-f]{16}$/.test(parts[parts.length - 1] ?? '')) parts.pop();
  return parts.join('::')
    .replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$u20\$/g, ' ').replace(/\$RF\$/g, '&')
    .replace(/\$C\$/g, ',').replace(/\$u7b\$/g, '{').replace(/\$u7d\$/g, '}').replace(/\.\./g, '::');
}

/** The crate a function is charged to: the first path segment (an impl's type for `<T as Trait>`). */
export function crateOf(name) {
  // v0 mangling (`_RNv…Cs<hash>_4core…`), which the standard library ships with: the first crate root.
  const v0 = name.startsWith('_R') && name.match(/C(?:s[0-9A-Za-z]*_)?(\d+)([A-Za-z_]\w*)/);
  if (v0) return v0[2].slice(0, Number(v0[1]));
  const bare = name.replace(/^_(?=<)/, '').replace(/^([<&\s]|mut\s|dyn\s|impl\s)+/g, '');
  const m = bare.match(/^([A-Za-z_][A-Za-z0-9_]*)::/);
  return m ? m[1] : name.startsWith('<') ? 'generic impls' : 'unnamed / glue';
}

export function analyse(bytes) {
  let at = 8, imports = 0, codeSizes = [], dataBytes = 0, total = bytes.length;
  const names = new Map();
  const sections = {};
  while (at < bytes.length) {
    const id = bytes[at++];
    let size; [size, at] = leb(bytes, at);
    const end = at + size;
    if (id === 2) { // imports: their function indices come first
      let [count, p] = leb(bytes, at);
      for (let k = 0; k < count; k++) {
        let len; [len, p] = leb(bytes, p); p += len; [len, p] = leb(bytes, p); p += len;
        const kind = bytes[p++];
        if (kind === 0) { imports++; [, p] = leb(bytes, p); }
        else if (kind === 1) { p++; const flags = bytes[p++]; [, p] = leb(bytes, p); if (flags & 1) [, p] = leb(bytes, p); }
        else if (kind === 2) { const flags = bytes[p++]; [, p] = leb(bytes, p); if (flags & 1) [, p] = leb(bytes, p); }
        else if (kind === 3) { p += 2; }
        else { p += 2; }
      }
    } else if (id === 10) {
      let [count, p] = leb(bytes, at);
      for (let k = 0; k < count; k++) { let len; [len, p] = leb(bytes, p); codeSizes.push(len); p += len; }
    } else if (id === 11) {
      dataBytes = size;
    } else if (id === 0) {
      let [len, p] = leb(bytes, at);
      const name = new TextDecoder().decode(bytes.subarray(p, p + len)); p += len;
      sections[`custom ${name}`] = size;
      if (name === 'name') {
        while (p < end) {
          const sub = bytes[p++];
          let subSize; [subSize, p] = leb(bytes, p);
          const subEnd = p + subSize;
          if (sub === 1) {
            let count; [count, p] = leb(bytes, p);
            for (let k = 0; k < count; k++) {
              let index, n; [index, p] = leb(bytes, p); [n, p] = leb(bytes, p);
              names.set(index, new TextDecoder().decode(bytes.subarray(p, p + n))); p += n;
            }
          }
          p = subEnd;
        }
      }
    }
    sections[id] = (sections[id] ?? 0) + size;
    at = end;
  }
  const functions = codeSizes.map((size, k) => ({ name: demangle(names.get(imports + k) ?? `func[${imports + k}]`), size }));
  const crates = new Map();
  for (const f of functions) crates.set(crateOf(f.name), (crates.get(crateOf(f.name)) ?? 0) + f.size);
  crates.set('(data section: strings, tables)', dataBytes);
  const code = codeSizes.reduce((a, b) => a + b, 0);
  return {
    total, code, dataBytes, named: names.size > 0,
    // Function index (imports first) to code bytes, for tools that see indices (traces).
    codeSize: (index) => codeSizes[index - imports],
    crates: [...crates].map(([name, size]) => ({ name, size })).sort((x, y) => y.size - x.size),
    functions: functions.sort((x, y) => y.size - x.size),
  };
}

const OUR_PATH = /mqtt_web(?:\[[0-9a-f]+\])?::([A-Za-z_]\w*)(?:::([A-Za-z_]\w*))?/;

/** Code bytes per module of ours (two path segments), generic instances charged to the module
 * whose item they are instantiated for; functions that mention none of ours go to their crate. */
export function byModule(a) {
  const modules = new Map();
  for (const f of a.functions) {
    const m = f.name.match(OUR_PATH);
    // v0 names carry crate hashes (`core[1a2b…]::fmt`) and start impls with `<`: charge those
    // to the first crate named.
    const bare = f.name.replace(/\[[0-9a-f]+\]/g, '').replace(/^([<&\s]|mut\s|dyn\s|impl\s)+/g, '');
    const key = m ? `mqtt_web::${m[1]}${m[2] ? `::${m[2]}` : ''}` : crateOf(bare);
    modules.set(key, (modules.get(key) ?? 0) + f.size);
  }
  return [...modules].map(([name, size]) => ({ name, size })).sort((x, y) => y.size - x.size);
}

/** Markdown tables of the `n` largest crates and functions. */
export function report(file, n = 10) {
  const a = analyse(readFileSync(file));
  const pct = (x) => `${((100 * x) / (a.code + a.dataBytes)).toFixed(1)} %`;
  const lines = [`${file}: ${a.total.toLocaleString('en-US')} bytes (code ${a.code.toLocaleString('en-US')}, data ${a.dataBytes.toLocaleString('en-US')})${a.named ? '' : ' — no name section: functions unnamed'}`,
    '| crate | bytes | share |', '|---|---|---|',
    ...a.crates.slice(0, n).map((c) => `| ${c.name} | ${c.size.toLocaleString('en-US')} | ${pct(c.size)} |`),
    '', '| function | bytes |', '|---|---|',
    ...a.functions.slice(0, n).map((f) => `| \`${f.name.slice(0, 110).replace(/\|/g, '\\|')}\` | ${f.size.toLocaleString('en-US')} |`)];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--by-module') {
    const a = analyse(readFileSync(process.argv[3]));
    const n = Number(process.argv[4] ?? 30);
    console.log(`${process.argv[3]}: code ${a.code.toLocaleString('en-US')} bytes`);
    console.log('| module (generic code charged to whom it is for) | bytes | share |\n|---|---|---|');
    for (const m of byModule(a).slice(0, n)) {
      console.log(`| ${m.name} | ${m.size.toLocaleString('en-US')} | ${((100 * m.size) / a.code).toFixed(1)} % |`);
    }
  } else {
    console.log(report(process.argv[2], Number(process.argv[3] ?? 10)));
  }
}

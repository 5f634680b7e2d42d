// What the release build's post-build hook (scripts/inline-glue.mjs) takes out of the
// wasm-bindgen output because nothing can call it. Leptos pulls in `wasm-streams` (through
// its server-function client, which a client-side app never uses), and that crate exports
// three JS classes. An export is a root for every optimiser, so their code stayed in the
// module and their classes in the glue: about 4 KB of wasm and 4 KB of script. Here a
// class the rest of the glue never names goes, with the module's exports only it called;
// wasm-opt then drops the code they alone reached, and the glue loses the imports the
// module no longer has.

/**
 * The glue without its classes that nothing else in it names, and the wasm exports that
 * only those classes called. A class is kept if its name, or one of the exports it calls,
 * is used anywhere else.
 */
export function pruneUnusedClasses(glue) {
  const dropped = { classes: [], exports: [] };
  for (const [, name] of glue.matchAll(/^(?:export )?class (\w+) \{$/gm)) {
    const pieces = [
      new RegExp(`^(?:export )?class ${name} \\{\\n[\\s\\S]*?^\\}\\n`, 'm'),
      new RegExp(`^if \\(Symbol\\.dispose\\) ${name}\\.prototype\\[Symbol\\.dispose\\] = .*\\n`, 'm'),
      new RegExp(`^const ${name}Finalization = [\\s\\S]*?;\\n`, 'm'),
    ];
    let rest = glue;
    let removed = '';
    for (const piece of pieces) {
      rest = rest.replace(piece, (found) => {
        removed += found;
        return '';
      });
    }
    if (new RegExp(`\\b${name}\\b`).test(rest)) continue;
    const calls = [...new Set([...removed.matchAll(/\bwasm\.(\w+)/g)].map((m) => m[1]))];
    if (calls.some((call) => new RegExp(`\\bwasm\\.${call}\\b`).test(rest))) continue;
    glue = rest;
    dropped.classes.push(name);
    dropped.exports.push(...calls);
  }
  return { glue, ...dropped };
}

/**
 * The glue without the import functions the module does not import (`imported`: their
 * names). They are the entries of the one object `__wbg_get_imports` builds, each from a
 * line `<indent>name: function…` to the next line at that indent that closes it.
 */
export function pruneImports(glue, imported) {
  const object = glue.match(/^([ \t]*)const import0 = \{\n([\s\S]*?)^\1\};\n/m);
  if (!object) throw new Error('prune-glue: no import object found in the glue');
  const entries = object[2].replace(
    /^([ \t]+)(\w+): function[^\n]*\n(?:(?!\1\S)[^\n]*\n)*?\1\}[^\n]*,\n/gm,
    (entry, _indent, name) => (imported.has(name) ? entry : ''),
  );
  const left = new Set([...entries.matchAll(/^[ \t]+(\w+): function/gm)].map((m) => m[1]));
  const missing = [...imported].filter((name) => !left.has(name));
  if (missing.length) throw new Error(`prune-glue: imports the glue would no longer give: ${missing.join(', ')}`);
  return glue.replace(object[2], () => entries);
}

/** A wasm module's bytes without the exports named in `names` (every other byte the same). */
export function dropExports(bytes, names) {
  const drop = new Set(names);
  const leb = (at) => {
    let value = 0;
    let shift = 0;
    let byte;
    do {
      byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return [value, at];
  };
  const uleb = (n) => {
    const out = [];
    do {
      let byte = n & 0x7f;
      n = Math.floor(n / 128);
      if (n) byte |= 0x80;
      out.push(byte);
    } while (n);
    return Buffer.from(out);
  };
  const parts = [bytes.subarray(0, 8)];
  let found = 0;
  for (let at = 8; at < bytes.length; ) {
    const id = bytes[at];
    const [size, start] = leb(at + 1);
    const end = start + size;
    if (id !== 7) {
      parts.push(bytes.subarray(at, end));
      at = end;
      continue;
    }
    // The export section: a count, then (name, kind byte, index) each.
    let [count, q] = leb(start);
    const kept = [];
    for (let i = 0; i < count; i++) {
      const from = q;
      let length;
      [length, q] = leb(q);
      const name = Buffer.from(bytes.subarray(q, q + length)).toString('utf8');
      q += length + 1;
      [, q] = leb(q);
      if (drop.has(name)) found++;
      else kept.push(bytes.subarray(from, q));
    }
    const body = Buffer.concat([uleb(kept.length), ...kept]);
    parts.push(Buffer.from([7]), uleb(body.length), body);
    at = end;
  }
  if (found !== drop.size) throw new Error(`prune-glue: ${drop.size - found} of the exports to drop are not in the module`);
  return Buffer.concat(parts);
}

/**
 * Tokenizer encode throughput, one thread: ours vs the Rust binding (`@anush008/tokenizers`, per-document
 * `encode`) vs `@huggingface/tokenizers` (pure JS), on a few MB of real text from this machine (licenses, man
 * pages, Python sources). Also checks that our ids equal the Rust ids on every document. Then our encode over the
 * 100,000 hostile strings of spec/tokenizer/differential.spec.ts (same alphabets and seed; that spec checks
 * their ids, this bench their time): the total and the slowest single string, where a regex that backtracks
 * badly on some input would show.
 *
 * Run: `npx tsx bench/tokenizer.ts [path/to/tokenizer.json] [MB]` (default: the shared Falcon file, ~4 MB).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Tokenizer as HfJsTokenizer } from '@huggingface/tokenizers';
import { Tokenizer } from '../src/tokenizer/index.ts';
import fc from 'fast-check';
import { allArbitraries } from '../spec/tokenizer/alphabets.ts';

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tokenizerPath = process.argv[2] ?? path.resolve(repoRoot, '../shared/tokenizers/falcon/tokenizer.json');
const targetMB = Number(process.argv[3] ?? 4);

/** Collect up to `budget` bytes of documents from a list of files. */
function collect(files: string[], budget: number, read: (f: string) => string): string[] {
  const docs: string[] = [];
  let total = 0;
  for (const f of files) {
    if (total >= budget) break;
    try {
      const text = read(f);
      if (text.length === 0) continue;
      docs.push(text);
      total += Buffer.byteLength(text);
    } catch {
      // unreadable file: skip
    }
  }
  return docs;
}

function walk(dir: string, ext: string, out: string[] = [], limit = 20000): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const e of entries) {
    if (out.length >= limit) break;
    const p = path.join(dir, e);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) walk(p, ext, out, limit);
    else if (p.endsWith(ext)) out.push(p);
  }
  return out;
}

const budget = (targetMB * 1e6) / 3;
const licenses = collect(walk('/usr/share/common-licenses', ''), budget, (f) => readFileSync(f, 'utf8'));
const man = collect(walk('/usr/share/man/man1', '.gz', [], 4000), budget, (f) => gunzipSync(readFileSync(f)).toString('utf8'));
const pyDirs = readdirSync('/usr/lib').filter((d) => /^python3/.test(d)).map((d) => path.join('/usr/lib', d));
const py = collect(pyDirs.flatMap((d) => walk(d, '.py', [], 4000)), budget, (f) => readFileSync(f, 'utf8'));
const docs = [...licenses, ...man, ...py];
const bytes = docs.reduce((s, d) => s + Buffer.byteLength(d), 0);
const MB = bytes / 1e6;

console.log(`tokenizer: ${tokenizerPath}`);
console.log(`corpus: ${docs.length} documents, ${MB.toFixed(2)} MB (licenses ${licenses.length}, man pages ${man.length}, Python sources ${py.length})`);

const json = readFileSync(tokenizerPath, 'utf8');
const rows: { name: string; seconds: number; tokens: number }[] = [];

async function time(name: string, f: () => Promise<number> | number): Promise<void> {
  const t0 = performance.now();
  const tokens = await f();
  rows.push({ name, seconds: (performance.now() - t0) / 1000, tokens });
}

// Ours: a fresh instance (empty cache, cold JIT), then the same instance again (warm cache).
const ours = Tokenizer.fromJSON(json, tokenizerPath);
const ourIds: number[][] = [];
await time('ours (fresh instance)', () => {
  let n = 0;
  for (const d of docs) {
    const ids = ours.encode(d);
    ourIds.push(ids);
    n += ids.length;
  }
  return n;
});
await time('ours (warm cache)', () => docs.reduce((n, d) => n + ours.encode(d).length, 0));

// Rust binding: per-document async encode (what a Node user of the binding would do).
const { Tokenizer: RustTokenizer } = require('@anush008/tokenizers');
const rust = RustTokenizer.fromString(json);
let mismatches = 0;
await time('Rust binding @anush008/tokenizers', async () => {
  let n = 0;
  for (let i = 0; i < docs.length; i++) {
    const ids: number[] = (await rust.encode(docs[i], null, { addSpecialTokens: false })).getIds();
    n += ids.length;
    if (ids.length !== ourIds[i].length || ids.some((v, k) => v !== ourIds[i][k])) mismatches++;
  }
  return n;
});

// Pure JS port (transformers.js).
const hf = new HfJsTokenizer(JSON.parse(json), {});
await time('@huggingface/tokenizers (pure JS)', () => docs.reduce((n, d) => n + hf.encode(d, { add_special_tokens: false }).ids.length, 0));

const oursFresh = rows[0].seconds;
console.log('');
console.log('| encoder | seconds | MB/s | tokens | ours (fresh) is × faster |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.name} | ${r.seconds.toFixed(2)} | ${(MB / r.seconds).toFixed(2)} | ${r.tokens} | ${(r.seconds / oursFresh).toFixed(2)} |`);
console.log('');
console.log(`documents whose ids differ from the Rust binding: ${mismatches} of ${docs.length}`);

// The differential spec's hostile strings (10 alphabets × 10,000, seed 20240601), encoded by a fresh instance.
const hostile = allArbitraries().flatMap(([, arb]) => fc.sample(arb, { seed: 20240601, numRuns: 10_000 }));
const fresh = Tokenizer.fromJSON(json, tokenizerPath);
let slowest = 0;
let slowestText = '';
const h0 = performance.now();
for (const text of hostile) {
  const t = performance.now();
  fresh.encode(text);
  const dt = performance.now() - t;
  if (dt > slowest) [slowest, slowestText] = [dt, text];
}
const hostileSeconds = (performance.now() - h0) / 1000;
console.log(
  `hostile strings (spec/tokenizer/differential.spec.ts): ${hostile.length} in ${hostileSeconds.toFixed(2)} s ` +
    `(${(hostile.length / hostileSeconds).toFixed(0)} strings/s); slowest ${slowest.toFixed(1)} ms, ${slowestText.length} chars`,
);

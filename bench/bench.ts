/**
 * `npm run bench`: single-thread decode and prefill tokens/s of the `reference` and `wasm` backends on the
 * synthetic "small" checkpoint (bench/synthetic.ts; made on demand into models/synthetic-small/), the wasm
 * memory-bandwidth ceiling measured in the same run (a streaming-read kernel over the model's own weight bytes),
 * and decode weight bytes/s as a fraction of it. One table, then the tokenizer bench (bench/tokenizer.ts) if present.
 *
 * Options: `--decode N` (wasm decode tokens per round, default 48), `--rounds N` (default 4; each round measures
 * the ceiling then decode, and the table shows the best of each), `--prefill N` (default 256), `--ref-decode N`
 * (default 2), `--ref-prefill N` (default 8), `--no-reference`, `--no-tokenizer`.
 * Anchor (docs/perf-notes.md, llama.cpp native AVX-512 bf16, same shape, this machine kind):
 * decode 40.7 tok/s on 1 thread (49.4 on 2); prefill of 256 tokens 167 tok/s on 1 thread (302 on 2).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, type Model } from '../src/index.ts';
import type { WasmModel } from '../src/wasm/model.ts';
import { ensureSyntheticSmall } from './synthetic.ts';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const DECODE = opt('decode', 48);
const PREFILL = opt('prefill', 256);
const REF_DECODE = opt('ref-decode', 2);
const REF_PREFILL = opt('ref-prefill', 8);
const ROUNDS = opt('rounds', 4);

function ids(n: number, V: number, seed = 1): number[] {
  let s = seed;
  return Array.from({ length: n }, () => (s = (s * 1103515245 + 12345) % 2147483648) % V);
}

/** Seconds per call of `fn`, best of `reps`. */
async function best(reps: number, fn: () => unknown): Promise<number> {
  let b = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    b = Math.min(b, (performance.now() - t0) / 1000);
  }
  return b;
}

async function decodeRate(m: Model, n: number, warm: number): Promise<number> {
  const V = m.config.vocabSize;
  const s = m.createState();
  await m.prefill(s, ids(4, V, 7));
  for (let i = 0; i < warm; i++) await m.step(s, i + 1);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await m.step(s, (i * 31) % V);
  return n / ((performance.now() - t0) / 1000);
}

async function prefillRate(m: Model, n: number, reps: number): Promise<number> {
  const p = ids(n, m.config.vocabSize, 3);
  return n / (await best(reps, () => m.prefill(m.createState(), p)));
}

/** GB/s of the wasm streaming-read kernel over the model's weight bytes (best of 3). */
function ceiling(m: WasmModel): number {
  const k = (m as unknown as { k: { streamRead(p: number, b: number): number } }).k;
  const start = m.plan.layers[0].norm;
  const bytes = Math.floor(m.plan.weightBytes / 64) * 64;
  let b = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    k.streamRead(start, bytes);
    b = Math.min(b, (performance.now() - t0) / 1000);
  }
  return bytes / b / 1e9;
}

/** Stored bytes per weight of each engine dtype (q8/q4: quants + one f32 scale per 32 weights). */
const BYTES_PER_WEIGHT: Record<string, number> = { f32: 4, bf16: 2, f16: 2, q8: 1.125, q4: 0.625 };

/** Weight bytes a decode step streams: every matrix, with one embedding row instead of the table. */
function bytesPerToken(m: WasmModel): number {
  const size = (x: { rows: number; cols: number; dtype: string }) => x.rows * x.cols * BYTES_PER_WEIGHT[x.dtype];
  let n = 0;
  for (const l of m.plan.layers) n += size(l.inProj) + size(l.xProj) + size(l.dtProj) + size(l.outProj);
  const e = m.plan.embeddings;
  n += size(e) / e.rows + size(m.plan.lmHead);
  return n;
}

const dir = ensureSyntheticSmall();
const rows: string[][] = [];
const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const CONFIGS: { dtype: 'bf16' | 'q8' | 'q4'; threads: number }[] = [];
for (const dtype of ['bf16', 'q8', 'q4'] as const) for (const threads of [1, 2]) CONFIGS.push({ dtype, threads });
const ANCHOR: Record<string, [string, string]> = { bf16: ['40.7 / 49.4', '167 / 302'], q8: ['57.9 / 54.0', '142 / 186'], q4: ['52.0 / 51.9', '156 / 204'] };

// The 2 cores are shared with other work, which swings single runs by ±30%: each configuration is measured in
// rounds, each a ceiling run then a decode run, and the table reports the best of each; the ceiling is the best
// 1-thread streaming read of the whole run.
let finite = true;
let ceil = 0;
let perTokBf16 = 0;
const ceils: number[] = [];
const measured: { label: string; dec: number; decMedian: number; pre: number; perTok: number }[] = [];
for (const cfg of CONFIGS) {
  const m = (await loadModel(dir, { backend: 'wasm', dtype: cfg.dtype, threads: cfg.threads })) as WasmModel;
  const perTok = bytesPerToken(m);
  if (cfg.dtype === 'bf16') perTokBf16 = perTok;
  // Warm the tiers: V8 compiles wasm lazily and tiers hot functions up.
  await decodeRate(m, 4, 2);
  await prefillRate(m, 64, 1);
  const decs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    ceils.push(ceiling(m));
    decs.push(await decodeRate(m, DECODE, 2));
  }
  const pre = await prefillRate(m, PREFILL, 2);
  finite &&= (await m.forward(ids(3, m.config.vocabSize))).every((v) => Number.isFinite(v));
  await m.dispose();
  measured.push({
    label: `wasm ${cfg.dtype}, ${cfg.threads} thread${cfg.threads > 1 ? 's' : ''}`,
    dec: Math.max(...decs),
    decMedian: [...decs].sort((x, y) => x - y)[Math.floor(decs.length / 2)],
    pre,
    perTok,
  });
}
ceil = Math.max(...ceils);
for (const r of measured) {
  const gbs = (r.dec * r.perTok) / 1e9;
  const dtype = r.label.split(' ')[1].replace(',', '');
  rows.push([r.label, fmt(r.dec), fmt(r.decMedian), fmt(r.pre), fmt(gbs), fmt((100 * gbs) / ceil, 0) + '%', ...(r.label.endsWith('1 thread') ? ANCHOR[dtype] : ['', ''])]);
}
const perTok = perTokBf16;

if (!args.includes('--no-reference')) {
  const ref = await loadModel(dir, { backend: 'reference' });
  const rdec = await decodeRate(ref, REF_DECODE, 0);
  const rpre = await prefillRate(ref, REF_PREFILL, 1);
  const rGBs = (rdec * perTok) / 1e9; // the bytes the same step would stream in bf16 (the reference reads f32: 2×)
  rows.push([`reference (f32, ${REF_DECODE}/${REF_PREFILL} tok)`, fmt(rdec, 2), '', fmt(rpre, 2), fmt(rGBs, 2), fmt((100 * rGBs) / ceil, 1) + '%', '', '']);
  await ref.dispose();
}
const head = ['engine', 'decode tok/s', 'median', `prefill tok/s (${PREFILL})`, 'decode GB/s', 'of 1-thread ceiling', 'llama.cpp decode 1/2 thr', 'llama.cpp prefill 1/2 thr'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => '| ' + r.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ') + ' |';
const out = [
  `synthetic small (dModel 1024, 24 layers, dInner 2048, dState 16, dtRank 64, vocab 65024, bf16): ` +
    `${(perTok / 1e6).toFixed(0)} MB of bf16 weights streamed per decoded token (q8 ${(measured[2].perTok / 1e6).toFixed(0)}, q4 ${(measured[4].perTok / 1e6).toFixed(0)}); logits finite: ${finite}`,
  `wasm streaming-read ceiling, 1 thread, same run: ${fmt(ceil)} GB/s (best of ${ceils.length} runs) → bf16 decode bound ${fmt((ceil * 1e9) / perTok)} tok/s ` +
    `(a 2-thread ceiling is not measured here; docs/perf-notes.md saw 32.7–35.8 GB/s for 2-thread wasm bf16 reads)`,
  `decode: best and median of ${ROUNDS} rounds of ${DECODE} tokens; llama.cpp anchors: docs/perf-notes.md (native AVX-512, same shape)`,
  line(head),
  '|' + widths.map((w, i) => (i ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|',
  ...rows.map(line),
];
process.stdout.write(out.join('\n') + '\n');

const tok = join(here, 'tokenizer.ts');
if (!args.includes('--no-tokenizer') && existsSync(tok)) {
  process.stdout.write('\n');
  spawnSync(process.execPath, ['--import', 'tsx', tok], { stdio: 'inherit', cwd: resolve(here, '..') });
}

/**
 * `npm run bench`: one table of decode and prefill tokens/s and peak RSS of the wasm backend, bf16 / q8 / q4 on
 * 1 and 2 threads, on the synthetic "small" shape (and the 7B shape with `--7b`), with the memory-bandwidth
 * ceiling of 1 and 2 threads measured in the same run, each decode rate as a fraction of the ceiling at its
 * thread count, and the ratio to llama.cpp at the same precision. Then the tokenizer bench (bench/tokenizer.ts).
 *
 * Every configuration runs in its own child process (bench/bench-row.ts), and so does the ceiling
 * (bench/ceiling.ts, before the rows and again after them; the table uses the best of the two). A row whose
 * child fails (e.g. a model too large to load) shows the error's first line instead of numbers.
 *
 * Options: `--decode N` (decode tokens per round, small shape, default 48), `--rounds N` (default 4),
 * `--prefill N` (default 256), `--ref-decode N` (2), `--ref-prefill N` (8), `--no-reference`, `--no-tokenizer`,
 * `--7b` (the 7B shape, bf16/q8/q4 on 2 threads; models/synthetic-7b, 14.5 GB, written first if absent),
 * `--7b-all` (the 7B on 1 thread too), `--decode7b N` (6), `--rounds7b N` (2), `--prefill7b N` (64),
 * `--passes N` (ceiling passes per thread count, 5), `--quiet-wait S` (before each child, wait up to S seconds,
 * default 20, for the rest of the machine to go idle), `--retries N` (a small-shape row timed while other work took
 * over 0.25 of a core is run again up to N times, default 1, keeping the least disturbed attempt).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from './bench-row.ts';
import { ensureSynthetic7B, ensureSyntheticSmall } from './synthetic.ts';
import { machineBusy } from './cpu.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const DECODE = opt('decode', 48);
const ROUNDS = opt('rounds', 4);
const PREFILL = opt('prefill', 256);
const REF_DECODE = opt('ref-decode', 2);
const REF_PREFILL = opt('ref-prefill', 8);
const DECODE_7B = opt('decode7b', 6);
const ROUNDS_7B = opt('rounds7b', 2);
const PREFILL_7B = opt('prefill7b', 64);
const PASSES = opt('passes', 5);
const WITH_7B = args.includes('--7b') || args.includes('--7b-all');
const QUIET_WAIT = opt('quiet-wait', 20);
const RETRIES = opt('retries', 1);
const BUSY = 0.25;

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * The 2 cores are shared with other work (tests, builds), which takes a core for minutes at a time and more than
 * halves a 2-thread row. Waits, up to `QUIET_WAIT` seconds, for a 1-second window in which the machine (this
 * process idles meanwhile) used under 0.1 of a core.
 */
function waitQuiet(): void {
  for (let t = 0; t < QUIET_WAIT; t++) {
    const b0 = machineBusy();
    sleep(1000);
    const b1 = machineBusy();
    if (b0 === null || b1 === null || b1 - b0 < 0.1) return;
  }
}

type Shape = 'small' | '7B';
type DType = 'bf16' | 'q8' | 'q4';

/**
 * llama.cpp anchors (docs/perf-notes.md: native AVX-512 build, same shapes, this machine kind), tokens/s, by
 * shape, threads and precision (bf16, Q8_0, Q4_0). Prefill of 256 tokens for the small shape, 64 for the 7B.
 */
const LLAMA: Record<string, { decode: number; prefill: number }> = {
  'small 1 bf16': { decode: 40.7, prefill: 167 },
  'small 1 q8': { decode: 57.9, prefill: 142 },
  'small 1 q4': { decode: 52.0, prefill: 156 },
  'small 2 bf16': { decode: 49.4, prefill: 302 },
  'small 2 q8': { decode: 54.0, prefill: 186 },
  'small 2 q4': { decode: 51.9, prefill: 204 },
  '7B 2 bf16': { decode: 1.31, prefill: 7.35 },
  '7B 2 q8': { decode: 3.58, prefill: 10.9 },
};
const LLAMA_PREFILL: Record<Shape, number> = { small: 256, '7B': 64 };

/** Runs `node --import tsx <script> …args` in the repo root; returns its last stdout line parsed, or an error. */
function child<T>(script: string, argv: string[], what: string): T | { error: string } {
  waitQuiet();
  process.stderr.write(`bench: ${what} …\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, script), ...argv], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    const parsed = JSON.parse(last) as T | { error: string };
    if (r.status === 0 || (parsed as { error?: string }).error) return parsed;
  } catch {
    // no JSON line: the child died (crash, out of memory, killed); fall through to its stderr
  }
  const err = (r.stderr ?? '').split('\n').find((l) => /error|abort|fatal|killed/i.test(l)) ?? (r.stderr ?? '').trim().split('\n').pop();
  return { error: err || (r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`) };
}

interface Ceiling {
  t1: number;
  t2: number;
  t1Passes: number[];
  t2Passes: number[];
  bytes: number;
  otherLoad: number | null;
}
const ceilings: Ceiling[] = [];
const measureCeiling = (when: string) => {
  const c = child<Ceiling>('ceiling.ts', ['--passes', String(PASSES)], `bandwidth ceiling (${when})`);
  if ('error' in c) process.stderr.write(`bench: ceiling failed: ${c.error}\n`);
  else ceilings.push(c);
};

interface Config {
  shape: Shape;
  dir: string;
  backend: 'wasm' | 'reference';
  dtype: DType | 'f32';
  threads: number;
  argv: string[];
}
const configs: Config[] = [];
const small = ensureSyntheticSmall();
for (const dtype of ['bf16', 'q8', 'q4'] as const) {
  for (const threads of [1, 2]) {
    const argv = ['--decode', DECODE, '--rounds', ROUNDS, '--prefill', PREFILL].map(String);
    configs.push({ shape: 'small', dir: small, backend: 'wasm', dtype, threads, argv });
  }
}
if (!args.includes('--no-reference')) {
  const argv = ['--decode', REF_DECODE, '--rounds', 1, '--prefill', REF_PREFILL, '--prefill-reps', 1, '--warm-decode', 0, '--warm-prefill', 0].map(String);
  configs.push({ shape: 'small', dir: small, backend: 'reference', dtype: 'f32', threads: 1, argv });
}
if (WITH_7B) {
  const big = ensureSynthetic7B();
  const threadCounts = args.includes('--7b-all') ? [1, 2] : [2];
  for (const dtype of ['bf16', 'q8', 'q4'] as const) {
    for (const threads of threadCounts) {
      const argv = ['--decode', DECODE_7B, '--rounds', ROUNDS_7B, '--prefill', PREFILL_7B, '--prefill-reps', 1, '--warm-decode', 1, '--warm-prefill', 8].map(String);
      configs.push({ shape: '7B', dir: big, backend: 'wasm', dtype, threads, argv });
    }
  }
}

measureCeiling('before the rows');
const results: { cfg: Config; row: Row | { error: string } }[] = [];
for (const cfg of configs) {
  const label = `${cfg.shape} ${cfg.backend === 'wasm' ? `${cfg.dtype}, ${cfg.threads} thr` : 'reference f32'}`;
  const argv = ['--dir', cfg.dir, '--backend', cfg.backend, '--dtype', cfg.dtype === 'f32' ? 'auto' : cfg.dtype, '--threads', String(cfg.threads), ...cfg.argv];
  let row = child<Row>('bench-row.ts', argv, label);
  // Each 7B load reads 14.5 GB: those rows are never repeated.
  for (let r = 0; r < RETRIES && cfg.shape === 'small' && !('error' in row) && (row.otherLoad ?? 0) > BUSY; r++) {
    const again = child<Row>('bench-row.ts', argv, `${label}, again: other work took ${row.otherLoad?.toFixed(2)} cores`);
    if (!('error' in again) && (again.otherLoad ?? 0) < (row.otherLoad ?? 0)) row = again;
  }
  results.push({ cfg, row });
}
measureCeiling('after the rows');

const ceil = (threads: number) => Math.max(0, ...ceilings.map((c) => (threads === 1 ? c.t1 : c.t2)));
const fmt = (x: number | null | undefined, d = 1) => (x != null && Number.isFinite(x) ? x.toFixed(d) : '—');
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '—');
const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '');

// Measured ratios the targets are checked against, by `${shape} ${threads} ${dtype}`.
const decodeVsLlama: Record<string, number> = {};
const prefillVsLlama: Record<string, number> = {};
const ofCeiling: Record<string, number> = {};
const decodeRate: Record<string, number> = {};

const head = ['engine', 'decode tok/s', 'median', 'of ceiling', 'llama.cpp decode', 'ratio', 'prefill tok/s', 'llama.cpp prefill', 'ratio', 'peak RSS GB', 'load s', 'other load'];
const rows: string[][] = [];
const notes: string[] = [];
let finite = true;
for (const { cfg, row } of results) {
  const label = cfg.backend === 'wasm' ? `wasm ${cfg.shape} ${cfg.dtype}, ${cfg.threads} thread${cfg.threads > 1 ? 's' : ''}` : `reference ${cfg.shape} f32 (${REF_DECODE}/${REF_PREFILL} tok)`;
  if ('error' in row) {
    rows.push([label, `failed: ${row.error.split('\n')[0]}`, '', '', '', '', '', '', '', '', '', '']);
    continue;
  }
  finite &&= row.finite;
  for (const n of row.notices) notes.push(`${label}: ${n}`);
  const key = `${cfg.shape} ${cfg.threads} ${cfg.dtype}`;
  const llama = cfg.backend === 'wasm' ? LLAMA[key] : undefined;
  const frac = row.bytesPerToken != null ? (row.decode * row.bytesPerToken) / (ceil(cfg.threads) * 1e9) : NaN;
  if (cfg.backend === 'wasm') {
    ofCeiling[key] = frac;
    decodeRate[key] = row.decode;
    if (llama) decodeVsLlama[key] = row.decode / llama.decode;
    if (llama && row.prefillTokens === LLAMA_PREFILL[cfg.shape]) prefillVsLlama[key] = row.prefill / llama.prefill;
  }
  const small = row.decode < 10 ? 2 : 1;
  rows.push([
    label,
    fmt(row.decode, small),
    fmt(row.decodeMedian, small),
    pct(frac),
    llama ? String(llama.decode) : '',
    llama ? ratio(row.decode / llama.decode) : '',
    `${fmt(row.prefill, row.prefill < 10 ? 2 : 1)} (${row.prefillTokens})`,
    llama ? `${llama.prefill} (${LLAMA_PREFILL[cfg.shape]})` : '',
    llama && row.prefillTokens === LLAMA_PREFILL[cfg.shape] ? ratio(row.prefill / llama.prefill) : '',
    fmt(row.peakRss / 1e9, 2),
    fmt(row.loadSeconds),
    row.otherLoad === null ? '—' : `${row.otherLoad.toFixed(2)} cores`,
  ]);
}

const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => '| ' + r.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ') + ' |';

const shapeLines: string[] = [];
for (const shape of ['small', '7B'] as const) {
  const ok = results.filter((r) => r.cfg.shape === shape && r.cfg.backend === 'wasm' && !('error' in r.row)).map((r) => r.row as Row);
  if (!ok.length) continue;
  const c = ok[0].config;
  const perTok = (['bf16', 'q8', 'q4'] as const)
    .map((d) => {
      const r = ok.find((x) => x.dtype === d);
      return r && r.bytesPerToken ? `${d} ${(r.bytesPerToken / 1e6).toFixed(0)} MB` : null;
    })
    .filter(Boolean)
    .join(', ');
  shapeLines.push(
    `${shape}: dModel ${c.dModel}, ${c.nLayer} layers, dInner ${c.dInner}, dState ${c.dState}, dtRank ${c.dtRank}, vocab ${c.vocabSize}; weight bytes per decoded token: ${perTok}`,
  );
}
const ceilLine = ceilings.length
  ? `memory-bandwidth ceiling (wasm SIMD streaming read of ${(ceilings[0].bytes / 2 ** 30).toFixed(0)} GiB, best of ${PASSES} passes, ` +
    `${ceilings.length} runs, 1 / 2 threads: ${ceilings.map((c) => `${fmt(c.t1)} / ${fmt(c.t2)} GB/s (other load ${fmt(c.otherLoad, 2)} cores)`).join(' and ')}): ` +
    `1 thread ${fmt(ceil(1))} GB/s, 2 threads ${fmt(ceil(2))} GB/s`
  : 'memory-bandwidth ceiling: not measured (the ceiling child failed), so no "of ceiling" figures';

const verdict = (x: number | undefined, goal: number, show: (x: number) => string) =>
  x === undefined || !Number.isFinite(x) ? 'not measured' : `${show(x)} ${x >= goal ? 'met' : 'not met'}`;
const targets = [
  'targets (issue 6):',
  `  small decode ≥ 1.5× llama.cpp, same precision, 2 threads: ` +
    (['bf16', 'q8', 'q4'] as const).map((d) => `${d} ${verdict(decodeVsLlama[`small 2 ${d}`], 1.5, ratio)}`).join('; '),
  `  prefill ≥ 0.75× llama.cpp, same precision and threads: ` +
    Object.keys(LLAMA)
      .filter((k) => k.startsWith('small') || WITH_7B)
      .map((k) => `${k.replace(/ (\d) /, ' $1thr ')} ${verdict(prefillVsLlama[k], 0.75, ratio)}`)
      .join('; '),
  `  7B bf16 decode ≥ 65% of the 2-thread ceiling: ${verdict(ofCeiling['7B 2 bf16'], 0.65, pct)} (of the wasm ceiling measured here)`,
  // The issue states the same target as "≈ 2.2× llama.cpp", i.e. 65% of the native 2-thread read bandwidth
  // (≈ 65 GB/s, docs/perf-notes.md): ≈ 4.5 tok/s for 14.5 GB per token, so 65% ≈ 2.9 tok/s.
  `  7B bf16 decode ≥ 65% of the native ceiling (≈ 65 GB/s → 4.5 tok/s; ≈ 2.2× llama.cpp): ` +
    verdict(decodeRate['7B 2 bf16'] === undefined ? undefined : decodeRate['7B 2 bf16'] / 4.5, 0.65, pct) +
    (decodeVsLlama['7B 2 bf16'] === undefined ? '' : ` (${ratio(decodeVsLlama['7B 2 bf16'])} llama.cpp)`),
  `  7B q8 decode ≥ 1.5 × 3.58 = 5.37 tok/s: ${verdict(decodeRate['7B 2 q8'], 5.37, (x) => `${x.toFixed(2)} tok/s`)}`,
];

const out = [
  ...shapeLines,
  ceilLine,
  `decode: best and median of ${ROUNDS} rounds of ${DECODE} tokens (7B: ${ROUNDS_7B} of ${DECODE_7B}); "of ceiling" = decode tok/s × weight bytes per token / the ceiling at the row's thread count; ` +
    `llama.cpp: docs/perf-notes.md (native AVX-512, same shape and threads; Q8_0 / Q4_0 for q8 / q4); every row in its own process; "other load": cores' worth of CPU other processes took while the row was timed (/proc/stat), ` +
    `on a 2-core machine anything near 1 means the 2-thread figures are not the engine's (each child waits up to ${QUIET_WAIT} s for an idle machine; ` +
    `a small row over ${BUSY} cores is run again up to ${RETRIES}× and the least disturbed attempt kept); logits finite: ${finite}`,
  line(head),
  '|' + widths.map((w, i) => (i ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|',
  ...rows.map(line),
  ...notes.map((n) => `notice: ${n}`),
  ...targets,
];
process.stdout.write(out.join('\n') + '\n');

const tok = join(here, 'tokenizer.ts');
if (!args.includes('--no-tokenizer') && existsSync(tok)) {
  process.stdout.write('\n');
  spawnSync(process.execPath, ['--import', 'tsx', tok], { stdio: 'inherit', cwd: root });
}

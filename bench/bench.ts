/**
 * `npm run bench`: one table of decode and prefill tokens/s and peak RSS of the wasm backend, bf16 / q8 / q4 on
 * 1 and 2 threads, on the synthetic "small" shape (and the 7B shape with `--7b`), with the read-bandwidth
 * ceilings of 1 and 2 threads measured in the same run, each decode rate as a fraction of the ceiling at its
 * thread count, and the ratio to llama.cpp at the same precision. Then the tokenizer bench (bench/tokenizer.ts).
 *
 * `--llama-cpp DIR` (a llama.cpp build, bench/llama-cpp.ts) makes it a side-by-side run: after each of this
 * project's rows, llama.cpp's `llama-bench` runs on a GGUF conversion of the same checkpoint (bf16 / Q8_0 / Q4_0)
 * with the same threads, prefill length and decode length, and the native read bandwidth (bench/native-read.c,
 * compiled here with the machine's C compiler) is measured at the start and at the end; every ratio in the table
 * is then from this one run on this CPU. Without it, the ratios are against anchors measured elsewhere (on
 * a 2-core Zen 3: `ANCHORS` below), and say so.
 *
 * Every configuration runs in its own child process (bench/bench-row.ts), and so do the ceilings (before the rows
 * and again after them; the table uses the best of the two). A row whose child fails (e.g. a model too large to
 * load) shows the error's first line instead of numbers.
 *
 * Options: `--decode N` (decode tokens per round, small shape, default 48), `--rounds N` (default 4),
 * `--prefill N` (default 256), `--ref-decode N` (2), `--ref-prefill N` (8), `--no-reference`, `--no-tokenizer`,
 * `--7b` (the 7B shape, bf16/q8/q4 on 2 threads; 14.5 GB, written first if absent), `--7b-all` (the 7B on 1 thread
 * too), `--no-small`, `--dtypes bf16,q8,q4`, `--threads 1,2` (only these rows), `--decode7b N` (6), `--rounds7b N` (2),
 * `--prefill7b N` (64), `--models DIR` (where the synthetic checkpoints live, default models/),
 * `--llama-cpp DIR`, `--baseline DIR` (another checkout of this repo, built: its bench-row runs right after each
 * row, for a before/after ratio in the same run), `--passes N` (ceiling passes per thread count, 5),
 * `--quiet-wait S` (before each child, wait up to S seconds, default 20, for the rest of the machine to go idle),
 * `--retries N` (a small-shape row timed while other work took over 0.25 of a core is run again up to N times,
 * default 1, keeping the least disturbed attempt), `--no-batch` (skip the batched-decode section, bench/batch.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from './bench-row.ts';
import { ensureSynthetic7B, ensureSyntheticSmall } from './synthetic.ts';
import { machineBusy } from './cpu.ts';
import { buildNativeRead, measureNative, type NativeCeiling } from './native.ts';
import { ensureGguf, findLlamaCpp, runLlamaBench, type LlamaCpp, type LlamaRow } from './llama-cpp.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const args = process.argv.slice(2);
const str = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const opt = (name: string, dflt: number) => Number(str(name) ?? dflt);
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
const WITH_SMALL = !args.includes('--no-small');
const QUIET_WAIT = opt('quiet-wait', 20);
const RETRIES = opt('retries', 1);
const MODELS = resolve(str('models') ?? join(root, 'models'));
const DTYPES = (str('dtypes') ?? 'bf16,q8,q4').split(',') as DType[];
const THREADS = (str('threads') ?? '1,2').split(',').map(Number);
const BASELINE = str('baseline') ? resolve(str('baseline')!) : null;
const BUSY = 0.25;

for (const d of DTYPES) if (!['bf16', 'q8', 'q4'].includes(d)) throw new Error(`bench: --dtypes: unknown precision '${d}' (bf16, q8, q4)`);
for (const t of THREADS) if (!(Number.isInteger(t) && t >= 1)) throw new Error(`bench: --threads: '${t}' is not a thread count`);
if (BASELINE && !existsSync(join(BASELINE, 'bench', 'bench-row.ts'))) throw new Error(`bench: --baseline ${BASELINE}: no bench/bench-row.ts there`);
const llama: LlamaCpp | null = str('llama-cpp') ? findLlamaCpp(str('llama-cpp')!) : null;
const nativeBin = llama ? buildNativeRead() : null;

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

/** The CPU, as `lscpu` would name it: every figure is only comparable with figures from the same CPU. */
function cpuName(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (k: string) => info.match(new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm'))?.[1]?.trim() ?? '?';
    const flags = field('flags').split(' ');
    const simd = flags.includes('avx512f') ? 'AVX-512' : flags.includes('avx2') ? 'AVX2, no AVX-512' : 'no AVX2';
    const cores = (info.match(/^processor\s*:/gm) ?? []).length;
    return `${field('model name')} (family ${field('cpu family')} model ${field('model')}, ${simd}), ${cores} cores`;
  } catch {
    return 'unknown CPU';
  }
}

/**
 * llama.cpp figures measured elsewhere, shown when no `--llama-cpp` build is given: a side-by-side run
 * (2-core AMD EPYC Zen 3, AVX2 and no AVX-512, llama.cpp c392e50 native build, 2 threads) and, for 1 thread of
 * the small shape, the same run. tokens/s; prefill of 256 tokens (small) or 64 (7B).
 */
const ANCHORS: Record<string, { decode: number; prefill: number }> = {
  'small 1 bf16': { decode: 23.4, prefill: 82.5 },
  'small 1 q8': { decode: 33.0, prefill: 79.7 },
  'small 1 q4': { decode: 47.4, prefill: 99.7 },
  'small 2 bf16': { decode: 37.3, prefill: 141.6 },
  'small 2 q8': { decode: 56.6, prefill: 175.1 },
  'small 2 q4': { decode: 62.7, prefill: 145.6 },
  '7B 2 bf16': { decode: 1.5, prefill: 5.8 },
  '7B 2 q8': { decode: 3.0, prefill: 7.2 },
  '7B 2 q4': { decode: 4.0, prefill: 8.1 },
};

/** Runs `node --import tsx <script> …args` in `cwd`; returns its last stdout line parsed, or an error. */
function child<T>(script: string, argv: string[], what: string, cwd = root): T | { error: string } {
  waitQuiet();
  process.stderr.write(`bench: ${what} …\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...argv], {
    cwd,
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
  otherLoad: number | null;
}
const ceilings: Ceiling[] = [];
const natives: NativeCeiling[] = [];
const measureCeilings = (when: string) => {
  const c = child<Ceiling>(join(here, 'ceiling.ts'), ['--passes', String(PASSES)], `wasm read ceiling (${when})`);
  if ('error' in c) process.stderr.write(`bench: wasm ceiling failed: ${c.error}\n`);
  else ceilings.push(c);
  if (nativeBin) {
    waitQuiet();
    process.stderr.write(`bench: native read ceiling (${when}) …\n`);
    natives.push(measureNative(nativeBin, 1024, PASSES));
  }
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
if (WITH_SMALL) {
  const small = ensureSyntheticSmall(join(MODELS, 'synthetic-small'));
  for (const dtype of DTYPES) {
    for (const threads of THREADS) {
      const argv = ['--decode', DECODE, '--rounds', ROUNDS, '--prefill', PREFILL].map(String);
      configs.push({ shape: 'small', dir: small, backend: 'wasm', dtype, threads, argv });
    }
  }
  if (!args.includes('--no-reference')) {
    const argv = ['--decode', REF_DECODE, '--rounds', 1, '--prefill', REF_PREFILL, '--prefill-reps', 1, '--warm-decode', 0, '--warm-prefill', 0].map(String);
    configs.push({ shape: 'small', dir: small, backend: 'reference', dtype: 'f32', threads: 1, argv });
  }
}
if (WITH_7B) {
  const big = ensureSynthetic7B(join(MODELS, 'synthetic-7b'));
  const threadCounts = args.includes('--7b-all') ? THREADS : THREADS.filter((t) => t !== 1);
  for (const dtype of DTYPES) {
    for (const threads of threadCounts) {
      const argv = ['--decode', DECODE_7B, '--rounds', ROUNDS_7B, '--prefill', PREFILL_7B, '--prefill-reps', 1, '--warm-decode', 1, '--warm-prefill', 8].map(String);
      configs.push({ shape: '7B', dir: big, backend: 'wasm', dtype, threads, argv });
    }
  }
}

interface Result {
  cfg: Config;
  row: Row | { error: string };
  base?: Row | { error: string };
  llama?: LlamaRow | { error: string };
}
const cpu = cpuName();
process.stderr.write(`bench: ${cpu}\n`);
measureCeilings('before the rows');
const results: Result[] = [];
for (const cfg of configs) {
  const label = `${cfg.shape} ${cfg.backend === 'wasm' ? `${cfg.dtype}, ${cfg.threads} thr` : 'reference f32'}`;
  const argv = ['--dir', cfg.dir, '--backend', cfg.backend, '--dtype', cfg.dtype === 'f32' ? 'auto' : cfg.dtype, '--threads', String(cfg.threads), ...cfg.argv];
  const rowScript = join(here, 'bench-row.ts');
  let row = child<Row>(rowScript, argv, label);
  // Each 7B load reads 14.5 GB: those rows are never repeated.
  for (let r = 0; r < RETRIES && cfg.shape === 'small' && !('error' in row) && (row.otherLoad ?? 0) > BUSY; r++) {
    const again = child<Row>(rowScript, argv, `${label}, again: other work took ${row.otherLoad?.toFixed(2)} cores`);
    if (!('error' in again) && (again.otherLoad ?? 0) < (row.otherLoad ?? 0)) row = again;
  }
  const res: Result = { cfg, row };
  if (BASELINE && cfg.backend === 'wasm') res.base = child<Row>(join(BASELINE, 'bench', 'bench-row.ts'), argv, `${label}, baseline ${BASELINE}`, BASELINE);
  if (llama && cfg.backend === 'wasm') {
    const big = cfg.shape === '7B';
    try {
      const gguf = ensureGguf(llama, cfg.dir, cfg.dtype as DType);
      waitQuiet();
      process.stderr.write(`bench: ${label}, llama.cpp …\n`);
      res.llama = runLlamaBench(llama, gguf, cfg.threads, big ? PREFILL_7B : PREFILL, big ? DECODE_7B : DECODE, big ? ROUNDS_7B : ROUNDS);
    } catch (e) {
      res.llama = { error: e instanceof Error ? e.message : String(e) };
    }
  }
  results.push(res);
  // Each row as it ends, so a run cut short still says what it measured.
  const said = (what: string, x: { decode: number; prefill: number } | { error: string } | undefined) =>
    x && process.stderr.write(`bench:   ${what}: ${'error' in x ? `failed: ${x.error.split('\n')[0]}` : `decode ${x.decode.toFixed(2)} tok/s, prefill ${x.prefill.toFixed(2)} tok/s`}\n`);
  said('ours', row);
  said('baseline', res.base);
  said('llama.cpp', res.llama);
}
measureCeilings('after the rows');

const best = (xs: number[]) => Math.max(0, ...xs);
const wasmCeil = (threads: number) => best(ceilings.map((c) => (threads === 1 ? c.t1 : c.t2)));
const nativeCeil = (threads: number) => best(natives.map((c) => (threads === 1 ? c.t1 : c.t2)));
/** The ceiling "of ceiling" is taken against: the native one when measured, else wasm's own streaming read. */
const ceil = (threads: number) => (natives.length ? nativeCeil(threads) : wasmCeil(threads));
const fmt = (x: number | null | undefined, d = 1) => (x != null && Number.isFinite(x) ? x.toFixed(d) : '—');
const rate = (x: number) => fmt(x, x < 10 ? 2 : 1);
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '—');
const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '');
const live = llama !== null;
const theirs = (key: string, r: Result): { decode: number; prefill: number; prefillTokens: number; otherLoad: number | null } | { error: string } | undefined => {
  if (live) return r.llama && 'error' in r.llama ? r.llama : r.llama && { ...r.llama };
  const a = ANCHORS[key];
  return a && { ...a, prefillTokens: r.cfg.shape === '7B' ? 64 : 256, otherLoad: null };
};

// Measured ratios the targets are checked against, by `${shape} ${threads} ${dtype}`.
const decodeVs: Record<string, number> = {};
const prefillVs: Record<string, number> = {};

const lc = live ? 'llama.cpp' : 'llama.cpp elsewhere';
const head = ['engine', 'decode tok/s', 'median', 'of ceiling', `${lc} decode`, 'ratio', 'prefill tok/s', `${lc} prefill`, 'ratio', 'peak RSS GB', 'load s', 'other load'];
const rows: string[][] = [];
const notes: string[] = [];
const baseLines: string[] = [];
let finite = true;
const ourRow = (label: string, key: string, r: Result, row: Row | { error: string }, withTheirs: boolean) => {
  if ('error' in row) {
    rows.push([label, `failed: ${row.error.split('\n')[0]}`, '', '', '', '', '', '', '', '', '', '']);
    return;
  }
  finite &&= row.finite;
  for (const n of row.notices) notes.push(`${label}: ${n}`);
  const t = withTheirs ? theirs(key, r) : undefined;
  const ok = t && !('error' in t) ? t : undefined;
  const frac = row.bytesPerToken != null ? (row.decode * row.bytesPerToken) / (ceil(r.cfg.threads) * 1e9) : NaN;
  const samePrefill = ok && row.prefillTokens === ok.prefillTokens;
  if (withTheirs && ok && r.cfg.backend === 'wasm') {
    decodeVs[key] = row.decode / ok.decode;
    if (samePrefill) prefillVs[key] = row.prefill / ok.prefill;
  }
  rows.push([
    label,
    rate(row.decode),
    rate(row.decodeMedian),
    pct(frac),
    ok ? rate(ok.decode) : t && 'error' in t ? `failed: ${t.error.split('\n')[0]}` : '',
    ok ? ratio(row.decode / ok.decode) : '',
    `${rate(row.prefill)} (${row.prefillTokens})`,
    ok ? `${rate(ok.prefill)} (${ok.prefillTokens})` : '',
    samePrefill ? ratio(row.prefill / ok.prefill) : '',
    fmt(row.peakRss / 1e9, 2),
    fmt(row.loadSeconds),
    (row.otherLoad === null ? '—' : row.otherLoad.toFixed(2)) + (live && ok ? ` / ${ok.otherLoad === null ? '—' : ok.otherLoad.toFixed(2)}` : '') + ' cores',
  ]);
};
for (const r of results) {
  const { cfg } = r;
  const key = `${cfg.shape} ${cfg.threads} ${cfg.dtype}`;
  const label = cfg.backend === 'wasm' ? `wasm ${cfg.shape} ${cfg.dtype}, ${cfg.threads} thread${cfg.threads > 1 ? 's' : ''}` : `reference ${cfg.shape} f32 (${REF_DECODE}/${REF_PREFILL} tok)`;
  ourRow(label, key, r, r.row, cfg.backend === 'wasm');
  if (r.base) {
    ourRow(`baseline ${cfg.shape} ${cfg.dtype}, ${cfg.threads} thr`, key, r, r.base, false);
    if (!('error' in r.base) && !('error' in r.row)) {
      baseLines.push(`  ${cfg.shape} ${cfg.dtype} ${cfg.threads}thr: decode ${ratio(r.row.decode / r.base.decode)}, prefill ${ratio(r.row.prefill / r.base.prefill)}`);
    }
  }
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
const ceilLines = [
  ceilings.length
    ? `wasm read ceiling (SIMD128 streaming read of 1 GiB, best of ${PASSES} passes, ${ceilings.length} runs, 1 / 2 threads: ` +
      `${ceilings.map((c) => `${fmt(c.t1)} / ${fmt(c.t2)} GB/s (other load ${fmt(c.otherLoad, 2)} cores)`).join(' and ')}): 1 thread ${fmt(wasmCeil(1))}, 2 threads ${fmt(wasmCeil(2))} GB/s`
    : 'wasm read ceiling: not measured (the ceiling child failed)',
  ...(natives.length
    ? [
        `native read ceiling (bench/native-read.c, -O3 -march=native, 1 GiB, best of ${PASSES} passes, at the start and the end, 1 / 2 threads: ` +
          `${natives.map((c) => `${fmt(c.t1)} / ${fmt(c.t2)}`).join(' and ')} GB/s): 1 thread ${fmt(nativeCeil(1))}, 2 threads ${fmt(nativeCeil(2))} GB/s; "of ceiling" is against it`,
      ]
    : ['"of ceiling" is against the wasm read ceiling (no native one without --llama-cpp)']),
];

const verdict = (x: number | undefined, goal: number) => (x === undefined || !Number.isFinite(x) ? 'not measured' : `${ratio(x)} ${x >= goal ? 'met' : 'not met'}`);
const each = (shape: Shape, threads: number, what: Record<string, number>, goal: (d: DType) => number) =>
  DTYPES.map((d) => `${d} ${verdict(what[`${shape} ${threads} ${d}`], goal(d))}`).join('; ');
const targets = [
  `targets (docs/performance.md), ${live ? 'against llama.cpp in this run' : 'against llama.cpp figures measured elsewhere (no --llama-cpp): not a same-run verdict'}:`,
  ...(WITH_7B
    ? [
        `  7B decode ≥ 1.2×, 2 threads: ${each('7B', 2, decodeVs, () => 1.2)}`,
        `  7B prefill(${PREFILL_7B}) ≥ 1.0× (q8, q4), ≥ 0.9× (bf16), 2 threads: ${each('7B', 2, prefillVs, (d) => (d === 'bf16' ? 0.9 : 1.0))}`,
      ]
    : []),
  ...(WITH_SMALL
    ? THREADS.flatMap((t) => [
        `  small decode ≥ 1.25×, ${t} thread${t > 1 ? 's' : ''}: ${each('small', t, decodeVs, () => 1.25)}`,
        `  small prefill(${PREFILL}) ≥ 1.0×, ${t} thread${t > 1 ? 's' : ''}: ${each('small', t, prefillVs, () => 1.0)}`,
      ])
    : []),
];

const out = [
  `CPU: ${cpu}; node ${process.version}${live ? `; llama.cpp: ${llama!.bench}` : ''}`,
  ...shapeLines,
  ...ceilLines,
  `decode: best and median of ${ROUNDS} rounds of ${DECODE} tokens (7B: ${ROUNDS_7B} of ${DECODE_7B}); prefill: best of 2 (7B: 1); "of ceiling" = decode tok/s × weight bytes per token / the ceiling at the row's thread count; ` +
    (live
      ? `llama.cpp: llama-bench with the same threads, -p and -n, -r as the rounds, best repetition, on GGUF conversions of the same checkpoints (bf16, Q8_0, Q4_0); `
      : `llama.cpp: figures measured elsewhere (2-core Zen 3, AVX2), for orientation only; `) +
    `every row in its own process; "other load": cores' worth of CPU other processes took while the row was timed (/proc/stat)${live ? ', ours / llama.cpp' : ''}, ` +
    `on a 2-core machine anything near 1 means the 2-thread figures are not the engine's (each child waits up to ${QUIET_WAIT} s for an idle machine; ` +
    `a small row over ${BUSY} cores is run again up to ${RETRIES}× and the least disturbed attempt kept); logits finite: ${finite}`,
  line(head),
  '|' + widths.map((w, i) => (i ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|',
  ...rows.map(line),
  ...notes.map((n) => `notice: ${n}`),
  ...(baseLines.length ? [`this checkout against --baseline ${BASELINE}, same run:`, ...baseLines] : []),
  ...targets,
];
process.stdout.write(out.join('\n') + '\n');

// Batched decode (bench/batch.ts, docs/server.md): aggregate tok/s for B = 1..16 beside the same run's prefill.
if (!args.includes('--no-batch')) {
  const batch = join(here, 'batch.ts');
  const run = (argv: string[]) => {
    waitQuiet();
    process.stdout.write('\n');
    spawnSync(process.execPath, ['--import', 'tsx', batch, ...argv], { stdio: 'inherit', cwd: root });
  };
  if (WITH_SMALL) run(['--dir', join(MODELS, 'synthetic-small'), '--dtypes', DTYPES.join(','), '--threads', THREADS.join(',')]);
  if (WITH_7B) run(['--dir', join(MODELS, 'synthetic-7b'), '--dtypes', 'q8,q4', '--threads', '2', '--steps', '3', '--rounds', '1', '--prefill', '32']);
}

const tok = join(here, 'tokenizer.ts');
if (!args.includes('--no-tokenizer') && existsSync(tok)) {
  process.stdout.write('\n');
  spawnSync(process.execPath, ['--import', 'tsx', tok], { stdio: 'inherit', cwd: root });
}

/**
 * Where a decode step's time goes: loads a checkpoint into the wasm engine, wraps every kernel call of the
 * calling thread (and every pooled job, timed until its last chunk is done) in a timer, runs `--steps` decode
 * steps after a warm-up, and prints per operation the calls and milliseconds per token and, for matrices, the
 * weight bytes streamed per second; "outside the kernels" is the step's wall time minus all of them (JavaScript,
 * state copies between parts, the hand-over of h, the event loop's turns).
 *
 *   npx tsx bench/step-profile.ts --dir /work/models/synthetic-7b [--dtype bf16] [--threads 1] [--steps 6] [--warm 2]
 *
 * The timers cost ~0.1 µs a call (a few hundred calls a token): below the noise of any op they time.
 *
 * `--prefill L` times prefills of L tokens instead (`--steps` of them after `--warm`): per op the calls and ms per
 * prefill and, for matrices, GMAC/s (L·rows·cols per call); each pooled job also splits its wall time into the
 * calling thread's own chunks ("own") and the rest ("fork/wait": posting the job, then waiting for the workers'
 * last chunks), with the share of chunks the caller ran; "pacer turns" are the event loop's turns between
 * layers. Run it at 1 and at 2 threads: an op whose time does not halve is where 2-thread prefill time goes.
 *
 *   npx tsx bench/step-profile.ts --dir /work/models/synthetic-small --dtype q8 --threads 2 --prefill 256
 *
 * `--batch B` times batched decode instead: one `Model.stepBatch` over B states (B = 1 included) per step, the
 * per-op ms per pass (B tokens), so its rows beside a plain step's show what the pass costs per op.
 *
 *   npx tsx bench/step-profile.ts --dir /work/models/synthetic-small --threads 2 --batch 4
 */
import { parseArgs } from 'node:util';
import { loadModel, type WeightDType } from '../src/index.ts';
import type { WasmModel, WasmPart } from '../src/wasm/model.ts';
import { jobId, type ThreadPool } from '../src/wasm/threads.ts';
import { NCHUNK, runRows } from '../src/wasm/jobs.js';

const { values: opt } = parseArgs({
  options: {
    dir: { type: 'string' },
    dtype: { type: 'string', default: 'bf16' },
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '6' },
    warm: { type: 'string', default: '2' },
    kernels: { type: 'boolean', default: false },
    prefill: { type: 'string' },
    batch: { type: 'string' },
  },
});
if (!opt.dir) throw new Error('--dir is required');

/** Stored bytes per weight of a matrix kernel (q8: 32 quants + a 4-byte scale per 32; q4: 16 + 4). */
const BYTES: Record<string, number> = { linearBf16Rows: 2, linearBf16BatchRows: 2, linearQ8BatchRows: 36 / 32, linearQ4BatchRows: 20 / 32, linearF16Rows: 2, linearF32Rows: 4, linearQ8Rows: 36 / 32, linearQ4Rows: 20 / 32 };

interface Acc {
  ms: number;
  calls: number;
  bytes: number;
  macs: number;
  /** Pooled jobs: ms of the calling thread's own chunks, its chunks, all chunks, calls whose wait went async. */
  own: number;
  ownChunks: number;
  chunks: number;
  async: number;
}
const acc = new Map<string, Acc>();
let on = false;
const entry = (key: string): Acc => {
  let a = acc.get(key);
  if (!a) acc.set(key, (a = { ms: 0, calls: 0, bytes: 0, macs: 0, own: 0, ownChunks: 0, chunks: 0, async: 0 }));
  return a;
};
const add = (key: string, ms: number, bytes: number, macs = 0) => {
  if (!on) return;
  const a = entry(key);
  a.ms += ms;
  a.calls++;
  a.bytes += bytes;
  a.macs += macs;
};

/** The key and weight bytes of a job from its name and arguments (the matrix shape names the layer). */
function jobKey(name: string, args: readonly number[], rows: number): { key: string; bytes: number; macs: number } {
  if (name in BYTES) {
    const quant = /^linearQ[48]/.test(name);
    const inF = quant ? args[7] : args[5];
    const L = quant ? args[6] : args[4];
    return { key: `${name} ${rows}×${inF}`, bytes: rows * inF * BYTES[name], macs: L * rows * inF };
  }
  return { key: name, bytes: 0, macs: 0 };
}

const t0 = performance.now();
const m = (await loadModel(opt.dir, { backend: 'wasm', dtype: opt.dtype as WeightDType, threads: Number(opt.threads) })) as WasmModel;
process.stderr.write(`loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${m.parts.length} part(s), ${m.threads} thread(s), ${m.simd} build\n`);

const PREFILL = opt.prefill ? Number(opt.prefill) : 0;
if (opt.prefill && !(Number.isInteger(PREFILL) && PREFILL >= 1)) throw new Error(`--prefill: '${opt.prefill}' is not a token count`);
const prompt = Array.from({ length: PREFILL }, (_, i) => (i * 131 + 7) % m.config.vocabSize);
const BATCH = opt.batch ? Number(opt.batch) : 0;
if (opt.batch && !(Number.isInteger(BATCH) && BATCH >= 1)) throw new Error(`--batch: '${opt.batch}' is not a batch size`);
if (BATCH && PREFILL) throw new Error('--batch and --prefill exclude each other');
const state = m.createState();
await m.prefill(state, [1, 2, 3, 4]);
const states = Array.from({ length: BATCH }, () => m.createState());
for (let b = 0; b < BATCH; b++) await m.prefill(states[b], [1 + b, 2, 3, 4 + b]);
/** One unit of work: a decode step, or with --prefill a prefill of L tokens from a zeroed state (kept in its slot). */
const unit = async (i: number): Promise<void> => {
  if (PREFILL) {
    state.conv.fill(0);
    state.ssm.fill(0);
    state.position = 0;
    await m.prefill(state, prompt);
  } else if (BATCH) await m.stepBatch(states, Array.from({ length: BATCH }, (_, b) => (i * 31 + b * 7) % m.config.vocabSize));
  else await m.step(state, (i * 31) % m.config.vocabSize);
};
for (let i = 0; i < Number(opt.warm); i++) await unit(i + 5);
const steps = Number(opt.steps);
function kernelRates(): void {
  // The in_proj of every layer of the largest part, streamed three ways in a row, each over all of them (GB of
  // different weights, so no cache holds any of it): the read ceiling over the very same bytes (streamRead),
  // the engine's two half-matrix matvecs, and one matvec over all rows.
  const part = [...m.parts].sort((a, b) => b.plan.layers.length - a.plan.layers.length)[0];
  const k = part.k;
  const s = part.plan.scratch;
  const layers = part.plan.layers;
  const bytesOf = (mm: { rows: number; cols: number }) => {
    const bw = k.bf16BlockCols(mm.cols);
    return mm.rows * Math.ceil(mm.cols / bw) * bw * 2;
  };
  const u = new Float32Array(part.memory.buffer, s.u, 4096), y = new Float32Array(part.memory.buffer, s.y, 8192);
  const stat = (v: Float32Array) => { let mn = Infinity, mx = 0, nan = 0, den = 0; for (const a of v) { if (Number.isNaN(a)) nan++; else { const b = Math.abs(a); if (b > 0 && b < 1.18e-38) den++; mn = Math.min(mn, b); mx = Math.max(mx, b); } } return `min|.| ${mn} max ${mx} nan ${nan} denormal ${den}`; };
  process.stdout.write(`u: ${stat(u)}\ny: ${stat(y)}\n`);
  if (process.env.FILL) { u.fill(0.5); y.fill(0.25); }
  const res: Record<string, number[]> = { stream: [], halves: [], whole: [], outStream: [], outProj: [] };
  for (let rep = 0; rep < 3; rep++) {
    let t = performance.now(), b = 0;
    for (const l of layers) {
      k.streamRead(l.inProj.ptr, bytesOf(l.inProj));
      b += bytesOf(l.inProj);
    }
    res.stream.push(b / (performance.now() - t) / 1e6);
    t = performance.now();
    for (const l of layers) {
      const E = l.inProj.rows / 2, st = k.bf16BlockCols(l.inProj.cols) * 2;
      k.linearBf16Rows(s.x, s.u, l.inProj.ptr, 0, 1, l.inProj.cols, E, l.inProj.rows, 0, E);
      k.linearBf16Rows(s.z, s.u, l.inProj.ptr + E * st, 0, 1, l.inProj.cols, E, l.inProj.rows, 0, E);
    }
    res.halves.push(b / (performance.now() - t) / 1e6);
    t = performance.now();
    for (const l of layers) k.linearBf16Rows(s.x, s.u, l.inProj.ptr, 0, 1, l.inProj.cols, l.inProj.rows, l.inProj.rows, 0, l.inProj.rows);
    res.whole.push(b / (performance.now() - t) / 1e6);
    t = performance.now();
    b = 0;
    for (const l of layers) {
      k.streamRead(l.outProj.ptr, bytesOf(l.outProj));
      b += bytesOf(l.outProj);
    }
    res.outStream.push(b / (performance.now() - t) / 1e6);
    t = performance.now();
    for (const l of layers) k.linearBf16Rows(s.o, s.y, l.outProj.ptr, 0, 1, l.outProj.cols, l.outProj.rows, l.outProj.rows, 0, l.outProj.rows);
    res.outProj.push(b / (performance.now() - t) / 1e6);
    const job = part.jobs[jobId('linearBf16Rows')]!;
    t = performance.now();
    for (const l of layers) runRows(job, [s.o, s.y, l.outProj.ptr, 0, 1, l.outProj.cols, l.outProj.rows, l.outProj.rows], 0, l.outProj.rows);
    (res.outRunRows ??= []).push(b / (performance.now() - t) / 1e6);
  }
  for (const [name, v] of Object.entries(res)) process.stdout.write(`${name.padEnd(10)} ${v.map((x) => x.toFixed(1)).join(' ')} GB/s\n`);
}
if (opt.kernels) kernelRates();

// The same steps without the timers first: the step's own time.
const u0 = performance.now();
for (let i = 0; i < steps; i++) await unit(i);
const plain = (performance.now() - u0) / steps;

/** The pooled job in flight on the calling thread (its chunks count as its "own" time), or null. */
let inPool: Acc | null = null;
for (const part of m.parts as WasmPart[]) {
  const k = part.k as unknown as Record<string, unknown>;
  const wrapped: Record<string, unknown> = {};
  for (const name of Object.keys(k)) {
    const f = k[name];
    wrapped[name] =
      typeof f === 'function'
        ? (...a: number[]) => {
            const s = performance.now();
            const r = (f as (...a: number[]) => unknown)(...a);
            add(name, performance.now() - s, 0);
            return r;
          }
        : f;
  }
  (part as { k: unknown }).k = wrapped;
  for (const job of part.jobs) {
    if (!job) continue;
    const f = job.f as (...a: number[]) => unknown;
    const argc = job.argc;
    (job as { f: unknown }).f = (...a: number[]) => {
      const s = performance.now();
      f(...a);
      const ms = performance.now() - s;
      if (inPool) {
        if (on) {
          inPool.own += ms;
          inPool.ownChunks++;
        }
      } else {
        // A job run on the calling thread alone (no pool, or a matrix below the pool's threshold).
        const { key, bytes, macs } = jobKey(job.name, a, a[argc + 1] - a[argc]);
        add(key, ms, bytes, macs);
      }
    };
  }
}
const pool = (m as unknown as { pool: ThreadPool | null }).pool;
if (pool) {
  const rows = pool.rows.bind(pool);
  pool.rows = (job, args, outF, memory, align = 2) => {
    const s = performance.now();
    const { key, bytes, macs } = jobKey(job, args, outF);
    const a = entry(key);
    inPool = a;
    let r: Promise<void> | undefined;
    try {
      r = rows(job, args, outF, memory, align);
    } finally {
      inPool = null;
    }
    // The job's chunk count, as the pool posted it in its control block.
    if (on) a.chunks += (pool as unknown as { ctl: Int32Array }).ctl[NCHUNK];
    if (!r) {
      add(key, performance.now() - s, bytes, macs);
      return r;
    }
    if (on) a.async++;
    return r.then(() => add(key, performance.now() - s, bytes, macs));
  };
}
// The event loop's turns between layers (src/model.ts Pacer).
const pacer = (m as unknown as { pacer: { turn(): Promise<void> } }).pacer;
const turn = pacer.turn.bind(pacer);
pacer.turn = async () => {
  const s = performance.now();
  await turn();
  add('pacer turns', performance.now() - s, 0);
};

on = true;
const w0 = performance.now();
for (let i = 0; i < steps; i++) await unit(i);
const wall = (performance.now() - w0) / steps;
on = false;

if (opt.kernels) kernelRates();
const rowsOut = [...acc.entries()].filter(([, a]) => a.calls > 0).sort((a, b) => b[1].ms - a[1].ms);
let inKernels = 0;
const what = PREFILL ? `prefill(${PREFILL})` : BATCH ? 'pass' : 'token';
const lines = [
  PREFILL
    ? `per prefill of ${PREFILL} tokens over ${steps} prefills, ${m.threads} thread(s), ${opt.dtype}: ${plain.toFixed(1)} ms without the timers (${((1000 * PREFILL) / plain).toFixed(1)} tok/s), ${wall.toFixed(1)} ms with them`
    : BATCH
      ? `per stepBatch pass of ${BATCH} sequences over ${steps} passes, ${m.threads} thread(s), ${opt.dtype}: ${plain.toFixed(1)} ms without the timers (${((1000 * BATCH) / plain).toFixed(1)} tok/s), ${wall.toFixed(1)} ms with them`
      : `per token over ${steps} steps: ${plain.toFixed(1)} ms without the timers, ${wall.toFixed(1)} ms (${(1000 / wall).toFixed(3)} tok/s), ${m.bytesPerToken / 1e9} GB of weights`,
];
const rate = (a: Acc) => (PREFILL || BATCH ? (a.macs ? (a.macs / a.ms / 1e6).toFixed(1) : '') : a.bytes ? (a.bytes / a.ms / 1e6).toFixed(1) : '');
lines.push('op'.padEnd(34) + `calls/${PREFILL ? 'call' : BATCH ? 'pass' : 'tok'}`.padStart(10) + `ms/${PREFILL ? 'call' : BATCH ? 'pass' : 'tok'}`.padStart(10) + 'share'.padStart(8) + (PREFILL || BATCH ? 'GMAC/s' : 'GB/s').padStart(8) + (pool ? 'own ms'.padStart(9) + 'fork/wait'.padStart(10) + 'own chunks'.padStart(11) + 'async'.padStart(7) : ''));
for (const [key, a] of rowsOut) {
  if (key !== 'pacer turns') inKernels += a.ms;
  const ms = a.ms / steps;
  let line = key.padEnd(34) + (a.calls / steps).toFixed(0).padStart(10) + ms.toFixed(2).padStart(10) + `${((100 * ms) / wall).toFixed(1)}%`.padStart(8) + rate(a).padStart(8);
  if (pool && a.chunks) line += (a.own / steps).toFixed(2).padStart(9) + ((a.ms - a.own) / steps).toFixed(2).padStart(10) + `${((100 * a.ownChunks) / a.chunks).toFixed(0)}%`.padStart(11) + (a.async / steps).toFixed(0).padStart(7);
  lines.push(line);
}
const turns = acc.get('pacer turns')?.ms ?? 0;
const outside = wall - (inKernels + turns) / steps;
lines.push(`outside the kernels and turns (per ${what})`.padEnd(34) + ''.padStart(10) + outside.toFixed(2).padStart(10) + `${((100 * outside) / wall).toFixed(1)}%`.padStart(8));
process.stdout.write(lines.join('\n') + '\n');
await m.dispose();
process.exit(0);

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
 */
import { parseArgs } from 'node:util';
import { loadModel, type WeightDType } from '../src/index.ts';
import type { WasmModel, WasmPart } from '../src/wasm/model.ts';
import { jobId, type ThreadPool } from '../src/wasm/threads.ts';
import { runRows } from '../src/wasm/jobs.js';

const { values: opt } = parseArgs({
  options: {
    dir: { type: 'string' },
    dtype: { type: 'string', default: 'bf16' },
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '6' },
    warm: { type: 'string', default: '2' },
    kernels: { type: 'boolean', default: false },
  },
});
if (!opt.dir) throw new Error('--dir is required');

/** Stored bytes per weight of a matrix kernel (q8: 32 quants + a 4-byte scale per 32; q4: 16 + 4). */
const BYTES: Record<string, number> = { linearBf16Rows: 2, linearF16Rows: 2, linearF32Rows: 4, linearQ8Rows: 36 / 32, linearQ4Rows: 20 / 32 };

interface Acc {
  ms: number;
  calls: number;
  bytes: number;
}
const acc = new Map<string, Acc>();
let on = false;
const add = (key: string, ms: number, bytes: number) => {
  if (!on) return;
  const a = acc.get(key) ?? { ms: 0, calls: 0, bytes: 0 };
  a.ms += ms;
  a.calls++;
  a.bytes += bytes;
  acc.set(key, a);
};

/** The key and weight bytes of a job from its name and arguments (the matrix shape names the layer). */
function jobKey(name: string, args: readonly number[], rows: number): { key: string; bytes: number } {
  if (name in BYTES) {
    const quant = name === 'linearQ8Rows' || name === 'linearQ4Rows';
    const inF = quant ? args[7] : args[5];
    return { key: `${name} ${rows}×${inF}`, bytes: rows * inF * BYTES[name] };
  }
  return { key: name, bytes: 0 };
}

const t0 = performance.now();
const m = (await loadModel(opt.dir, { backend: 'wasm', dtype: opt.dtype as WeightDType, threads: Number(opt.threads) })) as WasmModel;
process.stderr.write(`loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${m.parts.length} part(s), ${m.threads} thread(s), ${m.simd} build\n`);

const state = m.createState();
await m.prefill(state, [1, 2, 3, 4]);
for (let i = 0; i < Number(opt.warm); i++) await m.step(state, 5 + i);
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
for (let i = 0; i < steps; i++) await m.step(state, (i * 31) % m.config.vocabSize);
const plain = (performance.now() - u0) / steps;

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
      const { key, bytes } = jobKey(job.name, a, a[argc + 1] - a[argc]);
      if (!pool) add(key, performance.now() - s, bytes);
    };
  }
}
const pool = (m as unknown as { pool: ThreadPool | null }).pool;
if (pool) {
  const rows = pool.rows.bind(pool);
  pool.rows = (job, args, outF, memory, align) => {
    const s = performance.now();
    const { key, bytes } = jobKey(job, args, outF);
    const r = rows(job, args, outF, memory, align);
    if (!r) {
      add(key, performance.now() - s, bytes);
      return r;
    }
    return r.then(() => add(key, performance.now() - s, bytes));
  };
}

on = true;
const w0 = performance.now();
for (let i = 0; i < steps; i++) await m.step(state, (i * 31) % m.config.vocabSize);
const wall = (performance.now() - w0) / steps;
on = false;

if (opt.kernels) kernelRates();
const rowsOut = [...acc.entries()].sort((a, b) => b[1].ms - a[1].ms);
let inKernels = 0;
const lines = [`per token over ${steps} steps: ${plain.toFixed(1)} ms without the timers, ${wall.toFixed(1)} ms (${(1000 / wall).toFixed(3)} tok/s), ${m.bytesPerToken / 1e9} GB of weights`];
lines.push('op'.padEnd(34) + 'calls/tok'.padStart(10) + 'ms/tok'.padStart(10) + 'share'.padStart(8) + 'GB/s'.padStart(8));
for (const [key, a] of rowsOut) {
  inKernels += a.ms;
  const ms = a.ms / steps;
  lines.push(key.padEnd(34) + (a.calls / steps).toFixed(0).padStart(10) + ms.toFixed(2).padStart(10) + `${((100 * ms) / wall).toFixed(1)}%`.padStart(8) + (a.bytes ? (a.bytes / a.ms / 1e6).toFixed(1) : '').padStart(8));
}
const outside = wall - inKernels / steps;
lines.push('outside the kernels'.padEnd(34) + ''.padStart(10) + outside.toFixed(2).padStart(10) + `${((100 * outside) / wall).toFixed(1)}%`.padStart(8));
process.stdout.write(lines.join('\n') + '\n');
await m.dispose();
process.exit(0);

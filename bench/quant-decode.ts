/**
 * Decode (L = 1) speed of the q8 / q4 matvecs of one or more engine builds, as a decode step runs them: every
 * linear layer of a stack of layers (in_proj as its two halves, x_proj, dt_proj, out_proj) in the model's order,
 * each input quantized first (`quantizeActivationQ8`, calling thread), the matvec split across the engine's own
 * thread pool (src/wasm/threads.ts, as `WasmModel` runs it), the stack far larger than the L3 so the weights
 * stream from DRAM as in a real step. Each build runs every configuration in turn, so ratios come from one run:
 *
 *   npx tsx bench/quant-decode.ts [--wasm build/kernels-relaxed.wasm[,/tmp/base/build/kernels-relaxed.wasm]]
 *                                 [--dtypes q8,q4] [--shapes 7b,small] [--threads 1,2] [--reps 1] [--rounds 8] [--layers N]
 *
 * GB/s = weight bytes (quants + f32 scales) of the stack / the best sweep's time: the builds take turns, `--reps`
 * sweeps each, `--rounds` times (so a neighbour's burst of memory traffic hits every build alike); per matrix kind
 * the best time of that kind. The read ceiling
 * to compare against is bench/ceiling.ts's (run it in the same session). Random bytes stand in for weights (speed
 * does not depend on their values); the activation is a fixed sine.
 */
import v8 from 'node:v8';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ThreadPool } from '../src/wasm/threads.ts';
import { jobKernels } from '../src/wasm/jobs.js';

const { values } = parseArgs({
  options: {
    wasm: { type: 'string', default: 'build/kernels-relaxed.wasm' },
    dtypes: { type: 'string', default: 'q8,q4' },
    shapes: { type: 'string', default: '7b,small' },
    threads: { type: 'string', default: '1,2' },
    reps: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '8' },
    layers: { type: 'string' },
  },
});
const files = values.wasm.split(',');
const dtypes = values.dtypes.split(',') as ('q8' | 'q4')[];
const threadsList = values.threads.split(',').map(Number);
const reps = Number(values.reps);
const rounds = Number(values.rounds);

interface Shape {
  name: string;
  H: number;
  E: number;
  R: number;
  N: number;
  layers: number;
}
const SHAPES: Record<string, Shape> = {
  '7b': { name: '7B', H: 4096, E: 8192, R: 256, N: 16, layers: 3 },
  small: { name: 'small', H: 1024, E: 2048, R: 64, N: 16, layers: 24 },
};

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

interface Mat {
  kind: string;
  rows: number;
  cols: number;
  wq: number;
  wd: number;
  bytes: number;
}

/** One build's memory with a stack of layers of one shape and dtype. */
async function setup(file: string, shape: Shape, dt: 'q8' | 'q4', threads: number) {
  const bs = dt === 'q8' ? 32 : 16;
  const kinds: [string, number, number][] = [
    ['in_proj x', shape.E, shape.H],
    ['in_proj z', shape.E, shape.H],
    ['x_proj', shape.R + 2 * shape.N, shape.E],
    ['dt_proj', shape.E, shape.R],
    ['out_proj', shape.H, shape.E],
  ];
  const matBytes = (rows: number, cols: number) => {
    const nb = Math.ceil(cols / 32);
    const pr = rows + (rows & 1);
    return { q: pr * nb * bs, d: pr * nb * 4 };
  };
  let total = 1 << 20;
  for (let l = 0; l < shape.layers; l++) for (const [, r, c] of kinds) { const b = matBytes(r, c); total += b.q + b.d + 128; }
  const maxIn = Math.max(shape.H, shape.E);
  const scratch = maxIn * 4 + maxIn + (maxIn / 32) * 4 + 2 * shape.E * 4 + 4096;
  const pages = Math.ceil((total + scratch + (1 << 20)) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const module = await WebAssembly.compile(readFileSync(file));
  const abort = () => {
    throw new Error('wasm abort');
  };
  const inst = await WebAssembly.instantiate(module, { env: { memory, abort } });
  const k = inst.exports as Record<string, any>;
  let top = 1 << 20; // past the module's static data
  const alloc = (n: number) => {
    const p = top;
    top += Math.ceil(n / 64) * 64;
    return p;
  };
  let seed = 0x9e3779b9;
  const fill = (p: number, n: number) => {
    const v = new Uint32Array(memory.buffer, p, n >> 2);
    for (let i = 0; i < v.length; i++) {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      v[i] = seed;
    }
  };
  const mats: Mat[] = [];
  for (let l = 0; l < shape.layers; l++) {
    for (const [kind, rows, cols] of kinds) {
      const b = matBytes(rows, cols);
      const wq = alloc(b.q);
      fill(wq, b.q);
      const wd = alloc(b.d);
      new Float32Array(memory.buffer, wd, b.d / 4).fill(1e-3);
      mats.push({ kind, rows, cols, wq, wd, bytes: b.q + b.d });
    }
  }
  const x = alloc(maxIn * 4);
  const xv = new Float32Array(memory.buffer, x, maxIn);
  for (let i = 0; i < maxIn; i++) xv[i] = Math.sin(i * 0.37);
  const xq = alloc(maxIn);
  const xd = alloc((maxIn / 32) * 4);
  const out = alloc(2 * shape.E * 4);
  const pool = await ThreadPool.start(module, [memory], [jobKernels(k)], threads);
  const job = dt === 'q8' ? 'linearQ8Rows' : 'linearQ4Rows';
  /** One sweep over the stack; returns per kind the ms spent. */
  const sweep = async (perKind: Map<string, number>) => {
    for (const m of mats) {
      const t0 = performance.now();
      k.quantizeActivationQ8(xq, xd, x, 1, m.cols);
      const p = pool.rows(job, [out, xq, xd, m.wq, m.wd, 0, 1, m.cols, m.rows], m.rows);
      if (p) await p;
      perKind.set(m.kind, (perKind.get(m.kind) ?? 0) + performance.now() - t0);
    }
  };
  return { mats, sweep, dispose: () => pool.dispose() };
}

const names = files.map((f, i) => `${i}:${f.split('/').slice(-3).join('/')}`);
console.log(`# decode matvecs (L = 1), stacks of layers (7B: ${SHAPES['7b'].layers}, small: ${SHAPES.small.layers}), best sweep of ${reps} × ${rounds} rounds; GB/s of weight bytes; node ${process.version}`);
console.log(`# builds: ${names.join(', ')}`);
console.log(`| shape | dtype | threads | matrix | ${names.map((n) => `${n.split(':')[0]} GB/s`).join(' | ')} |${files.length > 1 ? ' ratio last/first |' : ''}`);
console.log(`|---|---|---:|---|${files.map(() => '---:|').join('')}${files.length > 1 ? '---:|' : ''}`);
for (const sname of values.shapes.split(',')) {
  const shape = { ...SHAPES[sname] };
  if (values.layers) shape.layers = Number(values.layers);
  for (const dt of dtypes) {
    for (const threads of threadsList) {
      const setups = [];
      for (const f of files) setups.push(await setup(f, shape, dt, threads));
      const best: { total: number; kinds: Map<string, number> }[] = files.map(() => ({ total: Infinity, kinds: new Map() }));
      for (let round = 0; round < rounds; round++) {
        for (let b = 0; b < files.length; b++) {
          if (round === 0) await setups[b].sweep(new Map()); // warm-up
          for (let r = 0; r < reps; r++) {
            const kinds = new Map<string, number>();
            const t0 = performance.now();
            await setups[b].sweep(kinds);
            const ms = performance.now() - t0;
            if (ms < best[b].total) best[b].total = ms;
            for (const [kk, v] of kinds) best[b].kinds.set(kk, Math.min(best[b].kinds.get(kk) ?? Infinity, v));
          }
        }
      }
      const mats = setups[0].mats;
      const bytesOf = (kind: string | null) => mats.filter((m) => kind === null || m.kind === kind).reduce((s, m) => s + m.bytes, 0);
      const line = (label: string, bytes: number, ms: number[]) => {
        const g = ms.map((t) => bytes / t / 1e6);
        const ratio = g.length > 1 ? ` ${(g[g.length - 1] / g[0]).toFixed(3)}× |` : '';
        console.log(`| ${shape.name} | ${dt} | ${threads} | ${label} | ${g.map((v) => v.toFixed(2)).join(' | ')} |${ratio}`);
      };
      line(`all (${(bytesOf(null) / 1e6).toFixed(0)} MB)`, bytesOf(null), best.map((b) => b.total));
      for (const kind of ['in_proj x', 'x_proj', 'dt_proj', 'out_proj']) line(kind, bytesOf(kind), best.map((b) => b.kinds.get(kind)!));
      for (const s of setups) s.dispose();
    }
  }
}
process.exit(0);

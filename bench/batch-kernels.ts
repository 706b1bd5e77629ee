/**
 * The batched-decode matrix kernels against the ones a `stepBatch` pass ran before them, in one process,
 * interleaved (docs/server.md): for L = 1, 2, 3, 4, 8, 16 tokens, one call per matrix over `--mats` matrices of
 * the small shape's in_proj half (2048 × 1024; 48 of them, 200 MB in bf16, so they stream from memory as in
 * decode), best of `--reps` rounds, every variant timed once per round before the next round starts.
 *   bf16: `linearBf16Rows` (the prefill tile, L ≥ 2) against `linearBf16BatchRows`; L = 1 is the decode matvec.
 *   q8/q4: `linearQ8Rows` / `linearQ4Rows` against `linearQ8BatchRows` / `linearQ4BatchRows`.
 * Prints GMAC/s (L · rows · cols per call) and the new/old ratio per L. One thread; weights are arbitrary bits
 * (speed does not depend on them).
 *
 *   npx tsx bench/batch-kernels.ts [--mats 48] [--reps 5] [--build relaxed|plain]
 */
import { parseArgs } from 'node:util';
import { compileKernels, createMemory, instantiateKernels } from '../src/wasm/kernels.ts';
import { MemoryPlan } from '../src/wasm/memory.ts';

const { values: opt } = parseArgs({ options: { mats: { type: 'string', default: '48' }, reps: { type: 'string', default: '5' }, build: { type: 'string', default: 'relaxed' } } });
const NM = Number(opt.mats), REPS = Number(opt.reps);
const rows = 2048, cols = 1024, nb = cols / 32;
const LS = [1, 2, 3, 4, 8, 16];

const q8Bytes = rows * nb * 36, q4Bytes = rows * nb * 20, bfBytes = rows * cols * 2;
const memory = createMemory(NM * (bfBytes + q8Bytes + q4Bytes) + (64 << 20));
const k = await instantiateKernels(await compileKernels(opt.build as 'relaxed' | 'plain'), memory);
const plan = new MemoryPlan(k.heapBase());
const fill = (p: number, n: number, seed: number) => {
  const u = new Uint8Array(memory.buffer, p, n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    u[i] = (s >>> 24) & 0x7f; // bf16 high bytes < 0x80: finite, positive; q8 0..127; q4 any nibbles
  }
};
const bf: number[] = [], q8: { wq: number; wd: number }[] = [], q4: { wq: number; wd: number }[] = [];
for (let m = 0; m < NM; m++) {
  const p = plan.alloc('bf', bfBytes);
  fill(p, bfBytes, m + 1);
  bf.push(p);
  for (const [list, qb] of [[q8, 32], [q4, 16]] as const) {
    const wq = plan.alloc('wq', rows * nb * qb), wd = plan.alloc('wd', rows * nb * 4);
    fill(wq, rows * nb * qb, m + 7);
    new Float32Array(memory.buffer, wd, rows * nb).fill(1 / 4096);
    list.push({ wq, wd });
  }
}
const x = plan.alloc('x', 16 * cols * 4), out = plan.alloc('out', 16 * rows * 4);
const xq = plan.alloc('xq', 16 * nb * 32), xd = plan.alloc('xd', 16 * nb * 4);
const xf = new Float32Array(memory.buffer, x, 16 * cols);
for (let i = 0; i < xf.length; i++) xf[i] = Math.sin(i) * 0.5;
k.quantizeActivationQ8(xq, xd, x, 16, cols);

type Variant = { name: string; L: number; run: () => void };
const variants: Variant[] = [];
for (const L of LS) {
  variants.push({ name: 'bf16 linearBf16Rows', L, run: () => bf.forEach((W) => k.linearBf16Rows(out, x, W, 0, L, cols, rows, rows, 0, rows)) });
  if (L > 1) variants.push({ name: 'bf16 linearBf16BatchRows', L, run: () => bf.forEach((W) => k.linearBf16BatchRows(out, x, W, 0, L, cols, rows, rows, 0, rows)) });
  variants.push({ name: 'q8 linearQ8Rows', L, run: () => q8.forEach((m) => k.linearQ8Rows(out, xq, xd, m.wq, m.wd, 0, L, cols, rows, 0, rows)) });
  if (L > 1) variants.push({ name: 'q8 linearQ8BatchRows', L, run: () => q8.forEach((m) => k.linearQ8BatchRows(out, xq, xd, m.wq, m.wd, 0, L, cols, rows, 0, rows)) });
  variants.push({ name: 'q4 linearQ4Rows', L, run: () => q4.forEach((m) => k.linearQ4Rows(out, xq, xd, m.wq, m.wd, 0, L, cols, rows, 0, rows)) });
  if (L > 1) variants.push({ name: 'q4 linearQ4BatchRows', L, run: () => q4.forEach((m) => k.linearQ4BatchRows(out, xq, xd, m.wq, m.wd, 0, L, cols, rows, 0, rows)) });
}
const best = new Map<Variant, number>();
for (let r = 0; r < REPS; r++) {
  for (const v of variants) {
    const t = performance.now();
    v.run();
    const ms = performance.now() - t;
    best.set(v, Math.min(best.get(v) ?? Infinity, ms));
  }
}
const gmac = (v: Variant) => (NM * rows * cols * v.L) / best.get(v)! / 1e6;
console.log(`batched-decode matrix kernels, ${NM} matrices ${rows}×${cols}, ${opt.build} build, one thread, best of ${REPS}: GMAC/s (new / old)\n`);
console.log(`| dtype | ${LS.map((L) => `L = ${L}`).join(' | ')} |`);
console.log(`|---|${LS.map(() => '---:').join('|')}|`);
for (const dt of ['bf16', 'q8', 'q4']) {
  const cells = LS.map((L) => {
    const old = variants.find((v) => v.L === L && v.name.startsWith(dt) && !v.name.includes('Batch'))!;
    const nu = variants.find((v) => v.L === L && v.name.startsWith(dt) && v.name.includes('Batch'));
    return nu ? `${gmac(old).toFixed(1)} → ${gmac(nu).toFixed(1)} (${(gmac(nu) / gmac(old)).toFixed(2)}×)` : `${gmac(old).toFixed(1)} (decode)`;
  });
  console.log(`| ${dt} | ${cells.join(' | ')} |`);
}

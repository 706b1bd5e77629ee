// The qk kernels (assembly/qk.ts) against their twins (src/reference/quant-qk.ts), on matrices repacked from
// random GGUF blocks of every type the format holds (Q4_1, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), both builds:
// - activationSums16 = the twin, bit for bit;
// - linearQK / linearQKRows (whole, and split into two row ranges as two threads would) = linearQKInt within
//   1e-5 · max_o Σ|w·x| (the twin accumulates in f64, the kernel in f32: the q8/q4 kernels' rule);
// - embedQK = qkValue (ggml's dequantized weight) bit for bit.
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GGML_BLOCK } from '../../src/io/gguf.ts';
import { ggmlToQKMatrix } from '../../src/reference/ggml-repack.ts';
import type { UnpackType } from '../../src/reference/ggml-unpack.ts';
import { quantizeActivationQ8 } from '../../src/reference/quant.ts';
import { activationSums16, dequantizeQK, linearQKInt, qkValue, type QKMatrix } from '../../src/reference/quant-qk.ts';
import { expectClose } from '../helpers/close.ts';
import { rng } from '../helpers/tiny-model.ts';
import { kernelBench, type Bench } from './harness.ts';
import { QK_TYPES, randomBlocks } from '../helpers/ggml-blocks.ts';

function putBytes(w: Bench, a: Uint8Array | Int8Array): number {
  const p = w.f32(new Float32Array(Math.ceil(a.length / 4) + 1));
  new Uint8Array(w.memory.buffer, p, a.length).set(new Uint8Array(a.buffer, a.byteOffset, a.length));
  return p;
}

const shapeArb = fc.record({
  type: fc.constantFrom(...QK_TYPES),
  rows: fc.integer({ min: 1, max: 13 }),
  units: fc.integer({ min: 1, max: 3 }),
  L: fc.integer({ min: 1, max: 9 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
  withBias: fc.boolean(),
  split: fc.boolean(),
});
const RUNS = { seed: 20261202, numRuns: 80 };

function qkCase(type: UnpackType, rows: number, units: number, seed: number): QKMatrix {
  const cols = units * GGML_BLOCK[type].elements * (GGML_BLOCK[type].elements === 32 ? 3 : 1);
  return ggmlToQKMatrix(type, randomBlocks(type, (rows * cols) / GGML_BLOCK[type].elements, seed), rows, cols);
}

for (const simd of ['plain', 'relaxed'] as const) {
  describe(`assembly/qk.ts (${simd} build) = its twins in src/reference/quant-qk.ts`, () => {
    let w: Bench;
    beforeAll(async () => {
      w = await kernelBench(32 << 20, simd);
    });

    it('linearQK / linearQKRows = linearQKInt; activationSums16 bit-exact', () => {
      fc.assert(
        fc.property(shapeArb, ({ type, rows, units, L, seed, withBias, split }) => {
          w.reset();
          const Q = qkCase(type, rows, units, seed);
          const cols = Q.cols;
          const r = rng(seed ^ 0x5bd1e995);
          const x = Float32Array.from({ length: L * cols }, () => (r() * 2 - 1) * (r() < 0.05 ? 20 : 1));
          const bias = withBias ? Float32Array.from({ length: rows }, () => r() - 0.5) : null;
          const a = quantizeActivationQ8(x, L, cols);
          const nb = cols / 32;
          const xqp = w.f32(new Float32Array(L * nb * 8));
          const xdp = w.f32(new Float32Array(L * nb));
          const xsp = w.f32(new Float32Array(L * nb * 2));
          w.k.quantizeActivationQ8(xqp, xdp, w.f32(x), L, cols);
          w.k.activationSums16(xsp, xqp, xdp, L, cols);
          expect(Array.from(w.read(xsp, L * nb * 2))).toEqual(Array.from(activationSums16(a)));

          const want = new Float32Array(L * rows);
          linearQKInt(want, a, Q, bias, L, cols, rows);
          const wq = putBytes(w, Q.quants), wd = w.f32(Q.scales), wm = Q.mins ? w.f32(Q.mins) : 0;
          const bp = bias ? w.f32(bias) : 0;
          const out = w.f32(new Float32Array(L * rows));
          if (split && rows > 2) {
            const mid = 1 + ((r() * (rows - 1)) | 0);
            w.k.linearQKRows(out, xqp, xdp, xsp, wq, wd, wm, bp, L, cols, rows, Q.group, 0, mid);
            w.k.linearQKRows(out, xqp, xdp, xsp, wq, wd, wm, bp, L, cols, rows, Q.group, mid, rows);
          } else w.k.linearQK(out, xqp, xdp, xsp, wq, wd, wm, bp, L, cols, rows, Q.group);
          // magnitude: max over outputs of Σ|w·x| on the dequantized operands
          const W = dequantizeQK(Q);
          let mag = 1e-30;
          for (let t = 0; t < L; t++) {
            for (let o = 0; o < rows; o++) {
              let s = 0;
              for (let c = 0; c < cols; c++) s += Math.abs(W[o * cols + c] * a.quants[t * cols + c] * a.scales[t * nb + (c >> 5)]);
              mag = Math.max(mag, s);
            }
          }
          expectClose(w.read(out, L * rows), want, { atol: 1e-5 * mag, rtol: 0 }, `${type} rows ${rows} cols ${cols} L ${L} split ${split}`);
        }),
        RUNS,
      );
    });

    it('embedQK = qkValue, bit for bit', () => {
      fc.assert(
        fc.property(shapeArb, ({ type, rows, units, L, seed }) => {
          w.reset();
          const Q = qkCase(type, rows, units, seed);
          const r = rng(seed);
          const ids = Int32Array.from({ length: L }, () => (r() * rows) | 0);
          const out = w.f32(new Float32Array(L * Q.cols));
          w.k.embedQK(out, putBytes(w, Q.quants), w.f32(Q.scales), Q.mins ? w.f32(Q.mins) : 0, w.i32(ids), L, Q.cols, Q.group);
          const want = new Float32Array(L * Q.cols);
          for (let t = 0; t < L; t++) for (let c = 0; c < Q.cols; c++) want[t * Q.cols + c] = qkValue(Q, ids[t], c);
          expect(new Uint32Array(w.read(out, L * Q.cols).buffer)).toEqual(new Uint32Array(want.buffer));
        }),
        { ...RUNS, numRuns: 40 },
      );
    });
  });
}

// The prefill's per-token kernels split by token ranges, as the thread pool runs them (src/wasm/model.ts):
// assembly/norm.ts `rmsNormRows` and assembly/quant.ts `quantizeActivationQ8Rows` over any cut of the L rows
// into ranges, in any order, give the bits of one call over all rows, which are the reference's
// (src/reference/ops.ts `rmsNorm` within its spec's 1e-6 + 1e-6·|ref|, src/reference/quant.ts
// `quantizeActivationQ8` exactly).
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { rmsNorm } from '../../src/reference/ops.ts';
import { quantizeActivationQ8 } from '../../src/reference/quant.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelBench, rand, type Bench } from './harness.ts';

let b: Bench;
beforeAll(async () => (b = await kernelBench()));

/** Distinct cut points of [0, L] from arbitrary naturals, as ranges [lo, hi). */
function ranges(L: number, cuts: number[]): [number, number][] {
  const bounds = [...new Set([0, L, ...cuts.map((c) => c % (L + 1))])].sort((p, q) => p - q);
  return bounds.slice(1).map((hi, i) => [bounds[i], hi]);
}

const bytes = (p: Float32Array | Int8Array) => Buffer.from(p.buffer, p.byteOffset, p.byteLength);

describe('per-token kernels over token ranges', () => {
  it('rmsNormRows: any cut of the rows = one call over all rows (bits), = the reference', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 5, 32, 33, 96), fc.integer({ min: 1, max: 12 }), fc.array(fc.nat(), { maxLength: 5 }), fc.boolean(), fc.integer(), (n, L, cuts, gain, seed) => {
        b.reset();
        const x = rand(L * n, seed, 3), w = rand(n, seed + 1, 0.5, 1);
        const px = b.f32(x), pw = gain ? b.f32(w) : 0;
        const whole = b.f32(new Float32Array(L * n)), parts = b.f32(new Float32Array(L * n));
        b.k.rmsNorm(whole, px, pw, L, n, 1e-5);
        for (const [lo, hi] of ranges(L, cuts).reverse()) b.k.rmsNormRows(parts, px, pw, L, n, 1e-5, lo, hi);
        const got = b.read(parts, L * n), all = b.read(whole, L * n);
        const i = got.findIndex((v, j) => !Object.is(v, all[j]));
        if (i >= 0) throw new Error(`n=${n} L=${L} ranges ${JSON.stringify(ranges(L, cuts))}: out[${i}] ${got[i]} vs ${all[i]}`);
        const ref = new Float32Array(L * n);
        rmsNorm(ref, x, gain ? w : null, L, n, 1e-5);
        expectClose(got, ref, { atol: 1e-6, rtol: 1e-6 }, `rmsNormRows n=${n} L=${L}`);
      }),
      { seed: 21, numRuns: 100 },
    );
  });

  it('quantizeActivationQ8Rows: any cut of the rows = the reference quantizer, bit for bit', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 31, 32, 33, 64, 100), fc.integer({ min: 1, max: 12 }), fc.array(fc.nat(), { maxLength: 5 }), fc.integer(), (n, L, cuts, seed) => {
        b.reset();
        const x = rand(L * n, seed, 4);
        const nb = Math.ceil(n / 32);
        const px = b.f32(x);
        const xq = b.f32(new Float32Array((L * nb * 32) / 4)), xd = b.f32(new Float32Array(L * nb));
        for (const [lo, hi] of ranges(L, cuts).reverse()) b.k.quantizeActivationQ8Rows(xq, xd, px, L, n, lo, hi);
        const want = quantizeActivationQ8(x, L, n);
        const q = new Int8Array(b.read(xq, (L * nb * 32) / 4).buffer);
        expect(bytes(q).equals(bytes(Int8Array.from(want.quants))), `quants n=${n} L=${L} ranges ${JSON.stringify(ranges(L, cuts))}`).toBe(true);
        expect(bytes(b.read(xd, L * nb)).equals(bytes(want.scales)), `scales n=${n} L=${L}`).toBe(true);
      }),
      { seed: 22, numRuns: 100 },
    );
  });
});

// assembly/conv.ts `causalConv1dSilu` / `causalConv1dSiluStep` = silu ∘ src/reference/ops.ts `causalConv1d` /
// `causalConv1dStep` (the wasm twins fuse the silu that follows), including the conv state left behind.
// Tolerance |a − b| ≤ 1e-6 + 1e-6·|ref|: the kernel sums K terms in f32 where the reference sums in f64, and
// its silu uses the SIMD exp polynomial (~1 ulp) where the reference rounds an f64 exp once.
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { causalConv1d, causalConv1dStep, silu } from '../../src/reference/ops.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelBench, rand, type Bench } from './harness.ts';

const TOL = { atol: 1e-6, rtol: 1e-6 };
let b: Bench;
beforeAll(async () => (b = await kernelBench()));

describe('causalConv1dSilu (wasm) = silu ∘ reference causalConv1d', () => {
  it('random chunkings of a sequence carry the state exactly like the reference (K 1..5, odd E)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 3, 5, 17, 33, 64),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.integer(),
        (E, K, chunks, withBias, seed) => {
          b.reset();
          const w = rand(E * K, seed, 0.5);
          const bias = withBias ? rand(E, seed + 1, 0.2) : null;
          const H = K - 1;
          const refState = rand(E * H, seed + 2, 1);
          const pw = b.f32(w), pb = bias ? b.f32(bias) : 0, ps = b.f32(refState);
          chunks.forEach((L, ci) => {
            const x = rand(L * E, seed + 10 + ci, 2);
            const ref = new Float32Array(L * E);
            if (L === 1 && ci % 2 === 0) causalConv1dStep(ref, x, w, bias, refState, E, K);
            else causalConv1d(ref, x, w, bias, refState, L, E, K);
            for (let i = 0; i < ref.length; i++) ref[i] = silu(ref[i]);
            const px = b.f32(x), out = b.f32(new Float32Array(L * E));
            if (L === 1 && ci % 2 === 0) b.k.causalConv1dSiluStep(out, px, pw, pb, ps, E, K);
            else b.k.causalConv1dSilu(out, px, pw, pb, ps, L, E, K);
            expectClose(b.read(out, L * E), ref, TOL, `conv E=${E} K=${K} chunk ${ci} L=${L}`);
            expectClose(b.read(ps, E * H), refState, { atol: 0, rtol: 0 }, `conv state E=${E} K=${K} after chunk ${ci}`);
          });
        },
      ),
      { seed: 9, numRuns: 150 },
    );
  });
});

describe('causalConv1dSiluRows: the conv over channel ranges, as a thread pool splits it', () => {
  it('any range boundaries give the bits (output and state) of one call over all channels, K 1..5', () => {
    fc.assert(
      fc.property(fc.constantFrom(4, 9, 17, 33), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 }), fc.array(fc.nat(), { maxLength: 4 }), fc.boolean(), fc.integer(), (E, K, L, cuts, withBias, seed) => {
        b.reset();
        const w = b.f32(rand(E * K, seed, 0.5));
        const bias = withBias ? b.f32(rand(E, seed + 1, 0.2)) : 0;
        const x = b.f32(rand(L * E, seed + 2, 2));
        const st0 = rand(E * (K - 1), seed + 3, 1);
        const sAll = b.f32(st0), sParts = b.f32(st0);
        const oAll = b.f32(new Float32Array(L * E)), oParts = b.f32(new Float32Array(L * E));
        b.k.causalConv1dSiluRows(oAll, x, w, bias, sAll, L, E, K, 0, E);
        const bounds = [...new Set([0, E, ...cuts.map((c) => c % (E + 1))])].sort((p, q) => p - q);
        for (let i = bounds.length - 2; i >= 0; i--) b.k.causalConv1dSiluRows(oParts, x, w, bias, sParts, L, E, K, bounds[i], bounds[i + 1]);
        const same = (p: number, q: number, n: number) => Buffer.compare(Buffer.from(b.read(p, n).buffer), Buffer.from(b.read(q, n).buffer)) === 0;
        if (!same(oAll, oParts, L * E) || !same(sAll, sParts, E * (K - 1))) throw new Error(`ranges ${bounds.join(',')} of E=${E} K=${K} L=${L}: bits differ`);
      }),
      { seed: 13, numRuns: 80 },
    );
  });
});

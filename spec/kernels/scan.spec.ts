// assembly/scan.ts `selectiveScan` / `selectiveScanStep` = src/reference/ops.ts twins, fused (softplus, exp(A·Δ),
// state update, C contraction, D skip, silu(z) gate), over random chunkings and long sequences.
// Tolerance |a − b| ≤ 1e-5 + 1e-5·|ref| for y and the state: exp(A·Δ) is a SIMD polynomial (~1 ulp) instead of
// f64 Math.exp rounded, and the N-sum is in f32 lanes; errors are a few ulp per step and the recurrence is
// contractive (0 < exp(A·Δ) < 1), so they do not grow with length.
// The raw time step `delta` is drawn in (−30, 40): softplus' log1p branch, its bend through (3, 20), and the
// identity above 20 (PyTorch's threshold; the values themselves are pinned by spec/kernels/softplus.spec.ts).
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { selectiveScan, selectiveScanStep } from '../../src/reference/ops.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelBench, rand, type Bench } from './harness.ts';

const TOL = { atol: 1e-5, rtol: 1e-5 };
let b: Bench;
beforeAll(async () => (b = await kernelBench()));

function run(E: number, N: number, chunks: number[], seed: number, bcPad: number) {
  b.reset();
  const A = rand(E * N, seed, 1.5, 0.5).map((v) => -Math.exp(v)); // A = −exp(A_log), A_log ∈ (−1, 2)
  const D = rand(E, seed + 1, 0.5, 1);
  const refState = rand(E * N, seed + 2, 1);
  const pA = b.f32(A), pD = b.f32(D), ps = b.f32(refState);
  const S = N + bcPad; // B and C rows live in a wider row, like x_proj's (L, R+2N) output
  chunks.forEach((L, ci) => {
    const s = seed + 100 * (ci + 1);
    const x = rand(L * E, s, 2), delta = rand(L * E, s + 1, 35, 5), z = rand(L * E, s + 2, 3);
    const B = rand(L * S, s + 3, 1.5), C = rand(L * S, s + 4, 1.5);
    const ref = new Float32Array(L * E);
    const step = L === 1 && ci % 2 === 1;
    if (step) selectiveScanStep(ref, x, delta, A, B, C, D, z, refState, E, N);
    else selectiveScan(ref, x, delta, A, B, C, D, z, refState, L, E, N, S);
    const y = b.f32(new Float32Array(L * E));
    const px = b.f32(x), pd = b.f32(delta), pz = b.f32(z), pB = b.f32(B), pC = b.f32(C);
    if (step) b.k.selectiveScanStep(y, px, pd, pA, pB, pC, pD, pz, ps, E, N);
    else b.k.selectiveScan(y, px, pd, pA, pB, pC, pD, pz, ps, L, E, N, S);
    expectClose(b.read(y, L * E), ref, TOL, `scan y E=${E} N=${N} chunk ${ci} L=${L}`);
    expectClose(b.read(ps, E * N), refState, TOL, `scan state E=${E} N=${N} after chunk ${ci}`);
  });
}

describe('selectiveScan (wasm) = reference', () => {
  it('dState 4/8/16 and odd, awkward dInner, random chunkings incl. single steps', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 3, 5, 17, 33),
        fc.constantFrom(1, 3, 4, 5, 8, 16, 17),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 9 }),
        fc.integer(),
        (E, N, chunks, pad, seed) => run(E, N, chunks, seed, pad),
      ),
      { seed: 10, numRuns: 150 },
    );
  });

  it('a long sequence (L = 300, E = 33, N = 16) in uneven chunks', () => {
    run(33, 16, [1, 64, 17, 1, 100, 5, 112], 11, 3);
  });
});

describe('selectiveScanRows: the scan over channel ranges, as a thread pool splits it', () => {
  it('ranges with bounds that are multiples of 4, in any order, give the bits of one call over all channels', () => {
    fc.assert(
      fc.property(fc.constantFrom(4, 9, 17, 33), fc.constantFrom(1, 4, 16), fc.integer({ min: 1, max: 6 }), fc.array(fc.nat(), { maxLength: 4 }), fc.integer(), (E, N, L, cuts, seed) => {
        b.reset();
        const A = b.f32(rand(E * N, seed, 1.5, 0.5).map((v) => -Math.exp(v)));
        const D = b.f32(rand(E, seed + 1, 0.5, 1));
        const x = b.f32(rand(L * E, seed + 2, 2)), delta = b.f32(rand(L * E, seed + 3, 35, 5)), z = b.f32(rand(L * E, seed + 4, 3));
        const B = b.f32(rand(L * (N + 1), seed + 5, 1.5)), C = b.f32(rand(L * (N + 1), seed + 6, 1.5));
        const state0 = rand(E * N, seed + 7, 1);
        const sAll = b.f32(state0), sParts = b.f32(state0);
        const yAll = b.f32(new Float32Array(L * E)), yParts = b.f32(new Float32Array(L * E));
        b.k.selectiveScanRows(yAll, x, delta, A, B, C, D, z, sAll, L, E, N, N + 1, 0, E);
        const bounds = [...new Set([0, E, ...cuts.map((c) => Math.min(E, (c % (E + 1)) & ~3))])].sort((p, q) => p - q);
        for (let i = bounds.length - 2; i >= 0; i--) b.k.selectiveScanRows(yParts, x, delta, A, B, C, D, z, sParts, L, E, N, N + 1, bounds[i], bounds[i + 1]);
        const same = (p: number, q: number, n: number) => Buffer.compare(Buffer.from(b.read(p, n).buffer), Buffer.from(b.read(q, n).buffer)) === 0;
        if (!same(yAll, yParts, L * E) || !same(sAll, sParts, E * N)) throw new Error(`ranges ${bounds.join(',')} of E=${E} N=${N} L=${L}: bits differ`);
      }),
      { seed: 12, numRuns: 60 },
    );
  });
});

describe('selectiveScanRows over L tokens = L single-token calls (the prefill path against the decode path)', () => {
  it('the bits of y and the state agree, for N = 16 (state held in registers over the tokens) and other N', () => {
    fc.assert(
      fc.property(fc.constantFrom(4, 8, 9, 17, 34), fc.constantFrom(16, 16, 4, 17), fc.integer({ min: 2, max: 9 }), fc.integer({ min: 0, max: 5 }), fc.integer(), (E, N, L, pad, seed) => {
        b.reset();
        const S = N + pad;
        const A = b.f32(rand(E * N, seed, 1.5, 0.5).map((v) => -Math.exp(v)));
        const D = b.f32(rand(E, seed + 1, 0.5, 1));
        const x = b.f32(rand(L * E, seed + 2, 2)), delta = b.f32(rand(L * E, seed + 3, 35, 5)), z = b.f32(rand(L * E, seed + 4, 3));
        const B = b.f32(rand(L * S, seed + 5, 1.5)), C = b.f32(rand(L * S, seed + 6, 1.5));
        const state0 = rand(E * N, seed + 7, 1);
        const sAll = b.f32(state0), sSteps = b.f32(state0);
        const yAll = b.f32(new Float32Array(L * E)), ySteps = b.f32(new Float32Array(L * E));
        b.k.selectiveScanRows(yAll, x, delta, A, B, C, D, z, sAll, L, E, N, S, 0, E);
        for (let t = 0; t < L; t++) {
          const o = t * E * 4, ob = t * S * 4;
          b.k.selectiveScanRows(ySteps + o, x + o, delta + o, A, B + ob, C + ob, D, z + o, sSteps, 1, E, N, S, 0, E);
        }
        const ya = b.read(yAll, L * E), ys = b.read(ySteps, L * E), sa = b.read(sAll, E * N), ss = b.read(sSteps, E * N);
        const diff = (p: Float32Array, q: Float32Array) => p.findIndex((v, i) => !Object.is(v, q[i]));
        const iy = diff(ya, ys), is = diff(sa, ss);
        if (iy >= 0 || is >= 0) throw new Error(`E=${E} N=${N} L=${L}: y[${iy}] ${ya[iy]} vs ${ys[iy]}, state[${is}] ${sa[is]} vs ${ss[is]}`);
      }),
      { seed: 13, numRuns: 80 },
    );
  });
});


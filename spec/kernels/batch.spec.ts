// assembly/scan.ts `selectiveScanBatchRows` and assembly/conv.ts `causalConv1dSiluBatchRows`: one token of each of S
// sequences, each on its own state found through a table of state offsets (batched decode, Model.stepBatch).
// Two rules:
// - against the reference: sequence s equals `selectiveScanStep` / `causalConv1dStep` (+ silu) on its own state,
//   |a − b| ≤ 1e-5 + 1e-5·|ref| (the rule of scan.spec.ts and conv.spec.ts);
// - against the single-sequence kernel: sequence s is bit for bit `…Rows` with L = 1 on its state, which is what
//   `step` runs, so a batched step gives each sequence exactly the bits of its own step. States are placed in
//   memory in a shuffled order, so a kernel that assumed them contiguous or in row order would fail.
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { causalConv1dStep, selectiveScanStep, silu } from '../../src/reference/ops.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelBench, rand, type Bench } from './harness.ts';

const TOL = { atol: 1e-5, rtol: 1e-5 };
let b: Bench;
beforeAll(async () => (b = await kernelBench()));

const sameBits = (p: Float32Array, q: Float32Array) => Buffer.compare(Buffer.from(p.buffer, p.byteOffset, p.byteLength), Buffer.from(q.buffer, q.byteOffset, q.byteLength)) === 0;

/** A permutation of 0..n−1 from a seed. */
function shuffled(n: number, seed: number): number[] {
  const order = [...Array(n).keys()];
  const r = rand(n, seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(((r[i] + 1) / 2) * (i + 1)) % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

describe('selectiveScanBatchRows: S sequences, one token each, each on its own state', () => {
  it('equals the reference step per sequence, and the single-sequence kernel bit for bit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.constantFrom(4, 9, 17, 33), fc.constantFrom(1, 4, 7, 16), fc.integer({ min: 0, max: 3 }), fc.integer(), (S, E, N, pad, seed) => {
        b.reset();
        const W = N + pad; // the stride of B and C rows (x_proj's R + 2N in the engine)
        const A = rand(E * N, seed, 1.5, 0.5).map((v) => -Math.exp(v));
        const D = rand(E, seed + 1, 0.5, 1);
        const x = rand(S * E, seed + 2, 2), delta = rand(S * E, seed + 3, 35, 5), z = rand(S * E, seed + 4, 3);
        const Bm = rand(S * W, seed + 5, 1.5), Cm = rand(S * W, seed + 6, 1.5);
        const states = Array.from({ length: S }, (_, s) => rand(E * N, seed + 100 + s, 1));
        const pA = b.f32(A), pD = b.f32(D), px = b.f32(x), pdelta = b.f32(delta), pz = b.f32(z), pB = b.f32(Bm), pC = b.f32(Cm);
        // Batched: states placed in a shuffled order.
        const ptr = new Array<number>(S);
        for (const s of shuffled(S, seed + 7)) ptr[s] = b.f32(states[s]);
        const table = b.i32(ptr);
        const y = b.f32(new Float32Array(S * E));
        b.k.selectiveScanBatchRows(y, px, pdelta, pA, pB, pC, pD, pz, table, S, E, N, W, 0, E);
        const yb = b.read(y, S * E);
        for (let s = 0; s < S; s++) {
          // The reference step on its own copy of the state.
          const st = states[s].slice(), yr = new Float32Array(E);
          const row = (a: Float32Array, w: number) => a.subarray(s * w, s * w + E);
          selectiveScanStep(yr, row(x, E), row(delta, E), A, Bm.subarray(s * W, s * W + N), Cm.subarray(s * W, s * W + N), D, row(z, E), st, E, N);
          expectClose(yb.subarray(s * E, (s + 1) * E), yr, TOL, `scan y, sequence ${s} of ${S} (E=${E} N=${N})`);
          expectClose(b.read(ptr[s], E * N), st, TOL, `scan state, sequence ${s} of ${S}`);
          // The single-sequence kernel with L = 1 (what `step` runs).
          const ps = b.f32(states[s]), py = b.f32(new Float32Array(E));
          b.k.selectiveScanRows(py, px + s * E * 4, pdelta + s * E * 4, pA, pB + s * W * 4, pC + s * W * 4, pD, pz + s * E * 4, ps, 1, E, N, W, 0, E);
          if (!sameBits(b.read(py, E), yb.subarray(s * E, (s + 1) * E)) || !sameBits(b.read(ps, E * N), b.read(ptr[s], E * N))) {
            throw new Error(`sequence ${s} of ${S} (E=${E} N=${N}): batched bits differ from its own step`);
          }
        }
      }),
      { seed: 17, numRuns: 60 },
    );
  });

  it('channel ranges (bounds multiples of 4) give the bits of one call over all channels', () => {
    const S = 5, E = 33, N = 16, W = 20;
    const A = b.f32(rand(E * N, 1, 1.5, 0.5).map((v) => -Math.exp(v))), D = b.f32(rand(E, 2));
    const x = b.f32(rand(S * E, 3)), delta = b.f32(rand(S * E, 4, 35, 5)), z = b.f32(rand(S * E, 5)), B = b.f32(rand(S * W, 6)), C = b.f32(rand(S * W, 7));
    const s0 = Array.from({ length: S }, (_, s) => rand(E * N, 10 + s));
    const whole = b.i32(s0.map((s) => b.f32(s))), parts = b.i32(s0.map((s) => b.f32(s)));
    const yw = b.f32(new Float32Array(S * E)), yp = b.f32(new Float32Array(S * E));
    b.k.selectiveScanBatchRows(yw, x, delta, A, B, C, D, z, whole, S, E, N, W, 0, E);
    for (const [c0, c1] of [[16, 33], [0, 8], [8, 16]]) b.k.selectiveScanBatchRows(yp, x, delta, A, B, C, D, z, parts, S, E, N, W, c0, c1);
    if (!sameBits(b.read(yw, S * E), b.read(yp, S * E))) throw new Error('channel ranges change the bits');
  });
});

describe('causalConv1dSiluBatchRows: S sequences, one token each, each on its own conv state', () => {
  it('equals the reference step (+ silu) per sequence, and the single-sequence kernel bit for bit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.constantFrom(1, 4, 7, 33), fc.integer({ min: 2, max: 5 }), fc.boolean(), fc.integer(), (S, E, K, withBias, seed) => {
        b.reset();
        const H = K - 1;
        const w = rand(E * K, seed, 0.5), bias = withBias ? rand(E, seed + 1, 0.2) : null;
        const x = rand(S * E, seed + 2, 2);
        const states = Array.from({ length: S }, (_, s) => rand(E * H, seed + 100 + s, 1));
        const pw = b.f32(w), pb = bias ? b.f32(bias) : 0, px = b.f32(x);
        const ptr = new Array<number>(S);
        for (const s of shuffled(S, seed + 7)) ptr[s] = b.f32(states[s]);
        const table = b.i32(ptr), out = b.f32(new Float32Array(S * E));
        b.k.causalConv1dSiluBatchRows(out, px, pw, pb, table, S, E, K, 0, E);
        const ob = b.read(out, S * E);
        for (let s = 0; s < S; s++) {
          const st = states[s].slice(), ref = new Float32Array(E);
          causalConv1dStep(ref, x.subarray(s * E, (s + 1) * E), w, bias, st, E, K);
          for (let i = 0; i < E; i++) ref[i] = silu(ref[i]);
          expectClose(ob.subarray(s * E, (s + 1) * E), ref, TOL, `conv out, sequence ${s} of ${S} (E=${E} K=${K})`);
          expectClose(b.read(ptr[s], E * H), st, { atol: 0, rtol: 0 }, `conv state, sequence ${s} of ${S}`);
          const ps = b.f32(states[s]), po = b.f32(new Float32Array(E));
          b.k.causalConv1dSiluRows(po, px + s * E * 4, pw, pb, ps, 1, E, K, 0, E);
          if (!sameBits(b.read(po, E), ob.subarray(s * E, (s + 1) * E))) throw new Error(`conv sequence ${s} of ${S}: batched bits differ from its own step`);
        }
      }),
      { seed: 18, numRuns: 60 },
    );
  });
});

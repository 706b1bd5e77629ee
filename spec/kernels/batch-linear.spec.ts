// The batched-decode matrix kernels (Model.stepBatch: the L rows are one token each of L sequences):
// assembly/linear.ts `linearBf16BatchRows` and assembly/quant.ts `linearQ8BatchRows` / `linearQ4BatchRows`.
// The rules, per kernel, over L = 1..16 tokens, awkward shapes, row slices [r0, r1) (what a thread gets), both
// builds (plain SIMD, relaxed SIMD):
// - bf16 against the reference `linear` over the widened weights: |a − b| ≤ 2e-7·inF + 1e-6·|ref| (the rule of
//   linear.spec.ts: f32 sums against f64). Its summation order is the prefill tile's, not the decode matvec's, so
//   a batched row is not the bits of `step`; but it is the same bits whatever L and the token's place in the
//   batch (checked: each token alone, L = 1, gives the bits it gets among L), and whatever the row slices.
// - q8/q4 against the reference integer twin `linearQInt`: within 1e-5·max Σ|deq(w)·deq(x)| (quant.spec.ts's
//   rule); and bit for bit the decode kernel `linearQ8Rows` / `linearQ4Rows` with L = 1 on each token alone, which
//   is what `step` runs: the same sums in the same order, so a batched q8/q4 step gives each sequence the bits of
//   its own step (spec/engine/batch.spec.ts checks that end to end).
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { linear } from '../../src/reference/ops.ts';
import { dequantize, linearQInt, quantize, quantizeActivationQ8 } from '../../src/reference/quant.ts';
import { bf16BlockCols, bf16Elements, scatterBf16Rows } from '../../src/wasm/layout.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelBench, rand, SIZES, toBf16, type Bench } from './harness.ts';

let b: Bench;

const sameBits = (p: Float32Array, q: Float32Array) => Buffer.compare(Buffer.from(p.buffer, p.byteOffset, p.byteLength), Buffer.from(q.buffer, q.byteOffset, q.byteLength)) === 0;

/** The first index where two f32 arrays differ in bits, for the message. */
function firstDiff(p: Float32Array, q: Float32Array): string {
  for (let i = 0; i < p.length; i++) if (!Object.is(p[i], q[i])) return `element ${i}: ${p[i]} vs ${q[i]}`;
  return 'none';
}

/** bf16 bits (rows, cols) row-major → the engine's block-major layout, interleaved in memory; returns W's offset. */
function putBf16(bits: Uint16Array, rows: number, cols: number): number {
  const out = new Uint16Array(bf16Elements(rows, cols));
  scatterBf16Rows(out, bits, 0, rows, cols, rows);
  const p = b.u16(out);
  b.k.bf16Interleave(p, rows, cols);
  return p;
}

/** Copies bytes in (4-byte aligned); returns the offset. */
function putBytes(a: Int8Array | Uint8Array): number {
  const p = b.f32(new Float32Array(Math.ceil(a.length / 4)));
  new Uint8Array(b.memory.buffer, p, a.length).set(new Uint8Array(a.buffer, a.byteOffset, a.length));
  return p;
}

/** Row slices as threads would take them: [r0, r1) split at `cuts` (fractions), each a call. */
function slices(r0: number, r1: number, cuts: number[]): [number, number][] {
  const at = [r0, ...cuts.map((c) => r0 + Math.floor(c * (r1 - r0))).sort((a, c) => a - c), r1];
  const out: [number, number][] = [];
  for (let i = 0; i + 1 < at.length; i++) if (at[i + 1] > at[i]) out.push([at[i], at[i + 1]]);
  return out;
}

function checkBf16(L: number, inF: number, outF: number, withBias: boolean, seed: number, r0: number, r1: number, cuts: number[]): void {
  b.reset();
  const x = rand(L * inF, seed, 1);
  const w = toBf16(rand(outF * inF, seed + 1, 1));
  const bias = withBias ? rand(outF, seed + 2, 0.5) : null;
  const ref = new Float32Array(L * outF);
  linear(ref, x, w.values, bias, L, inF, outF);
  const pw = putBf16(w.bits, outF, inF), px = b.f32(x), pb = bias ? b.f32(bias) : 0;
  const sentinel = -12345;
  const out = b.f32(new Float32Array(L * outF).fill(sentinel));
  for (const [a, c] of slices(r0, r1, cuts)) b.k.linearBf16BatchRows(out, px, pw, pb, L, inF, outF, outF, a, c);
  const got = b.read(out, L * outF);
  const expected = ref.slice();
  for (let t = 0; t < L; t++) for (let o = 0; o < outF; o++) if (o < r0 || o >= r1) expected[t * outF + o] = sentinel;
  const label = `linearBf16BatchRows L=${L} inF=${inF} outF=${outF} rows=[${r0},${r1}) cuts=${cuts.length}`;
  expectClose(got, expected, { atol: 2e-7 * inF, rtol: 1e-6 }, label);
  // Each token alone (L = 1) gets the bits it got among the L.
  for (let t = 0; t < L; t++) {
    const one = b.f32(new Float32Array(outF).fill(sentinel));
    b.k.linearBf16BatchRows(one, px + t * inF * 4, pw, pb, 1, inF, outF, outF, r0, r1);
    const a = b.read(one, outF).subarray(r0, r1), c = got.subarray(t * outF + r0, t * outF + r1);
    if (!sameBits(a, c)) throw new Error(`${label}: token ${t} alone differs from its row in the batch (${firstDiff(a, c)})`);
  }
}

function checkQ(kind: 'q8' | 'q4', L: number, inF: number, outF: number, withBias: boolean, seed: number, r0: number, r1: number, cuts: number[]): void {
  b.reset();
  const x = rand(L * inF, seed, 1);
  const Q = quantize(kind, rand(outF * inF, seed + 1, 1), outF, inF);
  const bias = withBias ? rand(outF, seed + 2, 0.5) : null;
  const a = quantizeActivationQ8(x, L, inF);
  const nb = Q.blocksPerRow;
  const want = new Float32Array(L * outF);
  linearQInt(want, a, Q, bias, L, inF, outF);
  const xq = putBytes(Int8Array.from(a.quants)), xd = b.f32(a.scales);
  const wq = putBytes(Q.quants), wd = b.f32(Q.scales), pb = bias ? b.f32(bias) : 0;
  const sentinel = -12345;
  const out = b.f32(new Float32Array(L * outF).fill(sentinel));
  const batchFn = kind === 'q8' ? b.k.linearQ8BatchRows : b.k.linearQ4BatchRows;
  const decodeFn = kind === 'q8' ? b.k.linearQ8Rows : b.k.linearQ4Rows;
  for (const [c0, c1] of slices(r0, r1, cuts)) batchFn(out, xq, xd, wq, wd, pb, L, inF, outF, c0, c1);
  const got = b.read(out, L * outF);
  const label = `${kind} batch L=${L} inF=${inF} outF=${outF} rows=[${r0},${r1}) cuts=${cuts.length}`;
  // Against the reference twin, over the rows computed (the others untouched).
  const deq = dequantize(Q);
  let mag = 1e-30;
  for (let t = 0; t < L; t++) {
    for (let o = 0; o < outF; o++) {
      let s = 0;
      for (let c = 0; c < inF; c++) s += Math.abs(deq[o * inF + c] * a.quants[t * nb * 32 + c] * a.scales[t * nb + (c >> 5)]);
      mag = Math.max(mag, s);
    }
  }
  const expected = want.slice();
  for (let t = 0; t < L; t++) for (let o = 0; o < outF; o++) if (o < r0 || o >= r1) expected[t * outF + o] = sentinel;
  expectClose(got, expected, { atol: 1e-5 * mag, rtol: 0 }, label);
  // Bit for bit the decode kernel on each token alone.
  for (let t = 0; t < L; t++) {
    const one = b.f32(new Float32Array(outF).fill(sentinel));
    decodeFn(one, xq + t * nb * 32, xd + t * nb * 4, wq, wd, pb, 1, inF, outF, r0, r1);
    const p = b.read(one, outF).subarray(r0, r1), c = got.subarray(t * outF + r0, t * outF + r1);
    if (!sameBits(p, c)) throw new Error(`${label}: token ${t} differs from the decode kernel (L = 1) on it alone (${firstDiff(c, p)})`);
  }
}

const shape = fc.record({
  L: fc.integer({ min: 1, max: 16 }),
  inF: fc.constantFrom(...SIZES, 128, 129, 257, 1024),
  outF: fc.integer({ min: 1, max: 41 }),
  bias: fc.boolean(),
  seed: fc.integer(),
  a: fc.nat(),
  c: fc.nat(),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
});

for (const build of ['plain', 'relaxed'] as const) {
  describe(`batched-decode matrix kernels, ${build} build`, () => {
    beforeAll(async () => (b = await kernelBench(undefined, build)));

    it('bf16: = reference linear; a token alone gets its bits among L; row slices change nothing', () => {
      fc.assert(
        fc.property(shape, ({ L, inF, outF, bias, seed, a, c, cuts }) => {
          const r0 = a % outF, r1 = r0 + 1 + (c % (outF - r0));
          checkBf16(L, inF, outF, bias, seed, r0, r1, cuts);
        }),
        { seed: 1717, numRuns: 120 },
      );
    });

    it('bf16 rows longer than one column block (2048) and a slice of a larger matrix (how in_proj is split)', () => {
      for (const [inF, L] of [[2049, 3], [4096, 4], [4101, 5], [6145, 9], [8192, 2]]) checkBf16(L, inF, 6, true, inF + L, 0, 6, [0.5]);
      // Rows [4, 9) of 10 through W at row 4 (ld = 10), against the reference on those rows.
      const inF = 4101, ld = 10, s = 4, n = 5, L = 6;
      b.reset();
      const x = rand(L * inF, 1, 1), w = toBf16(rand(ld * inF, 2, 1)), bias = rand(ld, 3, 0.5);
      const ref = new Float32Array(L * n);
      linear(ref, x, w.values.subarray(s * inF, (s + n) * inF), bias.subarray(s, s + n), L, inF, n);
      const out = b.f32(new Float32Array(L * n));
      b.k.linearBf16BatchRows(out, b.f32(x), putBf16(w.bits, ld, inF) + s * bf16BlockCols(inF) * 2, b.f32(bias) + s * 4, L, inF, n, ld, 0, n);
      expectClose(b.read(out, L * n), ref, { atol: 2e-7 * inF, rtol: 1e-6 }, 'rows [4, 9) of 10');
    });

    for (const kind of ['q8', 'q4'] as const) {
      it(`${kind}: = reference linearQInt, and bit for bit the decode kernel on each token alone; row slices change nothing`, () => {
        fc.assert(
          fc.property(shape, ({ L, inF, outF, bias, seed, a, c, cuts }) => {
            const r0 = a % outF, r1 = r0 + 1 + (c % (outF - r0));
            checkQ(kind, L, inF, outF, bias, seed, r0, r1, cuts);
          }),
          { seed: 1718, numRuns: 100 },
        );
      });

      it(`${kind}: realistic widths with more than one group of 4 tokens (the row chunks of ~16 KB)`, () => {
        for (const [inF, L, outF] of [[1024, 5, 96], [2048, 8, 70], [4096, 16, 12], [2048, 13, 33]]) checkQ(kind, L, inF, outF, true, inF + L, 0, outF, [0.5]);
      });
    }
  });
}

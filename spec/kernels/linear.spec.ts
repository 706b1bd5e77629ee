// assembly/linear.ts `linearF32/Bf16/F16` (and their `…Rows` slices) = src/reference/ops.ts `linear` over the
// weights widened to f32 (bf16 and f16 widen exactly, so both sides multiply the same numbers).
// Tolerance |a − b| ≤ 2e-7·inF·s + 1e-6·|ref| with s = max |x|·max |w| = 1 here: the kernels sum in f32 (several
// SIMD accumulators, then a horizontal add), the reference in f64; the f32 sum's rounding error is bounded by
// ~inF·ε·Σ|w·x| (ε = 6e-8), and the terms are ≤ 1 in size.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { linear } from '../../src/reference/ops.ts';
import { bf16BlockCols, bf16Elements, scatterBf16Rows, XBLOCK } from '../../src/wasm/layout.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelBench, rand, SIZES, toBf16, toF16, type Bench } from './harness.ts';

let b: Bench;
beforeAll(async () => (b = await kernelBench()));

type DT = 'f32' | 'bf16' | 'f16';

/** bf16 bits (rows, cols) row-major → the engine's block-major layout (src/wasm/layout.ts), not yet interleaved. */
function blocked(bits: Uint16Array, rows: number, cols: number): Uint16Array {
  const out = new Uint16Array(bf16Elements(rows, cols));
  scatterBf16Rows(out, bits, 0, rows, cols, rows);
  return out;
}

function check(dtype: DT, L: number, inF: number, outF: number, withBias: boolean, seed: number, rows?: [number, number]) {
  b.reset();
  const x = rand(L * inF, seed, 1);
  const w = rand(outF * inF, seed + 1, 1);
  const bias = withBias ? rand(outF, seed + 2, 0.5) : null;
  const conv = dtype === 'bf16' ? toBf16(w) : dtype === 'f16' ? toF16(w) : { bits: null, values: w };
  const ref = new Float32Array(L * outF);
  linear(ref, x, conv.values, bias, L, inF, outF);
  const px = b.f32(x);
  const pb = bias ? b.f32(bias) : 0;
  const sentinel = -12345;
  const out = b.f32(new Float32Array(L * outF).fill(sentinel));
  const pw = dtype === 'f32' ? b.f32(w) : dtype === 'bf16' ? b.u16(blocked(conv.bits!, outF, inF)) : b.u16(conv.bits!);
  if (dtype === 'bf16') b.k.bf16Interleave(pw, outF, inF);
  const [r0, r1] = rows ?? [0, outF];
  if (dtype === 'bf16') b.k.linearBf16Rows(out, px, pw, pb, L, inF, outF, outF, r0, r1);
  else ({ f32: b.k.linearF32Rows, f16: b.k.linearF16Rows })[dtype](out, px, pw, pb, L, inF, outF, r0, r1);
  const got = b.read(out, L * outF);
  // Only rows [r0, r1) are computed; the others must be untouched.
  const expected = ref.slice();
  for (let t = 0; t < L; t++) for (let o = 0; o < outF; o++) if (o < r0 || o >= r1) expected[t * outF + o] = sentinel;
  expectClose(got, expected, { atol: 2e-7 * inF, rtol: 1e-6 }, `linear ${dtype} L=${L} inF=${inF} outF=${outF} rows=[${r0},${r1})`);
}

// Both builds of the kernels: plain SIMD (multiply, then add) and relaxed SIMD (fused multiply-add).
for (const build of ['plain', 'relaxed'] as const) {
  describe(`${build} build`, () => {
    beforeAll(async () => (b = await kernelBench(undefined, build)));

  for (const dtype of ['f32', 'bf16', 'f16'] as DT[]) {
    describe(`linear ${dtype} (wasm) = reference`, () => {
      it('matvec (L = 1) and matmul (L > 1, register tiles and tails) over awkward sizes', () => {
        fc.assert(
          fc.property(fc.integer({ min: 1, max: 11 }), fc.constantFrom(...SIZES, 128, 129, 257), fc.constantFrom(...SIZES), fc.boolean(), fc.integer(), (L, inF, outF, withBias, seed) => {
            check(dtype, L, inF, outF, withBias, seed);
          }),
          { seed: 7, numRuns: 150 },
        );
      });

      it('a row slice [r0, r1) writes exactly those rows (the unit a thread pool hands out)', () => {
        fc.assert(
          fc.property(fc.integer({ min: 1, max: 6 }), fc.constantFrom(...SIZES), fc.integer({ min: 1, max: 40 }), fc.nat(), fc.nat(), fc.integer(), (L, inF, outF, a, c, seed) => {
            const r0 = a % outF, r1 = r0 + 1 + (c % (outF - r0));
            check(dtype, L, inF, outF, true, seed, [r0, r1]);
          }),
          { seed: 8, numRuns: 80 },
        );
      });

      it('a realistic width (inF 1024, outF 96, L 1 and 7)', () => {
        check(dtype, 1, 1024, 96, false, 1);
        check(dtype, 7, 1024, 96, true, 2);
      });
    });
  }
  });
}

describe('bf16 rows longer than one column block (2048): the block-major layout', () => {
  beforeAll(async () => (b = await kernelBench()));
  it('the kernels and src/wasm/layout.ts agree on the block width; blocks cover the row, 32-aligned', () => {
    for (let cols = 1; cols <= 20000; cols += cols < 2100 ? 1 : 7) {
      const bw = bf16BlockCols(cols);
      expect(b.k.bf16BlockCols(cols)).toBe(bw);
      if (cols <= XBLOCK) expect(bw).toBe(cols);
      else {
        const nb = Math.ceil(cols / bw);
        expect(bw % 32).toBe(0);
        expect(bw).toBeLessThanOrEqual(XBLOCK);
        expect(nb).toBe(Math.ceil(cols / XBLOCK));
        expect((nb - 1) * bw).toBeLessThan(cols);
      }
    }
  });

  it('matvec and register tiles over 2, 3 and 4 blocks, with tails', () => {
    for (const [inF, L] of [[1031, 5], [1500, 4], [2049, 1], [2049, 5], [4096, 1], [4101, 4], [6145, 6], [8192, 1]]) check('bf16', L, inF, 7, true, inF + L);
  });

  it('a slice of rows of a larger matrix (W at its first row, ld = all rows): how in_proj is split into x and z', () => {
    const inF = 4101, ld = 10, s = 4, n = 5, L = 5;
    b.reset();
    const x = rand(L * inF, 1, 1);
    const conv = toBf16(rand(ld * inF, 2, 1));
    const bias = rand(ld, 3, 0.5);
    const ref = new Float32Array(L * n);
    linear(ref, x, conv.values.subarray(s * inF, (s + n) * inF), bias.subarray(s, s + n), L, inF, n);
    const pw = b.u16(blocked(conv.bits!, ld, inF));
    b.k.bf16Interleave(pw, ld, inF);
    const out = b.f32(new Float32Array(L * n));
    b.k.linearBf16Rows(out, b.f32(x), pw + s * bf16BlockCols(inF) * 2, b.f32(bias) + s * 4, L, inF, n, ld, 0, n);
    expectClose(b.read(out, L * n), ref, { atol: 2e-7 * inF, rtol: 1e-6 }, 'rows [4, 9) of 10');
  });
});

// The lossless route of the GGUF block types into the engine's layouts (docs/gguf.md "Block types"):
// - unpackGgml splits each type into integers, per-sub-block scales and minimums with f32(f32(d·q) − m) =
//   ggml's dequantized weight (src/reference/ggml-dequant.ts), bit for bit, on random blocks of every type and on
//   every quantized matrix of the llama.cpp fixtures;
// - the repacked qk / q8 matrices dequantize to the same bits (Q5_0 into q8, the rest into qk);
// - linearQKInt (the kernels' twin) = linear on the dequantized weights and activation, up to f64-vs-f32 rounding
//   of the weights' d·q − m (≤ 2⁻²⁴·|w|) and the sum: |Δ| ≤ 2⁻²²·Σ|w·x| + 2⁻²³·|out|.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GGML_BLOCK, readGgufHeader, readGgufTensorInto } from '../../src/io/gguf.ts';
import { dequantize } from '../../src/reference/ggml-dequant.ts';
import { ggmlToQKMatrix, ggmlToQuantMatrix, nativeLayout } from '../../src/reference/ggml-repack.ts';
import { combineUnpacked, isUnpackType, UNPACK_FORMAT, unpackGgml, type UnpackType } from '../../src/reference/ggml-unpack.ts';
import { linear } from '../../src/reference/ops.ts';
import { dequantize as dequantizeQ, quantizeActivationQ8 } from '../../src/reference/quant.ts';
import { dequantizeQK, linearQKInt } from '../../src/reference/quant-qk.ts';
import { expectClose } from '../helpers/close.ts';
import { REPO } from '../helpers/goldens.ts';
import { rng } from '../helpers/tiny-model.ts';
import { QK_TYPES, randomBlocks } from '../helpers/ggml-blocks.ts';

const ALL = Object.keys(UNPACK_FORMAT) as UnpackType[];
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
/** The first index where two f32 arrays differ in their bits (−1: none), so a mismatch names its element. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const x = bits(a), y = bits(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}
const RUNS = { seed: 20261202, numRuns: 60 };

describe('unpackGgml: f32(f32(d·q) − m) = ggml dequantize, bit for bit', () => {
  for (const type of ALL) {
    it(`${type}: random blocks (scales of magnitude 2^-3 … 2^3 and 2^-13 … 2^-9)`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 1 << 30 }), fc.constantFrom(2, 12), (n, seed, e0) => {
          const b = randomBlocks(type, n, seed, e0);
          expect(bits(combineUnpacked(unpackGgml(type, b)))).toEqual(bits(dequantize(type, b)));
        }),
        RUNS,
      );
    });
  }

  it('every quantized matrix of the llama.cpp fixtures', async () => {
    const dir = join(REPO, 'fixtures', 'gguf');
    const seen = new Set<string>();
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.gguf'))) {
      const h = await readGgufHeader(join(dir, file));
      for (const t of h.tensors.values()) {
        if (!isUnpackType(t.type)) continue;
        const b = await readGgufTensorInto(t, new Uint8Array(t.end - t.start));
        expect(firstDiff(combineUnpacked(unpackGgml(t.type, b)), dequantize(t.type, b)), `${file} ${t.name}: first differing weight`).toBe(-1);
        seen.add(t.type);
      }
    }
    expect([...seen].sort()).toEqual([...ALL].sort());
  });
});

describe('repacked matrices dequantize to the file\'s weights', () => {
  it('each type goes where it is lossless: Q8_0 / Q5_0 → q8, Q4_0 → q4, the rest → qk', () => {
    expect(Object.fromEntries(ALL.map((t) => [t, nativeLayout(t)]))).toEqual({
      Q8_0: 'q8', Q4_0: 'q4', Q5_0: 'q8', Q4_1: 'qk', Q5_1: 'qk', Q2_K: 'qk', Q3_K: 'qk', Q4_K: 'qk', Q5_K: 'qk', Q6_K: 'qk',
    });
    for (const t of ['F32', 'F16', 'BF16'] as const) expect(nativeLayout(t)).toBeUndefined();
  });

  it('qk (Q4_1 … Q6_K) and q8 (Q5_0), any row count (odd ones padded)', () => {
    fc.assert(
      fc.property(fc.constantFrom<UnpackType>(...QK_TYPES, 'Q5_0'), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 1 << 30 }), (type, rows, units, seed) => {
        const be = GGML_BLOCK[type].elements;
        const cols = units * be;
        const b = randomBlocks(type, (rows * cols) / be, seed);
        const got = type === 'Q5_0' ? dequantizeQ(ggmlToQuantMatrix(type, b, rows, cols)) : dequantizeQK(ggmlToQKMatrix(type, b, rows, cols));
        expect(bits(got)).toEqual(bits(dequantize(type, b)));
      }),
      RUNS,
    );
  });
});

describe('linearQKInt = linear on the dequantized weights and activation', () => {
  it('|Δ| ≤ 2⁻²²·Σ|w·x| + 2⁻²³·|out|', () => {
    fc.assert(
      fc.property(fc.constantFrom(...QK_TYPES), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 1 << 30 }), (type, rows, L, seed) => {
        const cols = GGML_BLOCK[type].elements === 32 ? 96 : 256;
        const Q = ggmlToQKMatrix(type, randomBlocks(type, (rows * cols) / GGML_BLOCK[type].elements, seed), rows, cols);
        const r = rng(seed);
        const x = Float32Array.from({ length: L * cols }, () => r() * 2 - 1);
        const a = quantizeActivationQ8(x, L, cols);
        const xd = Float32Array.from(a.quants, (q, i) => q * a.scales[Math.floor(i / 32)]);
        const W = dequantizeQK(Q);
        const want = new Float32Array(L * rows), got = new Float32Array(L * rows);
        linear(want, xd, W, null, L, cols, rows);
        linearQKInt(got, a, Q, null, L, cols, rows);
        for (let t = 0; t < L; t++) {
          for (let o = 0; o < rows; o++) {
            let mag = 0;
            for (let c = 0; c < cols; c++) mag += Math.abs(W[o * cols + c] * xd[t * cols + c]);
            const i = t * rows + o;
            expect(Math.abs(got[i] - want[i]), `${type} t ${t} o ${o}`).toBeLessThanOrEqual(2 ** -22 * mag + 2 ** -23 * Math.abs(want[i]));
          }
        }
      }),
      { ...RUNS, numRuns: 40 },
    );
  });
});

// assembly/embed.ts `embedF32/Bf16/F16` = src/reference/ops.ts `embed` over the table widened to f32.
// Exact: a gather of exactly representable values (bf16 and f16 widen to f32 without rounding), so the rule is
// |a − b| ≤ 0 + 0·|ref|. The bf16 table is first put in the layout the engine uses: column blocks past 2048
// columns (src/wasm/layout.ts), interleaved (`bf16Interleave`).
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { embed } from '../../src/reference/ops.ts';
import { bf16Elements, scatterBf16Rows } from '../../src/wasm/layout.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelBench, rand, SIZES, toBf16, toF16, type Bench } from './harness.ts';

const EXACT = { atol: 0, rtol: 0 };
let b: Bench;
beforeAll(async () => (b = await kernelBench()));

describe('embedding gather (wasm) = reference', () => {
  it('f32, bf16 (interleaved) and f16 tables, awkward widths, repeated ids', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SIZES, 2049, 4101), fc.integer({ min: 1, max: 50 }), fc.array(fc.nat(), { minLength: 1, maxLength: 20 }), fc.constantFrom('f32', 'bf16', 'f16'), fc.integer(), (D, V, rawIds, dtype, seed) => {
        b.reset();
        const ids = rawIds.map((i) => i % V);
        const t = rand(V * D, seed, 2);
        const conv = dtype === 'bf16' ? toBf16(t) : dtype === 'f16' ? toF16(t) : { bits: null, values: t };
        const ref = new Float32Array(ids.length * D);
        embed(ref, conv.values, ids, ids.length, D);
        const out = b.f32(new Float32Array(ids.length * D));
        const pid = b.i32(ids);
        if (dtype === 'f32') b.k.embedF32(out, b.f32(t), pid, ids.length, D);
        else if (dtype === 'f16') b.k.embedF16(out, b.u16(conv.bits!), pid, ids.length, D);
        else {
          const laid = new Uint16Array(bf16Elements(V, D));
          scatterBf16Rows(laid, conv.bits!, 0, V, D, V);
          const pt = b.u16(laid);
          b.k.bf16Interleave(pt, V, D);
          b.k.embedBf16(out, pt, pid, ids.length, D, V);
        }
        expectClose(b.read(out, ref.length), ref, EXACT, `embed ${dtype} D=${D} V=${V}`);
      }),
      { seed: 6, numRuns: 150 },
    );
  });
});
